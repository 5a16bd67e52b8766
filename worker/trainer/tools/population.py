"""A simulated population of writers whose digits differ from MNIST, for learning curves and tests.

Each writer draws every digit in one personal style: on a coarse grid of blocky, straight
segments (as a stylus on a low-resolution pad makes them), slanted, narrowed and with a
heavy pen. The digits stay readable to a person, but the shipped models read only about
four in five of them, which is the kind of population a public drawing site meets. The
drawings are rendered as a browser canvas exports them and go through the web's own
preprocessing, so the models see what they would see in production. Numpy and Pillow
only: the predict side and tests may use it without TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from shared.errors import EmptyCanvas
from shared.imaging import ink_canvas_png, preprocess_png
from worker.trainer.arrays import no_images

CANVAS = 280
DRAWN = 160


@dataclass(frozen=True)
class Style:
    """One writer's hand: slant (shear), width (squash), pen size and the grid they draw on."""

    shear: float
    squash: float
    pen: int
    grid: int
    threshold: int


@dataclass(frozen=True)
class Drawings:
    """Digits drawn by a population: 28x28 model inputs, labels, writers, canvas PNGs."""

    x: np.ndarray
    y: np.ndarray
    writers: np.ndarray
    pngs: tuple[bytes, ...]


def writer_style(writer: int, seed: int = 0) -> Style:
    """The style of writer number ``writer``: the same for the same (seed, writer)."""
    rng = np.random.default_rng([seed, writer])
    return Style(
        shear=float(rng.uniform(0.3, 0.55) * rng.choice([1, -1])),
        squash=float(rng.uniform(0.6, 0.9)),
        pen=int(rng.choice([5, 7])),
        grid=int(rng.choice([8, 9, 10])),
        threshold=int(rng.integers(35, 70)),
    )


def render_png(digit: np.ndarray, style: Style) -> bytes:
    """An MNIST-style digit (uint8 28x28, white on black) redrawn in ``style`` as a canvas PNG."""
    coarse = Image.fromarray(np.asarray(digit, dtype=np.uint8)).resize(
        (style.grid, style.grid), Image.Resampling.BOX
    )
    blocks = Image.fromarray(((np.asarray(coarse) > style.threshold) * 255).astype(np.uint8))
    drawn = blocks.resize((DRAWN, DRAWN), Image.Resampling.NEAREST)
    narrow = 1 / style.squash
    # Inverse affine map: narrow the digit about its centre and slant it.
    offset = -style.shear * DRAWN / 2 - (narrow - 1) * DRAWN / 2
    drawn = drawn.transform(
        (DRAWN, DRAWN),
        Image.Transform.AFFINE,
        (narrow, style.shear, offset, 0, 1, 0),
        Image.Resampling.BILINEAR,
    )
    ink = Image.new("L", (CANVAS, CANVAS), 0)
    ink.paste(drawn.filter(ImageFilter.MaxFilter(style.pen)), ((CANVAS - DRAWN) // 2,) * 2)
    return ink_canvas_png(ink, shade=20)


def draw(digits: np.ndarray, labels: np.ndarray, writers: list[int], seed: int = 0) -> Drawings:
    """Digit i drawn by ``writers[i % len(writers)]``; drawings left empty by a style are dropped."""
    x, y, who, pngs = [], [], [], []
    for index, (digit, label) in enumerate(zip(digits, labels, strict=True)):
        writer = writers[index % len(writers)]
        png = render_png(digit, writer_style(writer, seed))
        try:
            x.append(preprocess_png(png))
        except EmptyCanvas:
            continue
        y.append(int(label))
        who.append(writer)
        pngs.append(png)
    empty = no_images()
    return Drawings(
        np.stack(x) if x else empty,
        np.asarray(y, dtype=np.int64),
        np.asarray(who, dtype=np.int64),
        tuple(pngs),
    )
