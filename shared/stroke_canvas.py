"""What the models read from a canvas's strokes: the pixel path's ``Canvas``, without the PNG.

The page sends, beside its PNG, the strokes it drew (``[[x, y, t], ...]`` per stroke, in
the PNG's pixels, in the order drawn). They are the better evidence: a stroke is ink that
belongs together, and two digits drawn touching are still two sets of strokes where the
image has one blot to cut. So the strokes are grouped as the pixel path groups its blots,
and a group is parted where the order of the strokes says one digit ended and the next
began (``shared.stroke_order``). Each digit is drawn straight into its 28x28 image
(``shared.stroke_render``): no decode, no labelling, and the group counter
(``shared.group_count``) only for a group of several runs (two touching digits, or one
drawn in pieces), a fraction of the pixel path's CPU. A group with a stroke drawn across
several digits (joined-up writing) is drawn at the pixel path's working resolution and
read by its rules (``shared.segmentation``). Strokes that cannot be the PNG's ink are not
trusted at all: see ``stroke_canvas``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shared.canvas import MAX_ASPECT, WORK_HEIGHT, Canvas
from shared.errors import CanvasTooWide, EmptyCanvas, InkTooSmall, TooManyDigits
from shared.group_count import digits_held
from shared.imaging import MAX_IMAGES, MIN_INK_SHARE, to_mnist
from shared.number_reading import MAX_WAYS
from shared.segmentation import BROAD, SURE, WIDE, Box, segment
from shared.stroke_grouping import MAX_STROKES, Group
from shared.stroke_order import DigitGroup, clipped, digit_groups
from shared.stroke_render import PEN_RATIO, Stroke, draw_ink, ink_box, mnist_image, prepared

#: A point may lie this many pixels off the canvas (the page clamps and rounds its points).
OFF_CANVAS = 1.0
#: A stroke (its ink) wider than this times its group's height may cross several digits
#: (joined-up writing): unless the group counter is sure the group is one digit, it is read
#: by the pixel rules. Digits drawn in one stroke are narrower but for about 5 % (2s, 5s).
ACROSS = WIDE
#: Runs at least this share of their group's height are each as tall as a digit.
TALL_RUN = 0.6
#: A stroke across at least this share of a pad at least WIDE_PAD times as wide as high is
#: not a digit's: a line under or through the whole number. The PNG is read instead.
WHOLE_PAD = 0.75
WIDE_PAD = 2.0
#: Most ink, in path length per pixel of the canvas's height, that strokes may hold: six
#: digits take about 25 heights. More is a scribble, read from the PNG, whose cost does
#: not grow with the length of the strokes.
MAX_LENGTH = 40

Strokes = Sequence[Sequence[Sequence[float]]]
#: One way to read a group: per digit, its image, its box and the strokes it is drawn from.
Way = list[tuple[np.ndarray, Box, list[int]]]


def canvas_from_strokes(
    strokes: Strokes, width: int, height: int, max_parts: int, readable: bool = False
) -> Canvas | None:
    """The ``Canvas`` of the drawing ``strokes`` make on a ``width`` x ``height`` canvas, or
    None to read its PNG instead (see ``stroke_canvas``)."""
    found = stroke_canvas(strokes, width, height, max_parts, readable)
    return None if found is None else found[0]


def stroke_canvas(
    strokes: Strokes, width: int, height: int, max_parts: int, readable: bool = False
) -> tuple[Canvas, list[list[int]]] | None:
    """The ``Canvas`` the strokes make, and for each of its images the strokes (indices into
    ``strokes``) it was drawn from; ``strokes`` as ``web.strokes.check_strokes`` passes them.

    Raises as the pixel path does: EmptyCanvas for no points, InkTooSmall (``readable``),
    CanvasTooWide, TooManyDigits. Returns None, to read the PNG instead, when the strokes
    cannot be its ink or would cost more than it: a point off the canvas, a stroke across
    the whole of a wide pad, more strokes than the pixel path takes blots
    (``stroke_grouping.MAX_STROKES``), or more ink than six digits hold (``MAX_LENGTH``).
    """
    if width > MAX_ASPECT * height:
        raise CanvasTooWide(
            f"the canvas is {width}x{height}; it may be at most {MAX_ASPECT} times as wide as high"
        )
    index = [i for i, stroke in enumerate(strokes) if len(stroke)]
    if not index:
        raise EmptyCanvas("the drawing has no ink: draw a digit first")
    if len(index) > MAX_STROKES:  # the pixel path's bound, on its blots (retouches merge)
        return None
    pen = height * PEN_RATIO
    drawn = prepared([strokes[i] for i in index], pen)
    if not _trusted(drawn, pen, width, height):
        return None
    whole_box = clipped(ink_box(drawn), width, height)
    if readable:
        _check_readable(whole_box, width, height)
    groups, specks = digit_groups(drawn, pen, width, height)
    if len(groups) > max_parts:
        raise TooManyDigits(f"the canvas holds more than {max_parts} digits")
    whole = mnist_image(drawn, pen)
    if len(groups) == 1 and not specks and len(groups[0].runs) == 1:
        if not _across(groups[0], drawn):
            return Canvas([whole], [whole_box], [[[0]]]), [index]
    scale = 1 / max(1, height // WORK_HEIGHT)  # the pixel path's working resolution
    images, boxes, sources = [whole], [whole_box], [index]
    readings: list[list[list[int]]] = []
    for group, held in zip(groups, _counted(groups, drawn, pen, scale), strict=True):
        for ways in _group_readings(group, held, drawn, pen, scale, max_parts):
            readings.append([])
            for way in ways:
                readings[-1].append(list(range(len(images), len(images) + len(way))))
                for image, box, own in way:
                    images.append(image)
                    boxes.append(box)
                    sources.append([index[i] for i in own])
    _check_count(readings, len(images), max_parts)
    return Canvas(images, boxes, readings or [[[0]]]), sources


def _trusted(strokes: list[Stroke], pen: float, width: int, height: int) -> bool:
    """Whether the strokes may stand for the PNG's ink (``stroke_canvas``)."""
    for stroke in strokes:
        x0, y0, x1, y1 = stroke.box
        x0, y0, x1, y1 = x0 + pen / 2, y0 + pen / 2, x1 - pen / 2, y1 - pen / 2  # the points
        if min(x0, y0) < -OFF_CANVAS or x1 > width + OFF_CANVAS or y1 > height + OFF_CANVAS:
            return False
        if width >= WIDE_PAD * height and x1 - x0 >= WHOLE_PAD * width:
            return False
    return sum(stroke.length for stroke in strokes) <= MAX_LENGTH * height


def _check_readable(box: Box, width: int, height: int) -> None:
    """InkTooSmall for ink too small to read, as ``imaging.check_readable`` refuses it."""
    x0, y0, x1, y1 = box
    extent = max(x1 - x0, y1 - y0)
    if extent < MIN_INK_SHARE * min(width, height):
        raise InkTooSmall(
            f"the drawing is {extent} px across, too small to read: draw the digit larger "
            f"(at least {round(MIN_INK_SHARE * 100)} % of the pad's height)"
        )


def _check_count(readings: list[list[list[int]]], images: int, max_parts: int) -> None:
    """TooManyDigits when the fewest digits the groups may be read as are too many, or
    when reading them every way takes more images than the worker reads for one canvas."""
    if sum(min(len(way) for way in ways) for ways in readings) > max_parts:
        raise TooManyDigits(f"the canvas holds more than {max_parts} digits")
    if images > MAX_IMAGES:
        raise TooManyDigits(
            f"the canvas holds more digits than can be read (over {MAX_IMAGES} images)"
        )


def _across(found: DigitGroup, strokes: list[Stroke]) -> bool:
    """Whether a group of one run has a stroke that may be drawn across several digits
    (``ACROSS``); in a group of several, the runs part the digits."""
    group = found.group
    return len(found.runs) == 1 and any(
        strokes[i].box[2] - strokes[i].box[0] > ACROSS * max(group.height, 1) for i in group.labels
    )


def _counted(
    groups: list[DigitGroup], strokes: list[Stroke], pen: float, scale: float
) -> list[tuple[float, float] | None]:
    """For each group of several runs or with a stroke across digits, how sure the group
    counter is that it holds one digit, and several (one batch for the canvas, as the pixel
    path asks it); None for the others."""
    asked = [g for g in groups if len(g.runs) > 1 or _across(g, strokes)]
    inks = [
        np.asarray(
            draw_ink([strokes[i] for i in g.group.labels], pen, scale, (g.group.x0, g.group.y0))
        )
        for g in asked
    ]
    answers = {
        id(g): (float(one), float(several))
        for g, (_, one, several) in zip(asked, digits_held(inks), strict=True)
    }
    return [answers.get(id(g)) for g in groups]


def _group_readings(
    found: DigitGroup,
    held: tuple[float, float] | None,
    strokes: list[Stroke],
    pen: float,
    scale: float,
    max_parts: int,
) -> list[list[Way]]:
    """How to read one group, as lists of ways (``Canvas.readings``): see ``_ways``; a
    group with a stroke across several digits, unless the group counter is sure it is one
    digit (a wide 2), as the pixel rules read its ink."""
    group = found.group
    if not _across(found, strokes) or (held is not None and held[0] >= SURE):
        return [_ways(found, held, strokes, pen)]
    own = [strokes[i] for i in group.labels]
    parts, _ = segment(np.asarray(draw_ink(own, pen, scale, (group.x0, group.y0))), max_parts)
    readings = []
    for part_ways in parts:
        ways: list[Way] = []
        for way in part_ways:
            try:
                images = [to_mnist(part.ink) for part in way]
            except EmptyCanvas:  # a sliver left by a cut: not a way to read it
                continue
            boxes = [_on_canvas(part.box, group, scale) for part in way]
            ways.append(
                [(i, b, _strokes_in(b, group, strokes)) for i, b in zip(images, boxes, strict=True)]
            )
        if ways:
            readings.append(ways)
    return readings


def _ways(
    found: DigitGroup, held: tuple[float, float] | None, strokes: list[Stroke], pen: float
) -> list[Way]:
    """The ways to read a group. One run is one digit. Several are two or more touching
    digits, or one digit drawn in pieces (a 3 in two arcs): the ways are the runs, as they
    are and joined where a join is no wider than a digit (``_splits``), and the group
    whole; the models choose. The group counter (``shared.group_count``), sure the group
    is one digit, leaves only the whole, unless each run is as tall as a digit
    (``TALL_RUN``) or the group as broad as two (``segmentation.BROAD``): digits side by
    side, which pen-ups tell better than the counter."""
    group, runs = found.group, found.runs
    whole = [_digit(runs, strokes, pen)]
    if held is None or len(runs) == 1:
        return [whole]
    one, several = held
    tall = all(run.height >= TALL_RUN * group.height for run in runs)
    if one >= SURE and not tall and group.width <= BROAD * group.height:
        return [whole]
    digits: dict[tuple[int, int], tuple[np.ndarray, Box, list[int]]] = {}
    ways = []
    for split in _splits(runs):
        for piece in split:
            if piece not in digits:
                digits[piece] = _digit(runs[piece[0] : piece[1]], strokes, pen)
        ways.append([digits[piece] for piece in split])
    if one < SURE and (several >= SURE or group.width > BROAD * group.height):
        return [*ways, whole]
    return [whole, *ways]


def _splits(runs: list[Group]) -> list[list[tuple[int, int]]]:
    """The ways to read ``runs`` as two or more digits, each a span of runs (first, end):
    each run a digit, then each way with two neighbours joined where the two are no wider
    than WIDE times their height; at most MAX_WAYS - 1 (the group whole is the other way)."""
    count = len(runs)
    alone = [(i, i + 1) for i in range(count)]
    splits = [alone]
    for i in range(count - 1 if count > 2 else 0):
        if _narrow(runs[i : i + 2]):
            splits.append([*alone[:i], (i, i + 2), *alone[i + 2 :]])
    return splits[: MAX_WAYS - 1]


def _narrow(runs: list[Group]) -> bool:
    x0, x1 = min(r.x0 for r in runs), max(r.x1 for r in runs)
    y0, y1 = min(r.y0 for r in runs), max(r.y1 for r in runs)
    return x1 - x0 <= WIDE * (y1 - y0)


def _digit(
    runs: list[Group], strokes: list[Stroke], pen: float
) -> tuple[np.ndarray, Box, list[int]]:
    """One digit drawn from the strokes of ``runs``: its image, box and strokes."""
    labels = sorted(i for run in runs for i in run.labels)
    box = (
        min(r.x0 for r in runs),
        min(r.y0 for r in runs),
        max(r.x1 for r in runs),
        max(r.y1 for r in runs),
    )
    return mnist_image([strokes[i] for i in labels], pen), box, labels


def _on_canvas(box: Box, group: Group, scale: float) -> Box:
    """A box found on a group's ink drawn at ``scale``, in the canvas's pixels."""
    x0, y0, x1, y1 = box
    return (
        group.x0 + int(x0 / scale),
        group.y0 + int(y0 / scale),
        min(group.x1, group.x0 + int(np.ceil(x1 / scale))),
        min(group.y1, group.y0 + int(np.ceil(y1 / scale))),
    )


def _strokes_in(box: Box, group: Group, strokes: list[Stroke]) -> list[int]:
    """The strokes of ``group`` with a point inside ``box``."""
    x0, y0, x1, y1 = box
    inside = []
    for i in group.labels:
        xs, ys = strokes[i].points[:, 0], strokes[i].points[:, 1]
        if bool(((xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)).any()):
            inside.append(i)
    return inside
