"""Digits as a person draws them on the page: strokes of points in canvas pixels, each
digit at the canvas's left edge (``shifted`` places it). Drawn into images with
``tests.helpers.hand_drawn``, or with the mouse in the browser."""

from __future__ import annotations

import math

Stroke = list[tuple[float, float]]


def shifted(strokes: list[Stroke], dx: float, dy: float = 0, scale: float = 1) -> list[Stroke]:
    """``strokes`` moved right by ``dx`` and down by ``dy``, after scaling by ``scale``."""
    return [[(x * scale + dx, y * scale + dy) for x, y in stroke] for stroke in strokes]


def recorded(strokes: list[Stroke]) -> list[list[list[float]]]:
    """``strokes`` as the page records and sends them: a point every 3 px or so, as
    ``[x, y, t]`` rounded, ``t`` milliseconds since the drawing's first point (8 ms a point,
    50 ms between strokes)."""
    drawn: list[list[list[float]]] = []
    t = 0
    for stroke in strokes:
        t += 50 if drawn else 0
        points = [[round(stroke[0][0]), round(stroke[0][1]), t]]
        for (x0, y0), (x1, y1) in zip(stroke[:-1], stroke[1:], strict=True):
            steps = max(1, round(math.hypot(x1 - x0, y1 - y0) / 3))
            for k in range(1, steps + 1):
                t += 8
                x, y = x0 + (x1 - x0) * k / steps, y0 + (y1 - y0) * k / steps
                points.append([round(x), round(y), t])
        drawn.append(points)
    return drawn


def leaning(strokes: list[Stroke], slant: float = 0.3) -> list[Stroke]:
    """``strokes`` written leaning right, their tops ``slant`` columns a row further right."""
    return [[(x + slant * (130 - y), y) for x, y in stroke] for stroke in strokes]


SEVEN_WITH_CROSSBAR = [[(20, 40), (120, 40), (60, 220)], [(50, 130), (115, 130)]]
# The bar crosses the stem, as most people draw a 4 in two strokes.
FOUR_IN_TWO_STROKES = [[(40, 40), (20, 150), (130, 150)], [(100, 60), (100, 230)]]
# Or with the bar stopping short of the stem: two strokes that do not touch.
OPEN_FOUR = [[(40, 40), (20, 150), (85, 150)], [(105, 60), (105, 230)]]
FIVE_WITH_A_LOOSE_FLAG = [
    [(40, 62), (35, 120), (90, 115), (115, 160), (95, 215), (35, 210)],
    [(64, 40), (125, 40)],
]
ONE = [[(60, 40), (60, 220)]]
TWO = [[(20, 80), (60, 40), (110, 60), (100, 120), (20, 220), (120, 215)]]
ZERO = [[(60, 40), (110, 70), (115, 180), (60, 220), (10, 180), (15, 70), (60, 40)]]
OPEN_ZERO = [[(95, 42), (150, 75), (155, 180), (85, 220), (15, 185), (20, 75), (65, 45)]]
