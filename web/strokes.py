"""The optional ``strokes`` a page sends beside its PNG: checked and bounded before use.

The strokes are read instead of the PNG when they can stand for its ink
(``web.drawings``, ``shared.stroke_canvas``): digits part where the pen was lifted. A
client may send anything, so malformed strokes (not numbers, NaN or infinite, more points
than a drawing has) are a 400 here, before any work; the caps also bound what reading
them costs. Strokes that are well formed but do not fit the PNG are not an error: the PNG
is read instead.
"""

from __future__ import annotations

import math
from typing import Any

from shared.errors import InvalidRequest

#: At most this many strokes, this many points each, and this many points in all.
MAX_STROKES = 64
MAX_POINTS_PER_STROKE = 2000
MAX_POINTS = 10_000


def check_strokes(strokes: Any) -> None:
    """``[[[x, y, t], ...], ...]``: finite numbers, within the bounds above; else 400."""
    if not isinstance(strokes, list) or len(strokes) > MAX_STROKES:
        raise InvalidRequest(f"strokes must be a list of at most {MAX_STROKES} strokes")
    total = 0
    for stroke in strokes:
        if not isinstance(stroke, list) or len(stroke) > MAX_POINTS_PER_STROKE:
            raise InvalidRequest(
                f"each stroke must be a list of at most {MAX_POINTS_PER_STROKE} [x, y, t] points"
            )
        total += len(stroke)
        for point in stroke:
            if not (
                isinstance(point, list)
                and len(point) == 3
                and all(_finite(value) for value in point)
            ):
                raise InvalidRequest("each point of a stroke must be [x, y, t], three numbers")
    if total > MAX_POINTS:
        raise InvalidRequest(f"strokes may hold at most {MAX_POINTS} points in all")


def _finite(value: Any) -> bool:
    """A JSON number a float can hold: an integer of 310 digits or more is no coordinate
    (and ``math.isfinite`` raises on it rather than answer)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False
