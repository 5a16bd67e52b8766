"""Strokes drawn straight into the images the models read, with the page's pen, no PNG.

The page draws each stroke with a round pen (caps and joins) 1/14 of the pad's height wide
in ink ``#111`` (``web/static/js/canvas.js``). Drawn here the same way with Pillow, at a
scale where the ink is about ``SIDE`` px across (not the canvas's size: a digit's 28x28
image keeps a 20 px box, and drawing at the canvas's 840x280 is what costs the pixel path
its time), the ink then goes through ``shared.imaging.to_mnist`` like a decoded canvas's.
Pillow's wide lines have square joins, so a dot of the pen goes where a stroke turns; and
they lie a little to one side and come in whole pixels, which ``draw_ink`` makes up for.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from shared.imaging import mnist_of_image

#: The page's pen: this share of the pad's height wide (``STROKE_RATIO`` in canvas.js).
PEN_RATIO = 1 / 14
#: A full stroke of the page's ink ``#111`` as ``imaging.ink_from_image`` reads it.
PAGE_INK = 255 - 0x11
#: Ink is drawn about this many pixels across (its longest side) before ``to_mnist``: six
#: times its 20 px box, so its area averaging sees the pen's edge as a decoded canvas's
#: anti-aliasing gives it (on 2,000 traced digits, the CNN read 99.75 % of the images the
#: same as the PNG's, 99.6 % at 96 px; a few per cent more CPU).
SIDE = 128
#: Points nearer than this share of the pen to the last one kept add nothing to the ink
#: (the page records a point every pixel or two).
STEP = 0.25
#: Where a stroke turns by more than this (its cosine: 25 degrees), the pen's dot fills
#: the join Pillow leaves square.
TURN_COS = 0.9

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Stroke:
    """One stroke ready to draw: its points (canvas px, thinned out to ``STEP``), where the
    pen's dot goes, the box its ink covers and its length."""

    points: np.ndarray
    dots: np.ndarray
    box: Box
    length: float


def prepared(strokes: Sequence[Sequence[Sequence[float]]], pen: float) -> list[Stroke]:
    """Strokes of points ``[x, y, t]`` (each at least one) as ``Stroke``s drawn with ``pen``.

    All strokes at once, in one array: a number's dozen strokes took a third of a
    millisecond one by one, in NumPy's per-call overhead."""
    counts = np.array([len(stroke) for stroke in strokes])
    flat = np.fromiter(
        itertools.chain.from_iterable(itertools.chain.from_iterable(strokes)),
        dtype=np.float64,
        count=3 * int(counts.sum()),
    )
    xy = flat.reshape(-1, 3)[:, :2]
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    steps = np.hypot(*np.diff(xy, axis=0, prepend=xy[:1]).T)
    steps[starts] = 0.0  # no step from the end of one stroke to the start of the next
    along = np.cumsum(steps)
    along -= np.repeat(along[starts], counts)
    bins = np.floor(along / (STEP * pen))
    keep = np.ones(len(xy), dtype=bool)
    keep[1:] = bins[1:] != bins[:-1]
    keep[starts] = True
    keep[starts + counts - 1] = True
    lows = np.minimum.reduceat(xy, starts) - pen / 2
    highs = np.maximum.reduceat(xy, starts) + pen / 2
    lengths = np.add.reduceat(steps, starts)
    ends = np.cumsum(np.add.reduceat(keep.astype(np.intp), starts))
    points = xy[keep]
    dots = _dots(points, ends)
    return [
        Stroke(own, own_dots, (x0, y0, x1, y1), length)
        for own, own_dots, (x0, y0), (x1, y1), length in zip(
            np.split(points, ends[:-1]),
            np.split(dots, ends[:-1]),
            lows.tolist(),
            highs.tolist(),
            lengths.tolist(),
            strict=True,
        )
    ]


def ink_box(strokes: Sequence[Stroke]) -> Box:
    """The box the strokes' ink covers (x0, y0, x1, y1), unclipped. Plain Python: a
    number has a dozen strokes, fewer than NumPy's per-call cost pays for."""
    x0s, y0s, x1s, y1s = zip(*(stroke.box for stroke in strokes), strict=True)
    return min(x0s), min(y0s), max(x1s), max(y1s)


def mnist_image(strokes: Sequence[Stroke], pen: float, side: int = SIDE) -> np.ndarray:
    """The 28x28 MNIST-style image of ``strokes`` drawn with a pen ``pen`` px wide."""
    x0, y0, x1, y1 = ink_box(strokes)
    # Pillow draws lines whole pixels wide: the scale follows the width drawn (draw_ink).
    _, drawn = line_width(pen * side / max(x1 - x0, y1 - y0))
    # Drawn one way: Pillow's quarter pixel to one side is a 25th of the 28x28 image's.
    # Kept as Pillow's image: its crop and resize need no array of it.
    ink = draw_ink(strokes, pen, drawn / pen, (x0, y0), both_ways=False)
    return mnist_of_image(ink, drawn=True)


def line_width(wanted: float) -> tuple[int, float]:
    """The width to ask Pillow for a line ``wanted`` px wide, and the width it draws.

    Pillow draws an even width about half a pixel wider than asked (a pixel along the axes,
    none on the diagonals) and an odd one half a pixel narrower, and a line about a quarter
    of a pixel to one side of its path, which side depending on its direction."""
    even = max(2, 2 * round((wanted - 0.5) / 2))
    odd = max(1, 2 * round((wanted + 0.5 - 1) / 2) + 1)
    even_drawn, odd_drawn = even + 0.5, max(1.0, odd - 0.5)
    if abs(odd_drawn - wanted) < abs(even_drawn - wanted):
        return odd, odd_drawn
    return even, even_drawn


def draw_ink(
    strokes: Sequence[Stroke],
    pen: float,
    scale: float,
    origin: tuple[float, float],
    shape: tuple[int, int] | None = None,
    both_ways: bool = True,
) -> Image.Image:
    """``strokes`` drawn at ``scale`` px per canvas px, ``origin`` (canvas px) at the top left:
    ink (0 = paper, ``PAGE_INK`` = stroke) in a Pillow "L" image, ``shape`` (rows, columns)
    or just the ink's.

    Each stroke is drawn there and back (``both_ways``), so Pillow's quarter pixel to one
    side cancels out (``line_width``), with the pen's dot as wide as the line at its ends
    and turns (Pillow takes an ellipse's box as inclusive)."""
    width, drawn = line_width(pen * scale)
    if shape is None:
        _, _, x1, y1 = ink_box(strokes)
        shape = (
            int(np.ceil((y1 - origin[1]) * scale)) + 1,
            int(np.ceil((x1 - origin[0]) * scale)) + 1,
        )
    image = Image.new("L", (shape[1], shape[0]), 0)
    if not strokes:  # a digit that traced to nothing: blank paper
        return image
    draw = ImageDraw.Draw(image)
    # All strokes placed at once; one ink, no anti-aliasing: the order drawn is no matter.
    placed = (np.concatenate([stroke.points for stroke in strokes]) - origin) * scale
    flat = placed.ravel().tolist()
    start = 0
    for stroke in strokes:
        end = start + len(stroke.points)
        if end - start > 1:
            draw.line(flat[2 * start : 2 * end], fill=PAGE_INK, width=width)
            if both_ways:
                draw.line(placed[start:end][::-1].ravel().tolist(), fill=PAGE_INK, width=width)
        start = end
    reach = drawn / 2 - 0.5
    dots = np.concatenate([stroke.dots for stroke in strokes])
    for x, y in placed[dots].tolist():
        draw.ellipse((x - reach, y - reach, x + reach, y + reach), PAGE_INK)
    return image


def _dots(points: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Where the pen's round dot is drawn: each stroke's ends, and wherever it turns.
    ``points`` are all strokes' one after another, ``ends`` where each stroke ends."""
    dots = np.zeros(len(points), dtype=bool)
    if len(points) > 2:
        before = points[1:-1] - points[:-2]
        after = points[2:] - points[1:-1]
        lengths = np.hypot(*before.T) * np.hypot(*after.T)
        cosine = (before * after).sum(axis=1) / np.maximum(lengths, 1e-9)
        dots[1:-1] = cosine < TURN_COS
    dots[ends - 1] = True
    dots[ends[:-1]] = True
    dots[0] = True
    return dots
