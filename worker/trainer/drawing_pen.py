"""The page's pen, for drawing negatives (``negatives``): round caps and joints, a slight
wobble, about 1/14 of the canvas side wide, and where on the canvas a drawing goes."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import ImageDraw

SIDE = 280
#: The page's pen is 1/14 of the pad's height; people's drawings fill part of the pad.
PEN = SIDE / 14

Canvas = ImageDraw.ImageDraw
Points = list[tuple[float, float]]


@dataclass(frozen=True)
class Pen:
    """Where a drawing goes on the canvas and how wide the pen is."""

    rng: np.random.Generator
    width: int

    def line(self, draw: Canvas, points: Points) -> None:
        """A stroke with round caps and joints, as the page's canvas draws it."""
        wobbly = [(x + self.rng.normal(0, 1.5), y + self.rng.normal(0, 1.5)) for x, y in points]
        draw.line(wobbly, fill=255, width=self.width, joint="curve")
        r = self.width / 2
        for x, y in (wobbly[0], wobbly[-1]):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)


def box(rng: np.random.Generator) -> tuple[float, float, float]:
    """Centre and radius of a shape: people draw big or small, not always in the middle."""
    r = rng.uniform(50, 120)
    return rng.uniform(r, SIDE - r), rng.uniform(r, SIDE - r), r


def ring(cx: float, cy: float, r: float, n: int, turn: float = 0.0, aspect: float = 1.0) -> Points:
    """``n`` points around an ellipse, back to the first."""
    return [
        (
            cx + r * aspect * math.cos(turn + 2 * math.pi * i / n),
            cy + r * math.sin(turn + 2 * math.pi * i / n),
        )
        for i in range(n + 1)
    ]
