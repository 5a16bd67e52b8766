"""Which connected strokes of a canvas make one digit: specks dropped, the rest grouped.

``shared.segmentation`` labels the canvas's connected strokes and asks this module for
its groups: specks dropped, too many strokes refused (``MAX_STROKES``), strokes that
belong to one digit merged (the bar of a 7, the two strokes of a 4 or 5), fragments
attached to their neighbour. Every step is linear in the canvas's pixels or bounded by
``MAX_STROKES``: a canvas of scattered specks (issue 36) had thousands of strokes, and the
grouping, which started over after each merge, took minutes of a web process's CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shared.errors import TooManyStrokes
from shared.imaging import MAX_DIGITS

#: A stroke whose longest side is under this share of the tallest stroke, and whose area is
#: under ``SPECK_AREA`` of the largest, is a speck, not a digit or part of one.
SPECK_EXTENT = 0.25
SPECK_AREA = 0.1
#: Most strokes a canvas may hold once its specks are dropped. A digit takes one to three
#: (the bar of a 7 or a 4, the flag of a 5, a broken-off piece): composed numbers of up to
#: MAX_DIGITS MNIST digits have at most two per digit. Eight per digit leaves room for
#: retouches; past that it is no number, and grouping's work grows with the count.
STROKES_PER_DIGIT = 8
MAX_STROKES = STROKES_PER_DIGIT * MAX_DIGITS
#: Two strokes are one digit when they overlap horizontally by this share of the narrower.
SAME_DIGIT_OVERLAP = 0.5
#: ... unless both are tall (this share of the taller): then they must overlap by more.
TALL = 0.75
TALL_OVERLAP = 0.8
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


@dataclass
class Group:
    """Strokes taken as one digit: their box (ends exclusive) and their labels."""

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


def strokes_without_specks(labels: np.ndarray, count: int) -> list[Group]:
    """One group per connected stroke of ``labels`` (1 to ``count``), minus the specks.

    Boxes and areas come from NumPy over the ink pixels, not one Python object per stroke:
    a canvas of scattered dots has tens of thousands. TooManyStrokes past ``MAX_STROKES``.
    """
    height, width = labels.shape
    inked = labels > 0
    rows, cols = np.nonzero(inked)
    label = labels[inked] - 1
    x0, y0 = np.full(count, width), np.full(count, height)
    x1, y1 = np.zeros(count, np.intp), np.zeros(count, np.intp)
    np.minimum.at(x0, label, cols)
    np.minimum.at(y0, label, rows)
    np.maximum.at(x1, label, cols)
    np.maximum.at(y1, label, rows)
    x1 += 1
    y1 += 1
    areas = np.bincount(label, minlength=count)
    extents = np.maximum(x1 - x0, y1 - y0)
    kept = np.flatnonzero(
        (extents >= SPECK_EXTENT * int(extents.max())) | (areas >= SPECK_AREA * float(areas.max()))
    )
    if len(kept) > MAX_STROKES:
        raise TooManyStrokes(
            f"the drawing has {len(kept)} separate strokes besides specks; a number of up to "
            f"{MAX_DIGITS} digits has at most {MAX_STROKES}"
        )
    return [Group(int(x0[i]), int(y0[i]), int(x1[i]), int(y1[i]), [int(i) + 1]) for i in kept]


def _overlap(a: Group, b: Group) -> int:
    return min(a.x1, b.x1) - max(a.x0, b.x0)


def _merged(a: Group, b: Group) -> Group:
    return Group(
        min(a.x0, b.x0), min(a.y0, b.y0), max(a.x1, b.x1), max(a.y1, b.y1), a.labels + b.labels
    )


def belong_together(a: Group, b: Group) -> bool:
    """Whether ``a`` and ``b`` (``a`` not right of ``b``) are strokes of one digit."""
    share = _overlap(a, b) / max(1, min(a.width, b.width))
    both_tall = min(a.height, b.height) >= TALL * max(a.height, b.height)
    return share > (TALL_OVERLAP if both_tall else SAME_DIGIT_OVERLAP) or _open_four(a, b)


def _open_four(a: Group, b: Group) -> bool:
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


def group_strokes(strokes: list[Group]) -> list[Group]:
    """Merge strokes that belong to one digit until no two groups do.

    Groups are in order of left edge, and each merge is of the first pair, in that order,
    that belongs together (a merged box may stop or start belonging with a third, so the
    order decides the groups). Rather than compare every pair again after each merge, no
    pair left of ``row`` belongs together, and a group is compared only with those that
    start within ``reach`` of its right edge: beyond it two strokes neither overlap nor
    make an open 4.
    """
    groups = sorted(strokes, key=lambda g: g.x0)
    if not groups:
        return groups
    reach = ARM_GAP * (max(g.y1 for g in groups) - min(g.y0 for g in groups))
    row = 0
    while row < len(groups):
        partner = _first_partner(groups, row, reach)
        if partner is None:
            row += 1
            continue
        groups[row] = _merged(groups[row], groups.pop(partner))
        row = _merge_back(groups, row)
    return groups


def _first_partner(groups: list[Group], row: int, reach: float) -> int | None:
    """The first group right of ``row`` that belongs with it, if any."""
    group = groups[row]
    for other in range(row + 1, len(groups)):
        if groups[other].x0 - group.x1 > reach:  # so do all after it: sorted by x0
            return None
        if belong_together(group, groups[other]):
            return other
    return None


def _merge_back(groups: list[Group], row: int) -> int:
    """After ``row`` grew: while a group before it belongs with it, the first such pair is
    the next merge (no other pair left of ``row`` changed). Where merging stopped."""
    while True:
        earlier = next((a for a in range(row) if belong_together(groups[a], groups[row])), None)
        if earlier is None:
            return row
        groups[earlier] = _merged(groups[earlier], groups.pop(row))
        row = earlier


def attach_fragments(groups: list[Group]) -> list[Group]:
    """A group much shorter than the digits (the flag of a 5, a broken-off bar) joins the
    neighbour it overlaps most, or the nearest one close by; otherwise it stays."""
    if len(groups) < 2:
        return groups
    height = float(np.median([g.height for g in groups]))
    kept = [g for g in groups if g.height >= FRAGMENT * height]
    if not kept:
        return groups
    for fragment in (g for g in groups if g.height < FRAGMENT * height):

        def distance(g: Group, f: Group = fragment) -> float:
            return -_overlap(g, f)

        nearest = min(range(len(kept)), key=lambda i: distance(kept[i]))
        if distance(kept[nearest]) <= NEAR * height:
            kept[nearest] = _merged(kept[nearest], fragment)
        else:
            kept.append(fragment)
    return kept
