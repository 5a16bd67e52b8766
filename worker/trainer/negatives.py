"""Drawings that are not digits, made here: the negatives the models learn to refuse.

Each negative is drawn on a canvas the way the page draws (round pen, ink on a blank
square, pen width about 1/14 of the side, varied) and sent through the web's own MNIST
preprocessing, so the models see it exactly as they would see a person's drawing. Kinds:
letters and symbols that do not look like digits, rendered from fonts that matplotlib
ships (Latin, Greek, Cyrillic); scribbles; zigzags and waves; hatching and grids; shapes
(triangles, squares, stars, hearts, arrows, crosses, houses, suns); spirals; faces; and
two or three font digits crammed into one box. Never MNIST digits as junk.

Two families that share no font and no seed: ``training`` (DejaVu fonts) for the models
and the gate, ``held_out`` (STIX fonts) for evaluation only.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from shared.errors import EmptyCanvas
from shared.imaging import to_mnist
from worker.trainer.drawing_pen import PEN, SIDE, Canvas, Pen
from worker.trainer.pen_drawings import face, hatching, scribble, shape, spiral, zigzag

#: Characters no one would read as a digit: no O, I, l, S, Z, B, G, q, g, b, T, Y, &, ε, З, Ч, Г...
LETTERS = "ACEFHKLMNPRUVWXfhkmnpruvwx#%@*=<>~^ΔΠΣΦΨΩλμπψωχηЖФЩШЮЯЛДИЦКМПЫжфщшюялдицкмпы"
FONT_FAMILIES = {
    "training": (
        "DejaVuSans",
        "DejaVuSans-Bold",
        "DejaVuSans-Oblique",
        "DejaVuSerif",
        "DejaVuSerif-Italic",
        "DejaVuSansMono",
        "DejaVuSansMono-BoldOblique",
    ),
    # Computer Modern is left out: matplotlib's copies map ASCII to other glyphs.
    "held_out": ("STIXGeneral", "STIXGeneralItalic", "STIXGeneralBol", "STIXGeneralBolIta"),
}
#: Seeds of the two families: a held-out drawing is never a training drawing redrawn.
SEEDS = {"training": 7, "held_out": 1007}


def font_dir() -> Path:
    import matplotlib  # the trainer's dependency that ships fonts (DejaVu, STIX, CM)

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


@cache
def _charset(path: Path) -> frozenset[str]:
    from fontTools.ttLib import TTFont  # comes with matplotlib

    return frozenset(chr(c) for c in TTFont(str(path)).getBestCmap())


def _glyph(draw: Canvas, pen: Pen, text: str, family: str) -> None:
    fonts = [font_dir() / f"{name}.ttf" for name in FONT_FAMILIES[family]]
    fonts = [path for path in fonts if set(text) <= _charset(path)]
    path = fonts[int(pen.rng.integers(len(fonts)))]
    font = ImageFont.truetype(str(path), size=int(pen.rng.integers(120, 200)))
    draw.text(
        (SIDE / 2, SIDE / 2),
        text,
        fill=255,
        font=font,
        anchor="mm",
        stroke_width=int(pen.rng.integers(0, 6)),
        stroke_fill=255,
    )


def letter(draw: Canvas, pen: Pen, family: str) -> None:
    _glyph(draw, pen, LETTERS[int(pen.rng.integers(len(LETTERS)))], family)


def crammed_digits(draw: Canvas, pen: Pen, family: str) -> None:
    """Two or three digits in one box: a number is not a digit (segmentation splits them)."""
    count = int(pen.rng.integers(2, 4))
    _glyph(draw, pen, "".join(str(d) for d in pen.rng.integers(0, 10, count)), family)


#: Kind name -> (drawing function, share of the negatives).
KINDS: dict[str, tuple[Callable[[Canvas, Pen, str], None], float]] = {
    "letter": (letter, 0.36),
    "scribble": (scribble, 0.12),
    "zigzag": (zigzag, 0.08),
    "hatching": (hatching, 0.08),
    "spiral": (spiral, 0.06),
    "shape": (shape, 0.16),
    "face": (face, 0.06),
    "crammed_digits": (crammed_digits, 0.08),
}


def draw_negative(kind: str, rng: np.random.Generator, family: str) -> np.ndarray:
    """One negative of ``kind`` as the models see it: 28x28 uint8, white on black."""
    image = Image.new("L", (SIDE, SIDE), 0)
    pen = Pen(rng, max(3, int(round(PEN * rng.uniform(0.5, 1.5)))))
    KINDS[kind][0](ImageDraw.Draw(image), pen, family)
    return to_mnist(np.asarray(image))


def make_negatives(
    count: int, family: str = "training", seed: int | None = None
) -> tuple[np.ndarray, list[str]]:
    """``count`` negatives of the family (kinds in their shares) and each one's kind.

    Reproducible: the same family, count and seed give the same images.
    """
    rng = np.random.default_rng(SEEDS[family] if seed is None else seed)
    names = list(KINDS)
    shares = np.array([KINDS[n][1] for n in names])
    kinds = rng.choice(len(names), size=count, p=shares / shares.sum())
    images, labels = [], []
    for k in kinds:
        try:
            images.append(draw_negative(names[k], rng, family))
        except EmptyCanvas:  # a shape drawn entirely off the canvas: draw another kind
            continue
        labels.append(names[k])
    return np.stack(images), labels
