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

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from shared.errors import EmptyCanvas
from shared.imaging import to_mnist

SIDE = 280
#: The page's pen is 1/14 of the pad's height; people's drawings fill part of the pad.
PEN = SIDE / 14
#: Characters no one would read as a digit: no O, I, l, S, Z, B, G, q, g, b, T, Y, &, ε, З, Ч, Г...
LETTERS = (
    "ACEFHKLMNPRUVWX" "fhkmnpruvwx" "#%@*=<>~^"
    "ΔΠΣΦΨΩλμπψωχη" "ЖФЩШЮЯЛДИЦКМПЫжфщшюялдицкмпы"
)  # fmt: skip
FONT_FAMILIES = {
    "training": ("DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSerif",
                 "DejaVuSerif-Italic", "DejaVuSansMono", "DejaVuSansMono-BoldOblique"),
    # Computer Modern is left out: matplotlib's copies map ASCII to other glyphs.
    "held_out": ("STIXGeneral", "STIXGeneralItalic", "STIXGeneralBol", "STIXGeneralBolIta"),
}  # fmt: skip
#: Seeds of the two families: a held-out drawing is never a training drawing redrawn.
SEEDS = {"training": 7, "held_out": 1007}

Canvas = ImageDraw.ImageDraw
Points = list[tuple[float, float]]


@dataclass(frozen=True)
class Pen:
    """Where a drawing goes on the canvas and how wide the pen is."""

    rng: np.random.Generator
    width: int

    def line(self, draw: Canvas, points: Points) -> None:
        """A stroke with round caps and joints, as the page's canvas draws it."""
        wobbly = [(x + self.rng.normal(0, 1.5), y + self.rng.normal(0, 1.5)) for x, y in points]
        draw.line(wobbly, fill=255, width=self.width, joint="curve")
        r = self.width / 2
        for x, y in (wobbly[0], wobbly[-1]):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)


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
    draw.text((SIDE / 2, SIDE / 2), text, fill=255, font=font, anchor="mm",
              stroke_width=int(pen.rng.integers(0, 6)), stroke_fill=255)  # fmt: skip


def letter(draw: Canvas, pen: Pen, family: str) -> None:
    _glyph(draw, pen, LETTERS[int(pen.rng.integers(len(LETTERS)))], family)


def crammed_digits(draw: Canvas, pen: Pen, family: str) -> None:
    """Two or three digits in one box: a number is not a digit (segmentation splits them)."""
    count = int(pen.rng.integers(2, 4))
    _glyph(draw, pen, "".join(str(d) for d in pen.rng.integers(0, 10, count)), family)


def _box(rng: np.random.Generator) -> tuple[float, float, float]:
    """Centre and radius of a shape: people draw big or small, not always in the middle."""
    r = rng.uniform(50, 120)
    return rng.uniform(r, SIDE - r), rng.uniform(r, SIDE - r), r


def _ring(cx: float, cy: float, r: float, n: int, turn: float = 0.0, aspect: float = 1.0) -> Points:
    return [(cx + r * aspect * math.cos(turn + 2 * math.pi * i / n),
             cy + r * math.sin(turn + 2 * math.pi * i / n)) for i in range(n + 1)]  # fmt: skip


def scribble(draw: Canvas, pen: Pen, family: str) -> None:
    """One or two strokes through random points, smoothed."""
    for _ in range(int(pen.rng.integers(1, 3))):
        anchors = pen.rng.uniform(30, SIDE - 30, size=(int(pen.rng.integers(7, 13)), 2))
        t = np.linspace(0, len(anchors) - 1, 12 * len(anchors))
        xs = np.interp(t, np.arange(len(anchors)), anchors[:, 0])
        ys = np.interp(t, np.arange(len(anchors)), anchors[:, 1])
        kernel = np.ones(9) / 9
        xs, ys = np.convolve(xs, kernel, "valid"), np.convolve(ys, kernel, "valid")
        pen.line(draw, list(zip(xs.tolist(), ys.tolist(), strict=True)))


def zigzag(draw: Canvas, pen: Pen, family: str) -> None:
    """Zigzags and waves, along a random direction."""
    cx, cy, r = _box(pen.rng)
    teeth = int(pen.rng.integers(4, 9))
    angle = pen.rng.uniform(0, math.pi)
    smooth = bool(pen.rng.random() < 0.5)
    points = []
    for i in range(teeth * 8 + 1 if smooth else teeth + 1):
        u = i / (teeth * 8 if smooth else teeth)
        v = math.sin(u * teeth * math.pi) if smooth else (1 if i % 2 else -1)
        a, b = (u - 0.5) * 2 * r, v * r * pen.rng.uniform(0.25, 0.3)
        points.append((cx + a * math.cos(angle) - b * math.sin(angle),
                       cy + a * math.sin(angle) + b * math.cos(angle)))  # fmt: skip
    pen.line(draw, points)


def hatching(draw: Canvas, pen: Pen, family: str) -> None:
    """Parallel lines, once or crossed (a grid): shading, a hash."""
    cx, cy, r = _box(pen.rng)
    first = pen.rng.uniform(0, math.pi)
    for angle in (first, first + pen.rng.uniform(0.8, 2.3))[: int(pen.rng.integers(1, 3))]:
        count = int(pen.rng.integers(3, 8))
        for k in np.linspace(-r * 0.8, r * 0.8, count):
            dx, dy = math.cos(angle), math.sin(angle)
            pen.line(draw, [(cx - r * dx - k * dy, cy - r * dy + k * dx),
                            (cx + r * dx - k * dy, cy + r * dy + k * dx)])  # fmt: skip


def spiral(draw: Canvas, pen: Pen, family: str) -> None:
    cx, cy, r = _box(pen.rng)
    turns = pen.rng.uniform(1.7, 4)
    sign = 1 if pen.rng.random() < 0.5 else -1
    t = np.linspace(0, 2 * math.pi * turns, int(60 * turns))
    radius = r * (0.08 + 0.92 * t / t[-1])
    pen.line(draw, list(zip((cx + radius * np.cos(sign * t)).tolist(),
                            (cy + radius * np.sin(t)).tolist(), strict=True)))  # fmt: skip


def shape(draw: Canvas, pen: Pen, family: str) -> None:
    """A triangle, square, star, heart, arrow, cross, house or sun."""
    cx, cy, r = _box(pen.rng)
    turn = pen.rng.uniform(-0.25, 0.25)
    kind = int(pen.rng.integers(8))
    if kind == 0:
        pen.line(draw, _ring(cx, cy, r, 3, turn - math.pi / 2))
    elif kind == 1:
        pen.line(draw, _ring(cx, cy, r, 4, turn + math.pi / 4))
    elif kind == 2:
        n = int(pen.rng.integers(5, 7))
        star = [(cx + (r if i % 2 == 0 else r * 0.45) * math.cos(turn + math.pi * i / n),
                 cy + (r if i % 2 == 0 else r * 0.45) * math.sin(turn + math.pi * i / n))
                for i in range(2 * n + 1)]  # fmt: skip
        pen.line(draw, star)
    elif kind == 3:
        t = np.linspace(0, 2 * math.pi, 80)
        xs = 16 * np.sin(t) ** 3
        ys = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        pen.line(
            draw, list(zip((cx + xs * r / 17).tolist(), (cy + ys * r / 17).tolist(), strict=True))
        )
    elif kind == 4:
        a = turn + pen.rng.choice([0, math.pi])  # upright arrows read as 1s
        tip = (cx + r * math.cos(a), cy + r * math.sin(a))
        pen.line(draw, [(cx - r * math.cos(a), cy - r * math.sin(a)), tip])
        for side in (-1, 1):
            b = a + math.pi - side * 0.5
            pen.line(draw, [tip, (tip[0] + 0.5 * r * math.cos(b), tip[1] + 0.5 * r * math.sin(b))])
    elif kind == 5:
        for a in (turn + math.pi / 4, turn - math.pi / 4):
            pen.line(draw, [(cx - r * math.cos(a), cy - r * math.sin(a)),
                            (cx + r * math.cos(a), cy + r * math.sin(a))])  # fmt: skip
    elif kind == 6:
        wall = [(cx - r * 0.7, cy - r * 0.1), (cx - r * 0.7, cy + r), (cx + r * 0.7, cy + r),
                (cx + r * 0.7, cy - r * 0.1), (cx - r * 0.7, cy - r * 0.1)]  # fmt: skip
        pen.line(draw, wall)
        pen.line(
            draw, [(cx - r * 0.85, cy - r * 0.05), (cx, cy - r), (cx + r * 0.85, cy - r * 0.05)]
        )
    else:
        pen.line(draw, _ring(cx, cy, r * 0.45, 24))
        for i in range(int(pen.rng.integers(6, 11))):
            a = turn + 2 * math.pi * i / 8
            pen.line(draw, [(cx + 0.6 * r * math.cos(a), cy + 0.6 * r * math.sin(a)),
                            (cx + r * math.cos(a), cy + r * math.sin(a))])  # fmt: skip


def face(draw: Canvas, pen: Pen, family: str) -> None:
    """A round face with two eyes and a mouth, smiling or not."""
    cx, cy, r = _box(pen.rng)
    pen.line(draw, _ring(cx, cy, r, 36, aspect=pen.rng.uniform(0.8, 1.15)))
    for side in (-1, 1):
        ex, ey = cx + side * r * 0.38, cy - r * 0.3
        pen.line(draw, [(ex, ey), (ex + 1, ey + r * 0.08)])
    mood = pen.rng.choice([-1, 0, 1])
    t = np.linspace(-0.9, 0.9, 12)
    mouth = [(cx + r * 0.5 * x, cy + r * (0.35 + mood * 0.2 * (1 - x * x))) for x in t.tolist()]
    pen.line(draw, mouth)


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
