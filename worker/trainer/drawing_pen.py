"""The page's pen, for drawing negatives (``negatives``): round caps and joints, a slight
wobble, about 1/14 of the canvas side wide, and where on the canvas a drawing goes; and the
hand that copies a model (a glyph, a symbol) with slant, wobble and shaky strokes."""

from __future__ import annotations

import math
from collections.abc import Sequence
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
        if len(wobbly) > 1:
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


@dataclass(frozen=True)
class Hand:
    """How a hand deforms what it copies. Ranges are drawn uniformly; sizes are shares of
    the drawing's size. Each family of negatives has a hand of its own (``HANDS``)."""

    #: Shear: how far the top leans right per unit of height.
    slant: tuple[float, float]
    #: Rotation, radians.
    turn: tuple[float, float]
    #: Width stretched against height.
    aspect: tuple[float, float]
    #: Amplitude of a slow wave through the whole drawing.
    wobble: tuple[float, float]
    #: Each stroke's own shift (the pen lifted and put down a little off).
    jitter: float


#: The hands of the two families: no parameter in common.
HANDS = {
    "training": Hand(
        slant=(-0.2, 0.4), turn=(-0.2, 0.2), aspect=(0.75, 1.25), wobble=(0.0, 0.03), jitter=0.015
    ),
    "held_out": Hand(
        slant=(-0.3, 0.5), turn=(-0.25, 0.25), aspect=(0.7, 1.3), wobble=(0.005, 0.04), jitter=0.02
    ),
}


def resample(stroke: np.ndarray, step: float) -> np.ndarray:
    """Points every ``step`` along a polyline, so that a wave bends it smoothly."""
    if len(stroke) < 2:
        return stroke
    lengths = np.hypot(*np.diff(stroke, axis=0).T)
    along = np.concatenate([[0.0], np.cumsum(lengths)])
    if along[-1] <= 0:
        return stroke[:1]
    t = np.linspace(0, along[-1], max(2, int(along[-1] / step) + 1))
    return np.stack([np.interp(t, along, stroke[:, 0]), np.interp(t, along, stroke[:, 1])], 1)


def copied(
    strokes: Sequence[Sequence[tuple[float, float]]], rng: np.random.Generator, hand: Hand
) -> list[Points]:
    """``strokes`` (any units, y down) as the hand copies them, fitted to a ``box``."""
    arrays = [np.asarray(s, dtype=np.float64).reshape(-1, 2) for s in strokes if len(s)]
    everything = np.concatenate(arrays)
    low, high = everything.min(axis=0), everything.max(axis=0)
    size = max(float((high - low).max()), 1e-6)
    arrays = [resample((a - (low + high) / 2) / size, 0.02) for a in arrays]
    slant, turn = rng.uniform(*hand.slant), rng.uniform(*hand.turn)
    stretch = rng.uniform(*hand.aspect)
    linear = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])
    linear = linear @ np.array([[stretch, -slant * stretch], [0.0, 1.0]])
    amplitude, frequency = rng.uniform(*hand.wobble), rng.uniform(0.5, 1.5, size=2)
    phase = rng.uniform(0, 2 * math.pi, size=2)
    moved = []
    for a in arrays:
        b = a @ linear.T + rng.normal(0, hand.jitter, size=2)
        wave = amplitude * np.sin(2 * math.pi * frequency * b[:, ::-1] + phase)
        moved.append(b + wave)
    everything = np.concatenate(moved)
    low, high = everything.min(axis=0), everything.max(axis=0)
    cx, cy, r = box(rng)
    scale = 2 * r / max(float((high - low).max()), 1e-6)
    centre = (low + high) / 2
    return [[(float(x), float(y)) for x, y in (m - centre) * scale + (cx, cy)] for m in moved]
