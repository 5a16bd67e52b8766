"""Digit forms MNIST hardly has, made from real pens: a barred or slashed 0, a crossed 7, a
1 with a flag and a foot.

Much of Europe crosses its 7s and writes a 1 with a long flag (often a foot too), and
programmers and some European schools bar or slash their zeros. MNIST's American writers
seldom do, and UNIPEN's training writers only now and then. So a training-family pen digit
of those classes is given its form (``with_form``): the stroke a writer adds is added to
the real strokes, in the order a writer draws it, and the digit is then drawn on the pad
as any pen digit is (``real_pens.drawn``). The open 4 and the 9 with a straight tail are
not made: they change a digit's own stroke, not add one, and UNIPEN's writers have them.

A digit with one stroke across it stays a digit: ``symbols`` says why (a crossed-out digit
is scribbled over densely). Off in the shipped models (``make_models train --pen-forms``,
default 0): the forms raised real pens by 0.4 points but cost canvas-style digits 0.2
(docs/models.md, "Real pens").
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from worker.trainer.unipen import PenCharacter

#: The digits given a form.
FORMED = frozenset("017")
#: Points along an added stroke (the page then records it at its own pace).
POINTS = 12
#: A 1 narrower than this share of its height has no flag yet.
PLAIN_WIDTH = 0.25
#: A 1's flag: degrees below the horizontal, and length as a share of the 1's height.
#: Flatter or longer, it is a 7's bar: flags of 20-55 degrees and 0.2-0.45 cost real-pen 7s
#: (read as 1s) what they gained for 1s.
FLAG_ANGLE = (35.0, 65.0)
FLAG_LENGTH = (0.15, 0.35)


def with_form(digit: PenCharacter, rng: np.random.Generator) -> PenCharacter:
    """``digit`` (a 0, 1 or 7) with the stroke its form adds; other digits as they are."""
    strokes = [np.asarray(s, dtype=np.float64)[:, :2] for s in digit.strokes]
    low = np.min([s.min(axis=0) for s in strokes], axis=0)
    high = np.max([s.max(axis=0) for s in strokes], axis=0)
    if digit.char == "0":
        added = _zero_bar(low, high, rng)
    elif digit.char == "7":
        added = _seven_bar(strokes, low, high, rng)
    elif digit.char == "1" and _plain(strokes, low, high):
        return replace(digit, strokes=_flagged(strokes[0], low, high, rng))
    else:
        return digit
    return replace(digit, strokes=[*strokes, *added])


def _line(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    return np.linspace(start, end, POINTS)


def _zero_bar(low: np.ndarray, high: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """A bar across the ring (about half the zeros), or a slash from its lower left to its
    upper right, each reaching a little past the ring."""
    width, height = high - low
    if rng.random() < 0.5:
        y = low[1] + height * rng.uniform(0.4, 0.6)
        tilt = height * rng.uniform(-0.06, 0.06)
        reach = width * rng.uniform(0.05, 0.3, size=2)
        return [_line(np.array([low[0] - reach[0], y + tilt]), np.array([high[0] + reach[1], y]))]
    over = rng.uniform(0.0, 0.15, size=2) * (width, height)
    start = np.array([low[0] - over[0], high[1] + over[1]])
    return [_line(start, np.array([high[0] + over[0], low[1] - over[1]]))]


def _seven_bar(
    strokes: list[np.ndarray], low: np.ndarray, high: np.ndarray, rng: np.random.Generator
) -> list[np.ndarray]:
    """A short bar across the 7's stem, a little below half its height."""
    width, height = high - low
    y = low[1] + height * rng.uniform(0.45, 0.65)
    crossings = [x for stroke in strokes for x in _crossings(stroke, y)]
    x = float(np.mean(crossings)) if crossings else float(low[0] + high[0]) / 2
    half = max(width, 0.3 * height) * rng.uniform(0.2, 0.35)
    tilt = height * rng.uniform(-0.04, 0.04)
    return [_line(np.array([x - half, y + tilt]), np.array([x + half * rng.uniform(0.8, 1.2), y]))]


def _crossings(stroke: np.ndarray, y: float) -> list[float]:
    """Where ``stroke`` crosses the height ``y``: the stem, on a 7."""
    (x0, y0), (x1, y1) = stroke[:-1].T, stroke[1:].T
    across = (np.minimum(y0, y1) <= y) & (y <= np.maximum(y0, y1)) & (y0 != y1)
    share = (y - y0[across]) / (y1[across] - y0[across])
    return (x0[across] + share * (x1[across] - x0[across])).tolist()


def _plain(strokes: list[np.ndarray], low: np.ndarray, high: np.ndarray) -> bool:
    """A 1 of one narrow stroke: one that has no flag yet."""
    width, height = high - low
    return len(strokes) == 1 and width < PLAIN_WIDTH * height


def _flagged(
    stem: np.ndarray, low: np.ndarray, high: np.ndarray, rng: np.random.Generator
) -> list[np.ndarray]:
    """The 1's stroke drawn from its top down, begun with a flag from below left of the top,
    and a foot under it in about a third of them."""
    height = float(high[1] - low[1])
    if stem[0, 1] > stem[-1, 1]:
        stem = stem[::-1]
    angle = np.radians(rng.uniform(*FLAG_ANGLE))  # below the horizontal, to the left
    start = stem[0] + height * rng.uniform(*FLAG_LENGTH) * np.array([-np.cos(angle), np.sin(angle)])
    flagged = [np.concatenate([_line(start, stem[0])[:-1], stem])]
    if rng.random() < 1 / 3:
        half = height * rng.uniform(0.15, 0.3)
        flagged.append(_line(stem[-1] - (half, 0), stem[-1] + (half, 0)))
    return flagged
