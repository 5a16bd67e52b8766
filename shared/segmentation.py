"""Split a canvas holding a number into its digits, from the image alone.

Web reads every canvas this way (``preprocess_canvas_png``): the whole canvas as one
digit, as single-digit clients expect, and each digit found on it.

The steps, each a small function: connected strokes (SciPy's ``ndimage.label``), specks
dropped, strokes that belong to one digit grouped (the bar of a 7, the two strokes of a
4 or 5), groups too wide to be one digit cut where the ink is thinnest (a projection
profile), and the digits ordered left to right. Each part keeps only its own ink, so a
neighbour reaching into its box does not leak into its 28x28 image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from shared.errors import CanvasTooWide, EmptyCanvas, TooManyDigits
from shared.imaging import INK_THRESHOLD, decode_data_url, ink_from_image, load_png, to_mnist

#: A canvas may be at most this many times as wide as it is high (a row of digits).
MAX_ASPECT = 8
#: A stroke whose longest side is under this share of the tallest stroke, and whose area is
#: under ``SPECK_AREA`` of the largest, is a speck, not a digit or part of one.
SPECK_EXTENT = 0.25
SPECK_AREA = 0.1
#: Two strokes are one digit when they overlap horizontally by this share of the narrower.
SAME_DIGIT_OVERLAP = 0.5
#: ... unless both are tall (this share of the taller): then they must overlap by more.
TALL = 0.75
TALL_OVERLAP = 0.8
#: A group wider than this times its height holds several digits ...
WIDE = 1.25
#: ... and one wider than this may: where a column has at most VALLEY of the busiest's ink.
BROAD = 0.9
VALLEY = 0.1
#: Where to look for a cut, as a share of a digit's width either side of where one is due.
CUT_MARGIN = 0.3
#: Each side of a cut must be at least this share of the part's height, and of its ink.
SIDE_HEIGHT = 0.5
SIDE_INK = 0.2
#: An open 4: a stem at most STEM_WIDTH times as wide as high; an arm left of it, at most
#: ARM_GAP of the stem's height away, at most ARM_HEIGHT as high, within ARM_REACH of its top.
STEM_WIDTH = 0.4
ARM_GAP = 0.15
ARM_HEIGHT = 0.85
ARM_REACH = 0.85
#: A group shorter than this share of the median height is a fragment of a digit ...
FRAGMENT = 0.45
#: ... and joins a neighbour it overlaps, or one at most this share of that height away.
NEAR = 0.25
#: A digit is about this wide for its height, for guessing how many a wide group holds.
DIGIT_ASPECT = 0.7


@dataclass(frozen=True)
class Part:
    """One digit: its box on the canvas (x0, y0, x1, y1, ends exclusive) and its own ink."""

    box: tuple[int, int, int, int]
    ink: np.ndarray


@dataclass
class _Group:
    x0: int
    y0: int
    x1: int
    y1: int
    labels: list[int]

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0


@dataclass(frozen=True)
class Canvas:
    """What the models read from one canvas: the whole of it as one digit, and each digit."""

    whole: np.ndarray
    #: (box on the canvas as x0, y0, x1, y1; 28x28 digit), left to right.
    parts: list[tuple[tuple[int, int, int, int], np.ndarray]]


def preprocess_canvas_png(png: bytes, max_side: int, max_parts: int) -> Canvas:
    """PNG bytes to the whole canvas as one 28x28 digit plus each digit found on it."""
    image = load_png(png, max_side)
    width, height = image.size
    if width > MAX_ASPECT * height:
        raise CanvasTooWide(
            f"the canvas is {width}x{height}; it may be at most {MAX_ASPECT} times as wide as high"
        )
    ink = ink_from_image(image)
    whole = to_mnist(ink)
    parts = []
    for part in segment(ink, max_parts):
        try:
            parts.append((part.box, to_mnist(part.ink)))
        except EmptyCanvas:  # a sliver left by a cut: not a digit
            continue
    return Canvas(whole, parts or [((0, 0, width, height), whole)])


def preprocess_canvas_data_url(
    data_url: object, max_bytes: int, max_side: int, max_parts: int
) -> Canvas:
    """Validate and preprocess a canvas data URL that may hold several digits."""
    return preprocess_canvas_png(decode_data_url(data_url, max_bytes), max_side, max_parts)


def segment(ink: np.ndarray, max_parts: int) -> list[Part]:
    """The digits on ``ink`` (2-D, 0 = paper), left to right; EmptyCanvas or TooManyDigits."""
    mask = ink > INK_THRESHOLD
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        raise EmptyCanvas("the drawing has no ink: draw a digit first")
    groups = _group_strokes(_strokes_without_specks(labels, count))
    groups = _attach_fragments(groups)
    # A cut through a loop (the inside of a 0, 6, 8 or 9) never separates two digits.
    holes = ndimage.binary_fill_holes(mask) & ~mask
    parts: list[Part] = []
    for group in sorted(groups, key=lambda g: (g.x0 + g.x1) / 2):
        window = (slice(group.y0, group.y1), slice(group.x0, group.x1))
        group_ink = np.where(np.isin(labels[window], group.labels), ink[window], 0)
        parts += _cut_wide(_trimmed(group_ink, group.x0, group.y0), holes)
        if len(parts) > max_parts:
            raise TooManyDigits(f"the canvas holds more than {max_parts} digits")
    return parts


def _strokes_without_specks(labels: np.ndarray, count: int) -> list[_Group]:
    """One group per connected stroke, minus the specks."""
    slices = ndimage.find_objects(labels)
    areas = ndimage.sum_labels(labels > 0, labels, index=np.arange(1, count + 1))
    strokes = [
        _Group(s[1].start, s[0].start, s[1].stop, s[0].stop, [i + 1]) for i, s in enumerate(slices)
    ]
    tallest = max(max(g.width, g.height) for g in strokes)
    largest = float(areas.max())
    return [
        g
        for g, area in zip(strokes, areas, strict=True)
        if max(g.width, g.height) >= SPECK_EXTENT * tallest or area >= SPECK_AREA * largest
    ]


def _overlap(a: _Group, b: _Group) -> int:
    return min(a.x1, b.x1) - max(a.x0, b.x0)


def _merged(a: _Group, b: _Group) -> _Group:
    return _Group(
        min(a.x0, b.x0), min(a.y0, b.y0), max(a.x1, b.x1), max(a.y1, b.y1), a.labels + b.labels
    )


def _belong_together(a: _Group, b: _Group) -> bool:
    share = _overlap(a, b) / max(1, min(a.width, b.width))
    both_tall = min(a.height, b.height) >= TALL * max(a.height, b.height)
    return share > (TALL_OVERLAP if both_tall else SAME_DIGIT_OVERLAP) or _open_four(a, b)


def _open_four(a: _Group, b: _Group) -> bool:
    """The two strokes of a 4 that do not touch: a shorter stroke in the upper part, just
    left of a tall narrow one (the stem)."""
    stem, arm = (a, b) if a.height >= b.height else (b, a)
    return (
        stem.width <= STEM_WIDTH * stem.height
        and arm.x0 < stem.x0
        and stem.x0 - arm.x1 <= ARM_GAP * stem.height
        and arm.height <= ARM_HEIGHT * stem.height
        and arm.y0 >= stem.y0 - ARM_GAP * stem.height
        and arm.y1 <= stem.y0 + ARM_REACH * stem.height
    )


def _group_strokes(strokes: list[_Group]) -> list[_Group]:
    """Merge strokes that belong to one digit until no two groups do."""
    groups = sorted(strokes, key=lambda g: g.x0)
    merged = True
    while merged:
        merged = False
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                if _belong_together(groups[i], groups[j]):
                    groups[i] = _merged(groups[i], groups[j])
                    del groups[j]
                    merged = True
                    break
            if merged:
                break
    return groups


def _attach_fragments(groups: list[_Group]) -> list[_Group]:
    """A group much shorter than the digits (the flag of a 5, a broken-off bar) joins the
    neighbour it overlaps most, or the nearest one close by; otherwise it stays."""
    if len(groups) < 2:
        return groups
    height = float(np.median([g.height for g in groups]))
    kept = [g for g in groups if g.height >= FRAGMENT * height]
    if not kept:
        return groups
    for fragment in (g for g in groups if g.height < FRAGMENT * height):

        def distance(g: _Group, f: _Group = fragment) -> float:
            return -_overlap(g, f)

        nearest = min(range(len(kept)), key=lambda i: distance(kept[i]))
        if distance(kept[nearest]) <= NEAR * height:
            kept[nearest] = _merged(kept[nearest], fragment)
        else:
            kept.append(fragment)
    return kept


def _trimmed(ink: np.ndarray, x: int, y: int) -> Part | None:
    """``ink`` cropped to its strokes, as a part at its place on the canvas."""
    rows = np.flatnonzero((ink > INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((ink > INK_THRESHOLD).any(axis=0))
    if len(rows) == 0:
        return None
    ink = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    x, y = x + int(cols[0]), y + int(rows[0])
    return Part((x, y, x + ink.shape[1], y + ink.shape[0]), ink)


def _cut_wide(part: Part | None, holes: np.ndarray) -> list[Part]:
    """Cut a part that holds several digits where its ink is thinnest (projection profile).

    A part wider than ``WIDE`` times its height is cut at its thinnest column near where a
    digit should end; one merely broad (``BROAD``) only at a clear valley, a column with
    at most ``VALLEY`` of the busiest column's ink, as where two digits touch. Never
    through a loop, and only where both sides are digit-high: a wide part with nowhere
    to cut stays whole (a wide 0, a 7 with a long bar).
    """
    if part is None:
        return []
    height, width = part.ink.shape
    if width <= BROAD * height:
        return [part]
    x0, y0, x1, y1 = part.box
    profile = part.ink.astype(np.int64).sum(axis=0)
    blocked: np.ndarray = np.asarray(holes[y0:y1, x0:x1].any(axis=0))
    digits = max(2, round(width / (DIGIT_ASPECT * height)))
    step = width / digits
    low = int(max(1, step * (1 - CUT_MARGIN)))
    high = int(min(width - 1, step * (1 + CUT_MARGIN)))
    allowed = [c for c in range(low, high) if not blocked[c]]
    if not allowed:
        return [part]
    cut = min(allowed, key=lambda c: profile[c])
    if width <= WIDE * height and profile[cut] > VALLEY * profile.max():
        return [part]
    left = _trimmed(part.ink[:, :cut], x0, y0)
    right = _trimmed(part.ink[:, cut:], x0 + cut, y0)
    # Both sides must be digits: a cut that leaves a bar (the flag of a 5) or the tips of
    # a 3's arcs is no cut.
    total = float(profile.sum())
    for side in (left, right):
        if side is None or side.ink.shape[0] < SIDE_HEIGHT * height:
            return [part]
        if side.ink.sum(dtype=np.int64) < SIDE_INK * total:
            return [part]
    return _cut_wide(left, holes) + _cut_wide(right, holes)
