"""Drawings that are not digits, made here: the negatives the models learn to refuse.

Each negative is drawn on a canvas the way the page draws (round pen, ink on a blank
square, pen width about 1/14 of the side, varied) and sent through the web's own MNIST
preprocessing, so the models see it exactly as they would see a person's drawing. Kinds:
typeset letters and symbols that do not look like digits, rendered from fonts that
matplotlib ships (Latin, Greek, Cyrillic); scribbles; zigzags and waves; hatching and
grids; shapes (triangles, squares, stars, hearts, arrows, crosses, houses, suns); spirals;
faces; two or three font digits crammed into one box; and, drawn as by hand (issue 39),
single-stroke Hershey letters, operators, punctuation and symbols (``hershey``), arrows,
plus signs, question marks, light and dense scribbles and digits scribbled over densely
(``symbols``, whose docstring says why a digit with one stroke across is not a negative).
Never MNIST digits as junk; look-alikes a person would read as a digit are left out (here
``LETTERS``, and ``hershey``'s list).

Two families that share no font, no generator parameters and no seed: ``training`` (DejaVu
and the training Hershey fonts) for the models, the gate and the thresholds; ``held_out``
(STIX and other Hershey fonts, other styles of every hand-drawn kind) for evaluation only.
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
from worker.trainer.hershey import hershey_letter, hershey_symbol
from worker.trainer.pen_drawings import face, hatching, scribble, shape, spiral, zigzag
from worker.trainer.symbols import (
    arrow,
    crossed_out,
    dense_scribble,
    light_scribble,
    plus_sign,
    question_mark,
)

#: Characters no one would read as a digit: no O, I, l, S, Z, B, G, q, g, b, T, Y, &, ε, З, Ч, Г,
#: nor a (half the fonts are italic: a single-story a is a small 9), ! or / (a 1)...
LETTERS = "ACEFHKLMNPRUVWXcdefhkmnprtuvwxy#%@*=<>~^?+×÷±≠ΔΠΣΦΨΩλμπψωχηЖФЩШЮЯЛДИЦКМПЫжфщшюялдицкмпы"
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


#: Kind name -> (drawing function, share of the negatives). Half typeset and generated
#: shapes, half drawn as by hand (issue 39): Hershey letters and symbols, arrows, plus
#: signs, question marks, scribbles light and dense, digits scribbled over.
KINDS: dict[str, tuple[Callable[[Canvas, Pen, str], None], float]] = {
    "letter": (letter, 0.13),
    "scribble": (scribble, 0.05),
    "zigzag": (zigzag, 0.04),
    "hatching": (hatching, 0.04),
    "spiral": (spiral, 0.03),
    "shape": (shape, 0.07),
    "face": (face, 0.03),
    "crammed_digits": (crammed_digits, 0.04),
    "hershey_letter": (hershey_letter, 0.17),
    "hershey_symbol": (hershey_symbol, 0.11),
    "arrow": (arrow, 0.09),
    "plus_sign": (plus_sign, 0.03),
    "question_mark": (question_mark, 0.05),
    "light_scribble": (light_scribble, 0.05),
    "dense_scribble": (dense_scribble, 0.03),
    "crossed_out": (crossed_out, 0.04),
}
#: The kinds drawn from typeset fonts; every other kind is drawn as by hand.
TYPESET = frozenset({"letter", "crammed_digits"})


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
