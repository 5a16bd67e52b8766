"""Which strokes make one digit: the pixel path's groups, parted where the pen was lifted.

First the groups the pixel path would find, from strokes instead of pixels: strokes whose
ink touches make one blot, and blots group by the pixel path's own rules
(``shared.stroke_grouping``: overlap, the open 4, fragments joining a neighbour). Then
what only strokes tell: within a group, the order they were drawn in. People write a
number a digit at a time, left to right, finishing one digit before the next, so a group's
strokes in the order drawn are cut into runs: a stroke continues the digit being drawn
unless its middle lies right of that digit's columns (and it is not a small stroke that
overlaps them, such as a tail) or it lies wholly left of them. A group of one run is one
digit, however its ink touches its neighbours'; a group of several is two touching digits,
or one drawn in pieces (a 3 in two arcs), which ``shared.stroke_canvas`` asks the group
counter about. Runs that belong together by the overlap rules, or too short to be a digit,
join a neighbour first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shared.segmentation import Box
from shared.stroke_grouping import (
    FRAGMENT,
    SPECK_AREA,
    SPECK_EXTENT,
    Group,
    attach_fragments,
    belong_together,
    group_strokes,
)
from shared.stroke_render import STEP, Stroke

#: A stroke drawn next starts another digit when its middle is right of the digit being
#: drawn, past this share of the taller one's height in from the digit's right edge ...
INSIDE = 0.04
#: ... unless it is under SMALL of the digit's height and overlaps it by OVERLAP of its own
#: width (a tail, the flag of a 5); and it goes back to an earlier digit when it ends left
#: of the digit being drawn, BACK of the height in from its left edge (a 7 crossed late).
SMALL = 0.4
OVERLAP = 0.3
BACK = 0.1
#: Two strokes' ink touches where points of theirs are at most this many pens apart: a
#: pen's width, half the gap between the points kept (``stroke_render.STEP``), and the
#: pixel or two of anti-aliasing by which the pixel path's blots join across a hairline.
TOUCH = 1 + STEP / 2 + 0.1
#: At most this many distances between two strokes' points are measured.
MAX_PAIRS = 4096
#: A stroke at least ONE_HEIGHT of the digit's height and at most ONE_WIDTH of its own
#: height wide, its middle at most ONE_INSIDE of the height in from the digit's right
#: edge, starts another digit: a 1 pressed against its neighbour (a 4's stem is further in).
ONE_HEIGHT = 0.75
ONE_WIDTH = 0.4
ONE_INSIDE = 0.12


@dataclass(frozen=True)
class DigitGroup:
    """Strokes the pixel path would see as one group, and its runs: the strokes of each
    digit it may hold, as the order they were drawn in tells (labels index the strokes)."""

    group: Group
    runs: list[Group]


def digit_groups(
    strokes: Sequence[Stroke], pen: float, width: int, height: int
) -> tuple[list[DigitGroup], bool]:
    """The strokes' groups, left to right, each with its runs; and whether specks (small
    strokes apart from the others, which the pixel path drops) were dropped."""
    boxes = [Group(*clipped(s.box, width, height), [i]) for i, s in enumerate(strokes)]
    kept = _without_specks(boxes, strokes, pen)
    groups = _in_turn(attach_fragments(group_strokes(_blots(kept, strokes, pen))))
    found = []
    for group in sorted(groups, key=lambda g: (g.x0 + g.x1) / 2):
        group.labels.sort()
        found.append(DigitGroup(group, _mended(runs([boxes[i] for i in group.labels]), group)))
    return found, len(kept) < len(boxes)


def _in_turn(groups: list[Group]) -> list[Group]:
    """Groups whose boxes meet and whose strokes were drawn in turn (a stroke of one between
    two of the other) joined: digits are drawn one at a time, so such strokes are one
    digit's, or neighbours' that the overlap rules mixed up, which the runs then part. (A 7
    crossed after the next digit was written is drawn in turn with it, apart from it.)"""
    spans = sorted(groups, key=lambda g: min(g.labels))
    joined: list[Group] = []
    for group in spans:
        overlapping = [
            i
            for i, other in enumerate(joined)
            if min(group.labels) < max(other.labels) and _meet(group, other)
        ]
        if overlapping:
            i = overlapping[0]
            joined[i] = _union(joined[i], group)
        else:
            joined.append(group)
    return joined


def runs(strokes: list[Group]) -> list[Group]:
    """Strokes (one label each, in the order drawn) cut into runs, one per digit drawn."""
    found: list[Group] = []
    for stroke in strokes:
        if found and continues(found[-1], stroke):
            found[-1] = _union(found[-1], stroke)
        else:
            found.append(_copy(stroke))
    return found


def continues(digit: Group, stroke: Group) -> bool:
    """Whether ``stroke``, drawn next, is more of ``digit`` rather than another digit."""
    height = max(digit.height, stroke.height)
    middle = (stroke.x0 + stroke.x1) / 2
    if stroke.x1 < digit.x0 + BACK * height:
        return False
    if _a_one(stroke, digit) and middle > digit.x1 - ONE_INSIDE * height:
        return False  # a 1 pressed against the digit before it (or a 9's stem: see _ways)
    if middle <= digit.x1 - INSIDE * height:
        return True
    overlap = min(digit.x1, stroke.x1) - max(digit.x0, stroke.x0)
    return stroke.height < SMALL * digit.height and overlap >= OVERLAP * max(stroke.width, 1)


def _a_one(stroke: Group, digit: Group) -> bool:
    """Whether ``stroke`` is shaped like a 1 as tall as ``digit``."""
    return stroke.height >= ONE_HEIGHT * digit.height and stroke.width <= ONE_WIDTH * stroke.height


def _mended(found: list[Group], group: Group) -> list[Group]:
    """Runs drawn one after the other that belong together by the overlap rules merged,
    and each run too short to be a digit (FRAGMENT of the group's height) joined to another
    (``_home``); left to right."""
    merged: list[Group] = []
    for run in found:
        if merged and _mend(merged[-1], run):
            merged[-1] = _union(merged[-1], run)
        else:
            merged.append(run)
    if all(run.height < FRAGMENT * group.height for run in merged):
        return [group]
    while len(merged) > 1:
        short = [i for i, r in enumerate(merged) if r.height < FRAGMENT * group.height]
        if not short:
            break
        i = short[0]
        j = _home(merged, i)
        merged[min(i, j)] = _union(merged[min(i, j)], merged[max(i, j)])
        del merged[max(i, j)]
    for run in merged:
        run.labels.sort()
    return sorted(merged, key=lambda r: (r.x0 + r.x1) / 2)


def _mend(before: Group, after: Group) -> bool:
    """Whether two runs drawn one after the other belong together by the overlap rules,
    unless the second is shaped like a 1 (then ``stroke_canvas`` reads it both ways)."""
    if _a_one(after, before):
        return False
    return belong_together(*sorted((before, after), key=lambda r: r.x0))


def _home(runs: list[Group], short: int) -> int:
    """The run a short run joins: the one drawn before or after it that it overlaps more,
    if it overlaps either; else the one it is nearest (a bar added late)."""
    beside = [j for j in (short - 1, short + 1) if 0 <= j < len(runs)]
    nearest = max(beside, key=lambda j: _overlap(runs[j], runs[short]))
    if _overlap(runs[nearest], runs[short]) > 0:
        return nearest
    others = [j for j in range(len(runs)) if j != short]
    return max(others, key=lambda j: _overlap(runs[j], runs[short]))


def _blots(kept: list[Group], strokes: Sequence[Stroke], pen: float) -> list[Group]:
    """The strokes whose ink touches, joined (the pixel path's connected blots)."""
    parent = list(range(len(kept)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a in range(len(kept)):
        for b in range(a + 1, len(kept)):
            if root(a) != root(b) and _touch(kept[a], kept[b], strokes, pen):
                parent[root(b)] = root(a)
    blots: dict[int, Group] = {}
    for i, box in enumerate(kept):
        r = root(i)
        blots[r] = _union(blots[r], box) if r in blots else _copy(box)
    return list(blots.values())


def _touch(a: Group, b: Group, strokes: Sequence[Stroke], pen: float) -> bool:
    """Whether two strokes' ink touches (``TOUCH``), looking only at the points inside the
    other's box."""
    if not _meet(a, b, pen * (TOUCH - 1)):  # boxes hold the pen's ink
        return False
    ours = _inside(strokes[a.labels[0]].points, b, pen * TOUCH)
    theirs = _inside(strokes[b.labels[0]].points, a, pen * TOUCH)
    if not len(ours) or not len(theirs):
        return False
    # Long strokes over one another (a scribble): every few points, a little more lenient.
    every = int(np.ceil(np.sqrt(len(ours) * len(theirs) / MAX_PAIRS)))
    ours, theirs = ours[::every], theirs[::every]
    gaps = np.hypot(*(ours[:, None, :] - theirs[None, :, :]).transpose(2, 0, 1))
    return bool(gaps.min() <= pen * (TOUCH + (every - 1) * STEP))


def _inside(points: np.ndarray, box: Group, margin: float) -> np.ndarray:
    """The points within ``margin`` of ``box``."""
    xs, ys = points[:, 0], points[:, 1]
    return points[
        (xs >= box.x0 - margin)
        & (xs < box.x1 + margin)
        & (ys >= box.y0 - margin)
        & (ys < box.y1 + margin)
    ]


def _without_specks(boxes: list[Group], strokes: Sequence[Stroke], pen: float) -> list[Group]:
    """The strokes but specks: small strokes whose box meets no other's, as the pixel path
    drops small blots (``stroke_grouping.strokes_without_specks``)."""
    extents = np.array([max(b.width, b.height) for b in boxes])
    areas = np.array([s.length for s in strokes]) * pen + np.pi * pen * pen / 4
    small = (extents < SPECK_EXTENT * extents.max()) & (areas < SPECK_AREA * areas.max())
    return [
        box
        for box, tiny in zip(boxes, small, strict=True)
        if not tiny or any(_meet(box, other) for other in boxes if other is not box)
    ]


def _meet(a: Group, b: Group, gap: float = 0.0) -> bool:
    """Whether the boxes of ``a`` and ``b`` overlap, or are at most ``gap`` apart."""
    return a.x0 < b.x1 + gap and b.x0 < a.x1 + gap and a.y0 < b.y1 + gap and b.y0 < a.y1 + gap


def _overlap(a: Group, b: Group) -> int:
    return min(a.x1, b.x1) - max(a.x0, b.x0)


def _copy(a: Group) -> Group:
    return Group(a.x0, a.y0, a.x1, a.y1, list(a.labels))


def _union(a: Group, b: Group) -> Group:
    return Group(
        min(a.x0, b.x0), min(a.y0, b.y0), max(a.x1, b.x1), max(a.y1, b.y1), a.labels + b.labels
    )


def clipped(box: tuple[float, float, float, float], width: int, height: int) -> Box:
    """A box in whole pixels (ends exclusive) inside the canvas."""
    x0, y0, x1, y1 = box
    return (
        max(0, int(np.floor(x0))),
        max(0, int(np.floor(y0))),
        min(width, int(np.ceil(x1))),
        min(height, int(np.ceil(y1))),
    )
