"""Drawings on the draw page's 840x280 pad, as strokes of points in pad pixels: three that
are not numbers (a K, a long arrow, a plus sign) and a number (2024). Drawn into images with
``tests.helpers.hand_drawn`` and the page's pen (1/14 of the height), or with the mouse in
the browser (as shares of the pad)."""

from __future__ import annotations

from tests.strokes import FOUR_IN_TWO_STROKES, TWO, ZERO, Stroke, shifted

PAD = (840, 280)
#: The page's pen on the pad: 1/14 of its height.
PEN = 20

K = [[(380, 40), (380, 240)], [(500, 40), (385, 150), (500, 240)]]
#: Pointing right across two thirds of the pad, its head drawn in one stroke.
ARROW = [[(150, 140), (690, 150)], [(630, 100), (690, 150), (630, 200)]]
PLUS = [[(420, 60), (420, 220)], [(340, 140), (500, 140)]]
NOT_NUMBERS = {"K": K, "arrow": ARROW, "plus": PLUS}
YEAR_2024 = (
    shifted(TWO, 100) + shifted(ZERO, 260) + shifted(TWO, 420) + shifted(FOUR_IN_TWO_STROKES, 580)
)


def as_shares(strokes: list[Stroke]) -> list[list[tuple[float, float]]]:
    """``strokes`` as shares of the pad's width and height, as the browser tests draw."""
    return [[(x / PAD[0], y / PAD[1]) for x, y in stroke] for stroke in strokes]
