"""Split a canvas holding a number into its digits, from the image alone.

``shared.canvas`` calls ``segment`` on every canvas web receives. The steps, each a
small function: connected strokes (SciPy's ``ndimage.label``), specks dropped, strokes
that belong to one digit grouped (the bar of a 7, the two strokes of a 4 or 5;
``shared.stroke_grouping``, which refuses a canvas of too many strokes) and ordered left
to right; then, per group, a small network (``shared.group_count``) says
whether it holds one digit or several, and groups that hold several (or may) are cut
where the ink is thinnest (a projection profile, straight or, for digits written
leaning, slanted). Each part keeps only its own ink, so
a neighbour reaching into its box does not leak into its 28x28 image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from shared.errors import EmptyCanvas, TooManyDigits
from shared.group_count import digits_held
from shared.imaging import INK_THRESHOLD
from shared.stroke_grouping import attach_fragments, group_strokes, strokes_without_specks

#: A group wider than this times its height holds several digits ...
WIDE = 1.25
#: ... and one wider than this may: where a column has at most VALLEY of the busiest's ink.
BROAD = 0.9
VALLEY = 0.1
#: Where to look for a cut, as a share of a digit's width either side of where one is due.
CUT_MARGIN = 0.3
#: A part wider than this for its height may also be read cut in two, anywhere between
#: this share of its width from either side: at its thinnest column (web), or at its few
#: thinnest at least CUT_SPACING of its width apart (training parts). The models choose.
OTHER_ASPECT = 0.7
OTHER_MARGIN = 0.25
OTHER_CUTS = 1
CUT_SPACING = 0.12
#: Each side of a cut must be at least this share of the part's height, and of its ink.
SIDE_HEIGHT = 0.5
SIDE_INK = 0.2
#: The group counter (``shared.group_count``) decides a group's ways when it is this sure
#: that the group holds one digit, or several.
SURE = 0.9
#: A group it is sure holds several is read cut in two at its PAIR_CUTS thinnest columns,
#: from PAIR_MARGIN of its width from either side (nearer, a K is a 1 and a "6"), if it is
#: wider than PAIR_ASPECT of its height; a side needs only PAIR_SIDE_INK of the ink.
PAIR_CUTS = 2
PAIR_ASPECT = 0.3
PAIR_MARGIN = 0.25
PAIR_SIDE_INK = 0.1
#: It is also read cut along lines slanted by these (columns moved per row), with the same
#: margin and ink: digits written leaning touch along a slope a straight cut would cross.
PAIR_SLANTS = (-0.3, 0.3)
#: A digit is about this wide for its height, for guessing how many a wide group holds.
DIGIT_ASPECT = 0.7


Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Part:
    """One digit: its box on the canvas (x0, y0, x1, y1, ends exclusive) and its own ink."""

    box: Box
    ink: np.ndarray


def segment(
    ink: np.ndarray, max_parts: int, cuts: int | None = None, counter: bool = True
) -> tuple[list[list[list[Part]]], bool]:
    """The groups of strokes on ``ink`` (2-D, 0 = paper), left to right, each with the ways
    to read it (segmentation's choice first); and whether every stroke is in a group.
    ``cuts``: at most this many ways to cut a broad group in two (default ``OTHER_CUTS``).
    ``counter``: ask the group counter (web does; ``number_parts`` wants the rules' cuts).

    EmptyCanvas for no ink; TooManyStrokes for more strokes than a number has;
    TooManyDigits when even the fewest digits it may be read as are more than ``max_parts``.
    """
    groups, all_ink = stroke_groups(ink)
    holes = _Holes(ink)
    held = digits_held([group.ink for group in groups]) if counter else np.zeros((len(groups), 3))
    found: list[list[list[Part]]] = []
    digits = 0
    for group, (_, one, several) in zip(groups, held, strict=True):
        found.append(_ways(group, holes, one, several, cuts or OTHER_CUTS))
        digits += min(len(way) for way in found[-1])
        if digits > max_parts:
            raise TooManyDigits(f"the canvas holds more than {max_parts} digits")
    return found, all_ink


def stroke_groups(ink: np.ndarray) -> tuple[list[Part], bool]:
    """The groups of strokes on ``ink`` that may be digits, left to right, each with only
    its own ink; and whether every stroke is in one (specks are not).

    EmptyCanvas for no ink; TooManyStrokes past ``stroke_grouping.MAX_STROKES``.
    """
    labels, count = ndimage.label(ink > INK_THRESHOLD, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        raise EmptyCanvas("the drawing has no ink: draw a digit first")
    strokes = strokes_without_specks(labels, count)
    parts = []
    for group in sorted(attach_fragments(group_strokes(strokes)), key=lambda g: (g.x0 + g.x1) / 2):
        window = (slice(group.y0, group.y1), slice(group.x0, group.x1))
        group_ink = np.where(np.isin(labels[window], group.labels), ink[window], 0)
        part = _trimmed(group_ink, group.x0, group.y0)
        if part is not None:
            parts.append(part)
    return parts, len(strokes) == count


def _ways(group: Part, holes: _Holes, one: float, several: float, cuts: int) -> list[list[Part]]:
    """The ways to read one group, given how sure the group counter is that it holds one
    digit or several (``shared.group_count``).

    Sure of one: the group whole. Sure of several: cut where the ink is thinnest, as a
    straight line through the point where two digits touch may have to cross a loop
    their strokes close, or leave a 1 with little of the ink; cut along a slant too, as
    leaning digits touch where no straight line parts them; the models choose among the
    cuts and the group whole (a letter K is not "16", it is refused). Unsure: the
    image's own rules, and one other way the models choose.
    """
    if one >= SURE:
        return [[group]]
    first = _cut_wide(group, holes)
    if several >= SURE:
        cut = _cuts_in_two(group, None, PAIR_CUTS, PAIR_ASPECT, PAIR_MARGIN, PAIR_SIDE_INK)
        slanted = [_slanted_cut(group, slant) for slant in PAIR_SLANTS]
        straight = (([first] if len(first) > 1 else []) + cut)[:PAIR_CUTS]
        return straight + [way for way in slanted if way] + [[group]]
    others = [[group]] if len(first) > 1 else _cuts_in_two(group, holes, cuts)
    return [first, *others]


class _Holes:
    """Where the paper is enclosed by ink (inside a 0, 6, 8 or 9): no cut goes through it.

    Computed per part, on its own box: most parts (narrow digits) never need it.
    """

    def __init__(self, ink: np.ndarray) -> None:
        self._ink = ink

    def columns(self, box: Box) -> np.ndarray:
        """For each column of ``box``, whether it crosses a hole."""
        x0, y0, x1, y1 = box
        # One pixel of paper around the box, so ink at its edge does not close a "hole".
        window = np.pad(self._ink[y0:y1, x0:x1] > INK_THRESHOLD, 1)
        holes = ndimage.binary_fill_holes(window) & ~window
        return np.asarray(holes[1:-1, 1:-1].any(axis=0))


def ink_box(ink: np.ndarray) -> Box | None:
    """The box around the strokes of ``ink`` (x0, y0, x1, y1), or None without any."""
    rows = np.flatnonzero((ink > INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((ink > INK_THRESHOLD).any(axis=0))
    if len(rows) == 0:
        return None
    return (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


def _trimmed(ink: np.ndarray, x: int, y: int) -> Part | None:
    """``ink`` cropped to its strokes, as a part at its place on the canvas."""
    box = ink_box(ink)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    return Part((x + x0, y + y0, x + x1, y + y1), ink[y0:y1, x0:x1])


def _cut_wide(part: Part, holes: _Holes) -> list[Part]:
    """Cut a part that holds several digits where its ink is thinnest (projection profile).

    A part wider than ``WIDE`` times its height is cut at its thinnest column near where a
    digit should end; one merely broad (``BROAD``) only at a clear valley, a column with
    at most ``VALLEY`` of the busiest column's ink, as where two digits touch. Never
    through a loop, and only where both sides are digits: a wide part with nowhere to cut
    stays whole (a wide 0, a 7 with a long bar).
    """
    height, width = part.ink.shape
    if width <= BROAD * height:
        return [part]
    digits = max(2, round(width / (DIGIT_ASPECT * height)))
    step = width / digits
    profile = part.ink.astype(np.int64).sum(axis=0)
    cut = _thinnest(part, holes, step * (1 - CUT_MARGIN), step * (1 + CUT_MARGIN), profile)
    if cut is None or (width <= WIDE * height and profile[cut] > VALLEY * profile.max()):
        return [part]
    sides = _sides(part, cut)
    if sides is None:
        return [part]
    return _cut_wide(sides[0], holes) + _cut_wide(sides[1], holes)


def _cuts_in_two(
    part: Part,
    holes: _Holes | None,
    most: int,
    aspect: float = OTHER_ASPECT,
    margin: float = OTHER_MARGIN,
    side_ink: float = SIDE_INK,
) -> list[list[Part]]:
    """The part cut in two at each of its few thinnest columns, as other ways to read a
    part wider than ``aspect`` times its height: touching digits meet where the ink is
    thin, but not always at the thinnest column, so the models choose among several.
    ``holes`` None: cuts may cross loops."""
    height, width = part.ink.shape
    if width <= aspect * height:
        return []
    profile = part.ink.astype(np.int64).sum(axis=0)
    columns = _open_columns(part, holes, width * margin, width * (1 - margin))
    candidates = sorted(columns, key=lambda c: profile[c])
    cuts: list[int] = []
    for column in candidates:
        if all(abs(column - c) >= CUT_SPACING * width for c in cuts):
            cuts.append(column)
            if len(cuts) == most:
                break
    ways = []
    for column in sorted(cuts):
        sides = _sides(part, column, side_ink)
        if sides:
            ways.append(list(sides))
    return ways


def _slanted_cut(part: Part, slant: float) -> list[Part] | None:
    """The part cut in two along a line that moves ``slant`` columns per row, where the
    ink across it is thinnest, from ``PAIR_MARGIN`` of its width from either side; None
    if a side would not be a digit. Such a cut may cross loops."""
    height, width = part.ink.shape
    if width <= PAIR_ASPECT * height:
        return None
    rows, cols = np.nonzero(part.ink)
    along = np.floor(cols + slant * (rows - height / 2)).astype(np.int64)
    along -= along.min()
    profile = np.bincount(along, weights=part.ink[rows, cols])
    span = len(profile)
    columns = range(max(1, int(span * PAIR_MARGIN)), min(span - 1, int(span * (1 - PAIR_MARGIN))))
    if not columns:
        return None
    cut = min(columns, key=profile.__getitem__)
    left = part.ink.copy()
    left[rows[along >= cut], cols[along >= cut]] = 0
    right = part.ink - left
    x0, y0 = part.box[0], part.box[1]
    sides = _digit_sides(part, _trimmed(left, x0, y0), _trimmed(right, x0, y0), PAIR_SIDE_INK)
    return list(sides) if sides else None


def _thinnest(
    part: Part, holes: _Holes, low: float, high: float, profile: np.ndarray | None = None
) -> int | None:
    """The column between ``low`` and ``high`` with the least ink, outside any loop."""
    if profile is None:
        profile = part.ink.astype(np.int64).sum(axis=0)
    allowed = _open_columns(part, holes, low, high)
    return min(allowed, key=lambda c: profile[c]) if allowed else None


def _open_columns(part: Part, holes: _Holes | None, low: float, high: float) -> list[int]:
    """The columns between ``low`` and ``high``, inside the part, that cross no loop
    (any column, for ``holes`` None)."""
    columns = range(max(1, int(low)), min(part.ink.shape[1] - 1, int(high)))
    if holes is None:
        return list(columns)
    blocked = holes.columns(part.box)
    return [c for c in columns if not blocked[c]]


def _sides(part: Part, cut: int, side_ink: float = SIDE_INK) -> tuple[Part, Part] | None:
    """Both sides of a cut, if each is a digit: a cut that leaves a bar (the flag of a 5)
    or the tips of a 3's arcs is no cut."""
    x0, y0 = part.box[0], part.box[1]
    left = _trimmed(part.ink[:, :cut], x0, y0)
    right = _trimmed(part.ink[:, cut:], x0 + cut, y0)
    return _digit_sides(part, left, right, side_ink)


def _digit_sides(
    part: Part, left: Part | None, right: Part | None, side_ink: float
) -> tuple[Part, Part] | None:
    """``left`` and ``right``, if each is tall enough and holds enough of ``part``'s ink
    to be a digit."""
    total = float(part.ink.sum(dtype=np.int64))
    for side in (left, right):
        if side is None or side.ink.shape[0] < SIDE_HEIGHT * part.ink.shape[0]:
            return None
        if side.ink.sum(dtype=np.int64) < side_ink * total:
            return None
    assert left is not None and right is not None
    return left, right
