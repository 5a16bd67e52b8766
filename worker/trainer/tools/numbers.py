"""Synthetic numbers for evaluating segmentation: MNIST digits composed on a wide canvas.

Two to six digits side by side on a rough line, as people write a number on the page:
uneven sizes, a sloping and wandering baseline, gaps from a slight overlap to wide
spacing, solid dark strokes on a transparent background (the page's canvas style).
``number_scores.number_figures`` reads them back through web's segmentation and the
LiteRT models.
``make evaluate`` composes MNIST *test* digits; tune segmentation on a development set
of *training* digits and another seed instead, so the test figures stay fair::

    python -m worker.trainer.tools.evaluate --mnist mnist.npz --dev [SEED] --numbers 1000
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from shared import answers, number_reading
from shared.canvas import Canvas, preprocess_canvas_png, working_ink
from shared.errors import DigitsError
from shared.imaging import INK_THRESHOLD, MAX_DIGITS, ink_canvas_png
from shared.names import MODEL_NAMES
from shared.segmentation import Part
from shared.shapes import ImageAnswers
from worker.lite_model import LiteModel

#: The page's number canvas: 3:1.
CANVAS_WIDTH, CANVAS_HEIGHT = 840, 280
#: Digit heights as shares of the canvas height (uneven sizes within one number).
HEIGHTS = (0.4, 0.7)
#: Gap between neighbouring digits as a share of the mean digit height; negative overlaps.
GAPS = (-0.08, 0.5)
#: Slope of the line the digits sit on, and how far each digit strays from it.
SLOPE, WANDER = 0.12, 0.06
MARGIN = 12
#: The figures ``python -m worker.trainer.tools.evaluate --record`` keeps for the model card.
NUMBERS_FILE = "numbers.json"
#: The development set's default seed (the evaluation's is 1234).
DEV_SEED = 2025


@dataclass(frozen=True)
class Number:
    text: str
    png: bytes


def _pen(digit: np.ndarray, height: int) -> np.ndarray:
    """A 28x28 MNIST digit cropped to its ink, scaled to ``height``, with solid strokes."""
    rows = np.flatnonzero(digit.max(axis=1) > 30)
    cols = np.flatnonzero(digit.max(axis=0) > 30)
    crop = digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    width = max(2, round(crop.shape[1] * height / crop.shape[0]))
    scaled = Image.fromarray(crop).resize((width, height), Image.Resampling.BICUBIC)
    ink = np.asarray(scaled, dtype=np.float32)
    return np.clip((ink - 60.0) * (255.0 / 100.0), 0, 255).astype(np.uint8)


def compose(
    digits: list[np.ndarray], rng: np.random.Generator, spacing: tuple[float, float] = GAPS
) -> np.ndarray:
    """The ink (0 = paper) of ``digits`` written in a row on one canvas, gaps in ``spacing``
    (as GAPS)."""
    canvas = np.zeros((CANVAS_HEIGHT, CANVAS_WIDTH), dtype=np.uint8)
    for top, left, pen in placed(digits, rng, spacing):
        window = canvas[top : top + pen.shape[0], left : left + pen.shape[1]]
        np.maximum(window, pen, out=window)
    return canvas


def compose_layers(
    digits: list[np.ndarray], rng: np.random.Generator, spacing: tuple[float, float] = GAPS
) -> tuple[np.ndarray, list[np.ndarray]]:
    """``compose``'s canvas, and each digit's own ink on a canvas of its own (the truth
    ``worker.trainer.tools.number_parts`` and ``group_count`` label segmentation's parts by).
    ``spacing``: the range of gaps, as GAPS."""
    canvas = np.zeros((CANVAS_HEIGHT, CANVAS_WIDTH), dtype=np.uint8)
    layers = []
    for top, left, pen in placed(digits, rng, spacing):
        layer = np.zeros_like(canvas)
        layer[top : top + pen.shape[0], left : left + pen.shape[1]] = pen
        np.maximum(canvas, layer, out=canvas)
        layers.append(layer)
    return canvas, layers


def placed(
    digits: list[Any],
    rng: np.random.Generator,
    spacing: tuple[float, float] = GAPS,
    heights: tuple[float, float] = HEIGHTS,
    scale: Callable[[Any, int], np.ndarray] = _pen,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Where each of ``digits`` goes on the canvas (top, left) and its ink there: uneven
    heights in ``heights`` (as HEIGHTS), gaps in ``spacing``, on a sloping, wandering line.
    The same ``rng`` gives the same number to ``compose`` and ``compose_layers``.
    ``scale(digit, height)`` is its ink that high (MNIST digits: ``_pen``; the pad
    drawings of ``pad_drawings`` draw theirs)."""
    sizes = [int(rng.uniform(*heights) * CANVAS_HEIGHT) for _ in digits]
    pens = [scale(d, h) for d, h in zip(digits, sizes, strict=True)]
    gaps = rng.uniform(*spacing, size=len(pens) - 1) * float(np.mean(sizes))
    total = sum(p.shape[1] for p in pens) + float(gaps.sum())
    room = CANVAS_WIDTH - 2 * MARGIN
    if total > room:  # too long for the canvas: write smaller, as a person would
        shrink = room / total
        pens = [scale(d, max(12, int(h * shrink))) for d, h in zip(digits, sizes, strict=True)]
        gaps = gaps * shrink
        total = sum(p.shape[1] for p in pens) + float(gaps.sum())
    x = MARGIN + rng.uniform(0, max(0.0, room - total))
    slope = rng.uniform(-SLOPE, SLOPE)
    for i, pen in enumerate(pens):
        height, width = pen.shape
        centre = CANVAS_HEIGHT / 2 + slope * (x - CANVAS_WIDTH / 2)
        centre += rng.uniform(-WANDER, WANDER) * CANVAS_HEIGHT
        top = int(np.clip(centre - height / 2, 0, CANVAS_HEIGHT - height))
        left = int(np.clip(round(x), 0, CANVAS_WIDTH - width))
        yield top, left, pen
        x += width + (gaps[i] if i < len(gaps) else 0)


@dataclass(frozen=True)
class DigitInk:
    """Each composed digit's ink (``compose_layers``) at segmentation's working resolution:
    the truth training labels segmentation's parts by."""

    masks: list[np.ndarray]
    totals: list[int]

    @classmethod
    def of(cls, layers: list[np.ndarray]) -> DigitInk:
        masks = [working_ink(layer)[0] > INK_THRESHOLD for layer in layers]
        return cls(masks, [max(1, int(mask.sum())) for mask in masks])

    def shares(self, part: Part) -> list[float]:
        """The share of each digit's ink that ``part`` (found at that resolution) holds."""
        x0, y0, x1, y1 = part.box
        mine = part.ink > INK_THRESHOLD
        return [
            int((mask[y0:y1, x0:x1] & mine).sum()) / total
            for mask, total in zip(self.masks, self.totals, strict=True)
        ]


def number_set(
    digits: np.ndarray, labels: np.ndarray, count: int, seed: int, lengths: tuple[int, int] = (2, 6)
) -> list[Number]:
    """``count`` numbers of ``lengths`` digits drawn from ``digits``, as PNGs."""
    rng = np.random.default_rng(seed)
    numbers = []
    for _ in range(count):
        picks = rng.choice(len(digits), size=int(rng.integers(lengths[0], lengths[1] + 1)))
        ink = compose([digits[i] for i in picks], rng)
        shade = int(rng.integers(0, 60))
        text = "".join(str(int(labels[i])) for i in picks)
        numbers.append(Number(text, ink_canvas_png(Image.fromarray(ink), shade)))
    return numbers


@dataclass(frozen=True)
class CanvasReading:
    """A canvas read as web and the predict worker read it: each model's outputs for every
    image, the images chosen to make the number, and the answers the rule reads by."""

    outputs: dict[str, np.ndarray]
    chosen: list[int]
    canvas: ImageAnswers
    parts: list[ImageAnswers]

    def is_number(self, sure: float = number_reading.NUMBER_SURE) -> bool:
        """Whether web answers it as a number (``shared.number_reading.is_number``)."""
        return number_reading.is_number(self.canvas, self.parts, sure)

    def text(self) -> str:
        """The number's text as the API gives it (``shared.number_reading.number_text``)."""
        return number_reading.number_text(self.parts)


def read_canvas(
    models: dict[str, LiteModel], thresholds: dict[str, float], png: bytes
) -> CanvasReading | None:
    """``png`` read as web reads it (``preprocess_canvas_png``), then as the predict worker
    does (``canvas_reading``); None where web refuses the canvas (a 422)."""
    try:
        canvas = preprocess_canvas_png(png, 4096, MAX_DIGITS, readable=True)
    except DigitsError:
        return None
    return canvas_reading(models, thresholds, canvas)


def canvas_reading(
    models: dict[str, LiteModel], thresholds: dict[str, float], canvas: Canvas
) -> CanvasReading:
    """A canvas web made (from a PNG or from strokes) read as the predict worker reads it:
    each model reads every image in one batch, and their agreement chooses the parts."""
    outputs = {name: model.predict(np.stack(canvas.images)) for name, model in models.items()}
    rows = outputs["cnn"].tolist(), outputs["fnn"].tolist()
    chosen = number_reading.read(canvas.readings, *rows)
    fnn, cnn = (answers.model_answers(outputs[n], thresholds[n], 0) for n in ("fnn", "cnn"))
    images: list[ImageAnswers] = [{"fnn": f, "cnn": c} for f, c in zip(fnn, cnn, strict=True)]
    return CanvasReading(outputs, chosen, images[0], [images[i] for i in chosen])


def dev_number_set(
    mnist_path: str,
    models_dir: Path,
    count: int,
    seed: int = DEV_SEED,
    lengths: tuple[int, int] = (2, 6),
) -> list[Number]:
    """``count`` numbers of ``lengths`` digits composed from the MNIST training digits that
    every shipped model held out for validation: the set to tune on. Digits a model trained
    on read with a confidence the test digits never get, and choosing between readings
    rests on it."""
    with np.load(mnist_path) as data:
        x, y = data["x_train"], data["y_train"].astype(np.int64)
    held_out = np.ones(len(x), dtype=bool)
    for name in MODEL_NAMES:
        held_out &= _held_out(len(x), json.loads((models_dir / f"{name}.metrics.json").read_text()))
    return number_set(x[held_out], y[held_out], count, seed, lengths)


def _held_out(digits: int, metrics: dict[str, Any]) -> np.ndarray:
    """Which of MNIST's ``digits`` training digits a model with these metrics never fit."""
    # Imported here: it brings in Keras, which reading numbers does not need.
    from worker.trainer.training import validation_digits

    return validation_digits(digits, int(metrics["data"]["negatives"]), int(metrics["seed"]))


def shipped_models(models_dir: Path) -> tuple[dict[str, LiteModel], dict[str, float]]:
    """The shipped models and their "not a digit" thresholds, as the evaluation loads them."""
    models: dict[str, LiteModel] = {}
    thresholds: dict[str, float] = {}
    for name in MODEL_NAMES:
        metrics = models_dir / f"{name}.metrics.json"
        models[name] = LiteModel.from_path(models_dir / f"{name}.tflite")
        trained = json.loads(metrics.read_text()) if metrics.exists() else {}
        thresholds[name] = answers.threshold_of(trained)
    return models, thresholds
