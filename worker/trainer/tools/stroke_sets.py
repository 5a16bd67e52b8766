"""Drawings as the page sends them, strokes and PNG alike, to compare the two ways to read them.

MNIST has no strokes, so each digit's are traced from its skeleton
(``stroke_tracing``): one to three strokes a digit, walked as a pen would go. They are
placed on the page's pads as ``numbers`` places digits (uneven heights, a sloping,
wandering line, gaps from a slight overlap to wide spacing; or, for the touching set,
overlapping until neighbours' ink touches), sampled as the page records a pointer
(integer pixels, milliseconds since the stroke began), and drawn into the PNG the page
would export with its pen (1/14 of the pad's height, round caps and joins, anti-aliased
by drawing at four times the size): both readings see the same drawing.

Sets: single digits (half on the 280x280 pad, half on the 840x280 one), numbers of 2 to 6
digits, and numbers whose digits touch. From MNIST's test digits for the reported figures;
with ``dev``, from the training digits every shipped model held out, with other seeds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from shared.imaging import INK_THRESHOLD, ink_canvas_png
from shared.names import MODEL_NAMES
from shared.stroke_render import PAGE_INK, PEN_RATIO, Stroke, draw_ink, prepared
from worker.trainer.tools.numbers import (
    CANVAS_HEIGHT,
    CANVAS_WIDTH,
    GAPS,
    HEIGHTS,
    MARGIN,
    SLOPE,
    WANDER,
    _held_out,
)
from worker.trainer.tools.stroke_tracing import digit_strokes

#: The Collect page's square pad; the Draw page's is numbers' 840x280.
SQUARE = 280
#: A single digit's height, as a share of the pad's.
SINGLE_HEIGHTS = (0.4, 0.85)
#: Gaps of the touching set, as GAPS: overlapping by up to 12 % of the height (GAPS: 8 %).
TOUCHING_GAPS = (-0.12, 0.0)
#: The pointer's pace: a point every this many pixels, drawn at this many px per ms.
POINT_STEP = (2.0, 8.0)
SPEED = (0.3, 1.0)
#: The PNG is drawn at this many times its size, then reduced: the browser's anti-aliasing.
SUPERSAMPLE = 4
#: Seeds: the reported figures' (as ``evaluate``'s numbers) and the development set's.
TEST_SEED, DEV_SEED = 1234, 2025


@dataclass(frozen=True)
class Drawing:
    """One drawing as the page sends it: strokes of [x, y, t] and the PNG of their ink."""

    text: str
    strokes: list[list[list[int]]]
    width: int
    height: int
    png: bytes
    #: Whether the ink of two neighbouring digits touches (one blot to the pixel path).
    touching: bool
    #: For each digit of ``text``, the strokes (indices into ``strokes``) it is drawn with.
    digits: list[list[int]]


def stroke_sets(
    mnist: str, models_dir: Path, dev: bool, singles: int, numbers: int, touching: int
) -> dict[str, list[Drawing]]:
    """The three sets: "single", "numbers", "touching" (of ``touching`` touching numbers);
    ``dev``: of the training digits the models in ``models_dir`` held out."""
    with np.load(mnist) as data:
        if dev:
            x, y = data["x_train"], data["y_train"].astype(np.int64)
            held = _held_out_by_all(len(x), models_dir)
            x, y = x[held], y[held]
        else:
            x, y = data["x_test"], data["y_test"].astype(np.int64)
    seed = DEV_SEED if dev else TEST_SEED
    return {
        "single": single_set(x, y, singles, seed),
        "numbers": number_set(x, y, numbers, seed + 1, GAPS),
        "touching": number_set(x, y, touching, seed + 2, TOUCHING_GAPS, only_touching=True),
    }


def _held_out_by_all(digits: int, models_dir: Path) -> np.ndarray:
    """The training digits every model held out for validation (as ``numbers`` picks them)."""
    held = np.ones(digits, dtype=bool)
    for name in MODEL_NAMES:
        metrics = json.loads((models_dir / f"{name}.metrics.json").read_text())
        held &= _held_out(digits, metrics)
    return held


def single_set(digits: np.ndarray, labels: np.ndarray, count: int, seed: int) -> list[Drawing]:
    """``count`` single digits, every other one on the square pad, at random sizes and places."""
    rng = np.random.default_rng(seed)
    drawings = []
    for k, i in enumerate(rng.choice(len(digits), size=count, replace=False)):
        width, height = (SQUARE, SQUARE) if k % 2 == 0 else (CANVAS_WIDTH, CANVAS_HEIGHT)
        paths, ink_w, ink_h = scaled(
            digit_strokes(digits[i]), rng.uniform(*SINGLE_HEIGHTS) * height, height
        )
        left = rng.uniform(0, max(0.0, width - ink_w))
        top = rng.uniform(0, max(0.0, height - ink_h))
        placed = [p + (left, top) for p in paths]
        drawings.append(_drawing(str(int(labels[i])), [placed], width, height, rng))
    return drawings


def number_set(
    digits: np.ndarray,
    labels: np.ndarray,
    count: int,
    seed: int,
    spacing: tuple[float, float],
    only_touching: bool = False,
    lengths: tuple[int, int] = (2, 6),
) -> list[Drawing]:
    """``count`` numbers of ``lengths`` digits on the 840x280 pad, gaps in ``spacing`` (as
    ``numbers.GAPS``); ``only_touching``: drawn again until two neighbours' ink touches."""
    rng = np.random.default_rng(seed)
    drawings: list[Drawing] = []
    while len(drawings) < count:
        picks = rng.choice(len(digits), size=int(rng.integers(lengths[0], lengths[1] + 1)))
        text = "".join(str(int(labels[i])) for i in picks)
        drawing = number_drawing(text, [digit_strokes(digits[i]) for i in picks], rng, spacing)
        if drawing.touching or not only_touching:
            drawings.append(drawing)
    return drawings


def number_drawing(
    text: str,
    digits: list[list[np.ndarray]],
    rng: np.random.Generator,
    spacing: tuple[float, float] = GAPS,
) -> Drawing:
    """A number as the page sends it: ``digits`` (each its strokes, in drawing order, at any
    scale: traced here, a real pen's in ``pen_numbers``) placed on the 840x280 pad as
    ``numbers`` places digits, gaps in ``spacing``, and recorded as the page records them."""
    placed = list(_placed(digits, rng, spacing))
    return _drawing(text, placed, CANVAS_WIDTH, CANVAS_HEIGHT, rng)


def scaled(
    paths: list[np.ndarray], ink_height: float, pad_height: int
) -> tuple[list[np.ndarray], float, float]:
    """A traced digit's strokes scaled so its ink (with the pad's pen) is ``ink_height``
    high, its box at (0, 0); and the ink's width and height."""
    pen = pad_height * PEN_RATIO
    low = np.min([p.min(axis=0) for p in paths], axis=0)
    high = np.max([p.max(axis=0) for p in paths], axis=0)
    scale = max(ink_height - pen, 1.0) / max(float(high[1] - low[1]), 1.0)
    scaled = [(p - low) * scale + pen / 2 for p in paths]
    return scaled, float(high[0] - low[0]) * scale + pen, float(high[1] - low[1]) * scale + pen


def _placed(
    digits: list[list[np.ndarray]], rng: np.random.Generator, spacing: tuple[float, float]
) -> Iterator[list[np.ndarray]]:
    """Each digit's strokes where ``numbers`` would place its image on the 840x280 pad."""
    heights = [rng.uniform(*HEIGHTS) * CANVAS_HEIGHT for _ in digits]
    shapes = [scaled(d, h, CANVAS_HEIGHT) for d, h in zip(digits, heights, strict=True)]
    gaps = rng.uniform(*spacing, size=len(digits) - 1) * float(np.mean(heights))
    room = CANVAS_WIDTH - 2 * MARGIN
    total = sum(s[1] for s in shapes) + float(gaps.sum())
    if total > room:  # too long for the pad: written smaller, as a person would
        shrink = room / total
        shapes = [
            scaled(d, max(2 * CANVAS_HEIGHT * PEN_RATIO, h * shrink), CANVAS_HEIGHT)
            for d, h in zip(digits, heights, strict=True)
        ]
        gaps = gaps * shrink
        total = sum(s[1] for s in shapes) + float(gaps.sum())
    x = MARGIN + rng.uniform(0, max(0.0, room - total))
    slope = rng.uniform(-SLOPE, SLOPE)
    for i, (paths, width, height) in enumerate(shapes):
        centre = CANVAS_HEIGHT / 2 + slope * (x - CANVAS_WIDTH / 2)
        centre += rng.uniform(-WANDER, WANDER) * CANVAS_HEIGHT
        top = float(np.clip(centre - height / 2, 0, CANVAS_HEIGHT - height))
        left = float(np.clip(x, 0, CANVAS_WIDTH - width))
        yield [p + (left, top) for p in paths]
        x += width + (gaps[i] if i < len(gaps) else 0)


def _drawing(
    text: str, digits: list[list[np.ndarray]], width: int, height: int, rng: np.random.Generator
) -> Drawing:
    """The digits' strokes as the page records them, and the PNG it would send."""
    drawn = [[recorded(p, width, height, rng) for p in paths] for paths in digits]
    strokes = [stroke for paths in drawn for stroke in paths]
    pen = height * PEN_RATIO
    paths = [[_exact(s, pen) for s in digit] for digit in drawn]
    # Each digit's ink at the pad's size, for whether neighbours touch: one blot in pixels.
    masks = [
        np.asarray(draw_ink(p, pen, 1.0, (0.0, 0.0), (height, width))) > INK_THRESHOLD
        for p in paths
    ]
    touching = any(bool((a & b).any()) for a, b in zip(masks[:-1], masks[1:], strict=True))
    shape = (height * SUPERSAMPLE, width * SUPERSAMPLE)
    big = draw_ink([p for digit in paths for p in digit], pen, SUPERSAMPLE, (0.0, 0.0), shape)
    ink = np.asarray(big.reduce(SUPERSAMPLE), dtype=np.float32)
    alpha = np.rint(ink * (255 / PAGE_INK)).astype(np.uint8)  # the canvas's ink is in alpha
    png = ink_canvas_png(Image.fromarray(alpha))
    ends = np.cumsum([0] + [len(digit) for digit in drawn]).tolist()
    digits_drawn = [list(range(a, b)) for a, b in zip(ends[:-1], ends[1:], strict=True)]
    return Drawing(text, strokes, width, height, png, touching, digits_drawn)


def _exact(points: list[list[int]], pen: float) -> Stroke:
    """A stroke with every point kept and the pen's dot on each: round joins everywhere,
    as the browser draws them (``prepared`` keeps fewer, for speed)."""
    stroke = prepared([points], pen)[0]
    xy = np.asarray(points, dtype=np.float64)[:, :2]
    return Stroke(xy, np.ones(len(xy), dtype=bool), stroke.box, stroke.length)


def recorded(
    path: np.ndarray, width: int, height: int, rng: np.random.Generator
) -> list[list[int]]:
    """A stroke as the page records it: a point every few pixels along it, rounded to
    whole pixels within the pad, with the milliseconds since the stroke began."""
    along = np.concatenate(([0.0], np.cumsum(np.hypot(*np.diff(path, axis=0).T))))
    step = rng.uniform(*POINT_STEP)
    at = np.append(np.arange(0.0, along[-1], step), along[-1]) if along[-1] > 0 else along[:1]
    xs = np.clip(np.rint(np.interp(at, along, path[:, 0])), 0, width)
    ys = np.clip(np.rint(np.interp(at, along, path[:, 1])), 0, height)
    ts = np.rint(at / rng.uniform(*SPEED))
    return [[int(x), int(y), int(t)] for x, y, t in zip(xs, ys, ts, strict=True)]
