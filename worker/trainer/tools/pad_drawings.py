"""Drawings on the number pad that are not numbers: what "not a number" is measured on.

The page's pad is 840x280 and its pen 1/14 of the height (``web/static/js/canvas.js``).
People draw on it what the models never learned as a number: words of letters, shapes and
scribbles side by side, long arrows, waves, one big letter (a K), plus signs, question
marks. The things in a row are the negatives' own drawers (``worker.trainer.negatives.KINDS``
where it has them: typeset and Hershey letters, scribbles, shapes, hand-drawn arrows, plus
signs and question marks; called, never changed) and two of this module's, each drawn
again with the page's pen at the size it takes on the pad and placed as people write a
number (``worker.trainer.tools.numbers.placed``: uneven heights, a sloping line); long
arrows and waves span the pad.

Two families with no seed, font or style in common: ``dev`` (the negatives' training
family, straight arrows, sine waves, pen-drawn question marks) to choose the rule on,
``held_out`` (the negatives' held-out family, bent and double-headed arrows, zigzags and
loops, crosses beside plus signs, font question marks) to report it on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from shared.imaging import ink_canvas_png
from worker.trainer.drawing_pen import SIDE, Canvas, Pen
from worker.trainer.negatives import FONT_FAMILIES, font_dir
from worker.trainer.negatives import KINDS as NEGATIVES
from worker.trainer.tools.numbers import CANVAS_HEIGHT, CANVAS_WIDTH, HEIGHTS, MARGIN, placed

#: The page's pen on the pad: 1/14 of its height.
PAD_PEN = CANVAS_HEIGHT / 14
SEEDS = {"dev": 39, "held_out": 1039}
#: The negatives' font family each family's letters come from.
FONTS = {"dev": "training", "held_out": "held_out"}
#: A drawer of one thing on a SIDE x SIDE tile, as the negatives' kinds are.
Drawer = Callable[[Canvas, Pen, str], None]


@dataclass(frozen=True)
class PadDrawing:
    kind: str
    png: bytes


def plus_sign(draw: Canvas, pen: Pen, family: str) -> None:
    """A plus in two strokes; in the held-out family, leaning, uneven, or a cross (x)."""
    cx, cy = SIDE / 2 + pen.rng.uniform(-20, 20, size=2)
    r = pen.rng.uniform(60, 110)
    turn = pen.rng.uniform(-0.12, 0.12)
    if family == "held_out":
        turn += float(pen.rng.choice([0.0, math.pi / 4])) + pen.rng.uniform(-0.2, 0.2)
    for a in (turn, turn + math.pi / 2):
        near, far = pen.rng.uniform(0.75, 1.1, size=2) * r
        pen.line(
            draw,
            [
                (cx - near * math.cos(a), cy - near * math.sin(a)),
                (cx + far * math.cos(a), cy + far * math.sin(a)),
            ],
        )


def question_mark(draw: Canvas, pen: Pen, family: str) -> None:
    """A question mark: a hook drawn with the pen (dev), or a held-out font's glyph."""
    if family == "held_out":
        name = FONT_FAMILIES["held_out"][int(pen.rng.integers(len(FONT_FAMILIES["held_out"])))]
        font = ImageFont.truetype(str(font_dir() / f"{name}.ttf"), int(pen.rng.integers(150, 230)))
        draw.text(
            (SIDE / 2, SIDE / 2),
            "?",
            fill=255,
            font=font,
            anchor="mm",
            stroke_width=int(pen.rng.integers(2, 8)),
            stroke_fill=255,
        )
        return
    r = pen.rng.uniform(40, 70)
    cx, top = SIDE / 2, SIDE / 2 - 1.6 * r
    hook = [
        (cx + r * math.cos(a), top + r + r * math.sin(a))
        for a in np.linspace(-math.pi * 1.05, math.pi * 0.45, 14).tolist()
    ]
    stem = (cx + pen.rng.uniform(-0.1, 0.1) * r, top + 2.5 * r)
    pen.line(draw, [*hook, stem])
    dot = top + 3.2 * r
    pen.line(draw, [(stem[0], dot), (stem[0] + 1, dot + 2)])


def _negatives(*kinds: str) -> tuple[Drawer, ...]:
    """The negatives' drawers of these kinds, those it has (``negatives.KINDS``)."""
    return tuple(NEGATIVES[kind][0] for kind in kinds if kind in NEGATIVES)


#: What the drawings are made of: letters typeset and drawn by hand, the things people
#: doodle, plus signs and question marks (this module's, and the negatives' where it has them).
LETTERS = _negatives("letter", "hershey_letter")
THINGS = _negatives(*"scribble zigzag hatching spiral shape face arrow hershey_symbol".split())
THINGS += _negatives("light_scribble", "dense_scribble")
PLUS_SIGNS = (plus_sign, *_negatives("plus_sign"))
QUESTION_MARKS = (question_mark, *_negatives("question_mark"))


def _tile(drawer: Drawer, seed: int, family: str, width: float) -> np.ndarray:
    """``drawer``'s drawing on a SIDE x SIDE tile with a pen ``width`` wide, cropped to its ink."""
    tile = Image.new("L", (SIDE, SIDE), 0)
    drawer(ImageDraw.Draw(tile), Pen(np.random.default_rng(seed), max(2, round(width))), family)
    ink = np.asarray(tile)
    rows, cols = np.flatnonzero(ink.max(axis=1)), np.flatnonzero(ink.max(axis=0))
    if len(rows) == 0:
        return np.zeros((1, 1), np.uint8)
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def at_height(drawer: Drawer, seed: int, family: str) -> Callable[[int], np.ndarray]:
    """``drawer``'s drawing as ink ``height`` high (at most 1.5 times as wide), drawn with a
    pen that is the page's pen once it is scaled there. The same seed draws the same thing."""

    def ink(height: int) -> np.ndarray:
        first = _tile(drawer, seed, family, PAD_PEN)
        scale = height / max(first.shape[0], first.shape[1] / 1.5)
        crop = _tile(drawer, seed, family, PAD_PEN / scale)
        size = (max(2, round(crop.shape[1] * scale)), max(2, round(crop.shape[0] * scale)))
        return np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.BILINEAR))

    return ink


def side_by_side(
    drawers: list[Drawer], rng: np.random.Generator, family: str, heights: tuple[float, float]
) -> np.ndarray:
    """The drawers' drawings in a row across the pad, as a number's digits are written."""
    things = [at_height(d, int(rng.integers(2**31)), family) for d in drawers]
    canvas = np.zeros((CANVAS_HEIGHT, CANVAS_WIDTH), dtype=np.uint8)
    for top, left, ink in placed(things, rng, heights=heights, scale=lambda thing, h: thing(h)):
        window = canvas[top : top + ink.shape[0], left : left + ink.shape[1]]
        np.maximum(window, ink[: window.shape[0], : window.shape[1]], out=window)
    return canvas


Pick = Callable[[np.random.Generator], list[Drawer]]
PadDrawer = Callable[[np.random.Generator, str], np.ndarray]


def _row(kind: Pick, heights: tuple[float, float] = HEIGHTS) -> PadDrawer:
    """A pad drawing of the things ``kind`` picks, side by side."""

    def draw(rng: np.random.Generator, family: str) -> np.ndarray:
        return side_by_side(kind(rng), rng, family, heights)

    return draw


def _some(drawers: tuple[Drawer, ...], low: int, high: int) -> Pick:
    """From ``low`` to ``high`` drawings, each by one of ``drawers``."""
    return lambda rng: [
        drawers[int(rng.integers(len(drawers)))] for _ in range(int(rng.integers(low, high + 1)))
    ]


def _pad() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("L", (CANVAS_WIDTH, CANVAS_HEIGHT), 0)
    return image, ImageDraw.Draw(image)


def long_arrow(rng: np.random.Generator, family: str) -> np.ndarray:
    """An arrow across much of the pad: a straight shaft (dev), or a bent one, sometimes
    headed at both ends (held-out)."""
    image, draw = _pad()
    pen = Pen(rng, round(PAD_PEN))
    length = rng.uniform(0.35, 0.9) * CANVAS_WIDTH
    x0 = rng.uniform(MARGIN, CANVAS_WIDTH - MARGIN - length)
    y0, y1 = rng.uniform(0.25, 0.75, size=2) * CANVAS_HEIGHT
    bend = rng.uniform(-0.3, 0.3) * CANVAS_HEIGHT if family == "held_out" else 0.0
    t = np.linspace(0, 1, 24)
    xs, ys = x0 + length * t, y0 + (y1 - y0) * t + bend * 4 * t * (1 - t)
    points = list(zip(xs.tolist(), ys.tolist(), strict=True))
    if rng.random() < 0.5:  # pointing left
        points.reverse()
    pen.line(draw, points)
    ends = [points[::-1]] + ([points] if family == "held_out" and rng.random() < 0.4 else [])
    for line in ends:
        (tx, ty), (bx, by) = line[-1], line[-4]
        a, head = math.atan2(ty - by, tx - bx), rng.uniform(0.12, 0.3) * CANVAS_HEIGHT
        wing = [
            (
                tx + head * math.cos(a + math.pi + s * 0.5),
                ty + head * math.sin(a + math.pi + s * 0.5),
            )
            for s in (-1, 1)
        ]
        pen.line(draw, [wing[0], (tx, ty), wing[1]])
    return np.asarray(image)


def wave(rng: np.random.Generator, family: str) -> np.ndarray:
    """A line of waves across the pad: a sine (dev), or a zigzag or a row of loops (held-out)."""
    image, draw = _pad()
    length = rng.uniform(0.35, 0.9) * CANVAS_WIDTH
    x0 = rng.uniform(MARGIN, CANVAS_WIDTH - MARGIN - length)
    y, amplitude = rng.uniform(0.35, 0.65) * CANVAS_HEIGHT, rng.uniform(0.08, 0.25) * CANVAS_HEIGHT
    turns = int(rng.integers(2, 8))
    t = np.linspace(0, turns * 2 * math.pi, turns * 24)
    style = "sine" if family != "held_out" else ("zigzag", "loops")[int(rng.integers(2))]
    if style == "loops":  # a trochoid: cursive e's run together
        xs = x0 + (t - 1.6 * np.sin(t)) * length / t[-1]
        ys = y - amplitude * np.cos(t)
    else:
        wavy = np.sin(t) if style == "sine" else 2 / math.pi * np.arcsin(np.sin(t))
        xs, ys = x0 + length * t / t[-1], y + amplitude * wavy
    Pen(rng, round(PAD_PEN)).line(draw, list(zip(xs.tolist(), ys.tolist(), strict=True)))
    return np.asarray(image)


#: Kind name -> (drawing of the whole pad, share of the drawings).
KINDS: dict[str, tuple[PadDrawer, float]] = {
    "word": (_row(_some(LETTERS, 2, 6), (0.3, 0.6)), 0.2),
    "big_letter": (_row(_some(LETTERS, 1, 1), (0.6, 0.9)), 0.1),
    "things": (_row(_some(THINGS, 1, 4)), 0.2),
    "mixed": (_row(_some(LETTERS + THINGS + PLUS_SIGNS + QUESTION_MARKS, 2, 5)), 0.1),
    "long_arrow": (long_arrow, 0.1),
    "wave": (wave, 0.1),
    "plus": (_row(_some(PLUS_SIGNS, 1, 3), (0.3, 0.7)), 0.1),
    "question": (_row(_some(QUESTION_MARKS, 1, 3)), 0.1),
}


def pad_drawings(count: int, family: str = "dev", seed: int | None = None) -> list[PadDrawing]:
    """``count`` pad drawings that are not numbers, kinds in their shares, as canvas PNGs
    (as the page exports them). Reproducible: the same family, count and seed."""
    rng = np.random.default_rng(SEEDS[family] if seed is None else seed)
    names = list(KINDS)
    shares = np.array([KINDS[n][1] for n in names])
    drawings = []
    for k in rng.choice(len(names), size=count, p=shares / shares.sum()):
        ink = KINDS[names[k]][0](rng, FONTS[family])
        shade = int(rng.integers(0, 60))
        drawings.append(PadDrawing(names[k], ink_canvas_png(Image.fromarray(ink), shade)))
    return drawings
