"""The optional ``strokes`` a page sends beside its PNG: checked and bounded before use.

The strokes are read instead of the PNG when they can stand for its ink
(``web.drawings``, ``shared.stroke_canvas``): digits part where the pen was lifted. A
client may send anything, so malformed strokes (not numbers, NaN or infinite, more points
than a drawing has) are a 400 here, before any work; the caps also bound what reading
them costs. Strokes that are well formed but do not fit the PNG are not an error: the PNG
is read instead.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

import numpy as np

from shared.errors import InvalidRequest

#: At most this many strokes, this many points each, and this many points in all.
MAX_STROKES = 64
MAX_POINTS_PER_STROKE = 2000
MAX_POINTS = 10_000


def check_strokes(strokes: Any) -> None:
    """``[[[x, y, t], ...], ...]``: finite numbers, within the bounds above; else 400.

    The shape is checked point by point, the numbers all at once: their types in one
    pass of ``map`` and their finiteness in NumPy (a few hundred points a drawing)."""
    if not isinstance(strokes, list) or len(strokes) > MAX_STROKES:
        raise InvalidRequest(f"strokes must be a list of at most {MAX_STROKES} strokes")
    total = 0
    for stroke in strokes:
        if not isinstance(stroke, list) or len(stroke) > MAX_POINTS_PER_STROKE:
            raise InvalidRequest(
                f"each stroke must be a list of at most {MAX_POINTS_PER_STROKE} [x, y, t] points"
            )
        total += len(stroke)
        if not all(type(point) is list and len(point) == 3 for point in stroke):
            raise _not_points()
    if total > MAX_POINTS:
        raise InvalidRequest(f"strokes may hold at most {MAX_POINTS} points in all")
    values = list(chain.from_iterable(chain.from_iterable(strokes)))
    if not set(map(type, values)) <= NUMBERS or not _finite(values):
        raise _not_points()


#: The types a JSON number is read as (never bool, though it is an int).
NUMBERS = {int, float}


def _not_points() -> InvalidRequest:
    return InvalidRequest("each point of a stroke must be [x, y, t], three numbers")


def _finite(values: list[int | float]) -> bool:
    """Whether every number is one a float can hold: an integer of 310 digits or more is
    no coordinate (and NumPy raises on it rather than answer)."""
    try:
        return bool(np.isfinite(np.fromiter(values, dtype=np.float64, count=len(values))).all())
    except OverflowError:
        return False
