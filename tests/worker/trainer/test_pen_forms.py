"""Digit forms MNIST hardly has, made from real pens (``worker.trainer.pen_forms``)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.trainer.pen_forms import PLAIN_WIDTH, with_form
from worker.trainer.tools.real_pens import drawn
from worker.trainer.unipen import PenCharacter

#: A ring drawn in one stroke, a 7 (bar, then stem) and a plain 1, y downwards.
RING = np.stack([np.cos(a := np.linspace(0, 2 * np.pi, 40)) * 40, np.sin(a) * 60], axis=1)
SEVEN = np.array([[0.0, 0.0], [80.0, 0.0], [30.0, 120.0]])
ONE = np.array([[50.0, 0.0], [48.0, 60.0], [46.0, 120.0]])


def pen(char: str, *strokes: np.ndarray) -> PenCharacter:
    return PenCharacter(char, list(strokes), "apb/w1", "apb")


def box(strokes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    points = np.concatenate(strokes)
    return points.min(axis=0), points.max(axis=0)


@given(seed=st.integers(0, 2**32 - 1))
@settings(max_examples=50, deadline=None)
def test_a_zero_gets_a_stroke_through_its_ring(seed: int) -> None:
    formed = with_form(pen("0", RING), np.random.default_rng(seed))
    assert len(formed.strokes) == 2 and formed.char == "0"
    bar = formed.strokes[1]
    # it crosses the ring: it starts left of the ring's middle and ends right of it
    assert bar[0, 0] < -20 and bar[-1, 0] > 20
    low, high = box(formed.strokes)
    assert high[1] - low[1] < 1.5 * 120  # a bar or a slash, not a digit's worth of ink


@given(seed=st.integers(0, 2**32 - 1))
@settings(max_examples=50, deadline=None)
def test_a_seven_gets_a_short_bar_across_its_stem(seed: int) -> None:
    formed = with_form(pen("7", SEVEN), np.random.default_rng(seed))
    assert len(formed.strokes) == 2
    bar = formed.strokes[1]
    y = bar[:, 1].mean()
    assert 45 < y < 85  # a little below half the 7's height
    stem_x = np.interp(y, SEVEN[1:, 1], SEVEN[1:, 0])
    assert bar[:, 0].min() < stem_x < bar[:, 0].max()
    assert np.ptp(bar[:, 0]) < 80  # shorter than the 7's top


@given(seed=st.integers(0, 2**32 - 1))
@settings(max_examples=50, deadline=None)
def test_a_plain_one_gets_a_flag_and_sometimes_a_foot(seed: int) -> None:
    formed = with_form(pen("1", ONE[::-1]), np.random.default_rng(seed))  # drawn upwards
    first = formed.strokes[0]
    # the flag leads into the top of the stem, from below left of it
    top = int(np.argmin(first[:, 1]))
    assert 0 < top < len(first) - 1 and first[0, 0] < first[top, 0] and first[0, 1] > first[top, 1]
    assert first[-1, 1] == 120  # then the stem, top down
    assert len(formed.strokes) in (1, 2)


def test_other_digits_and_flagged_ones_are_kept_as_they_are() -> None:
    rng = np.random.default_rng(0)
    four = pen("4", SEVEN)
    assert with_form(four, rng) is four
    wide = np.array([[0.0, 40.0], [PLAIN_WIDTH * 200 + 10, 0.0], [PLAIN_WIDTH * 200 + 10, 120.0]])
    flagged = pen("1", wide)
    assert with_form(flagged, rng) is flagged
    two_strokes = pen("1", ONE, ONE + (0, 1))
    assert with_form(two_strokes, rng) is two_strokes


def test_a_formed_digit_is_drawn_as_any_pen_digit() -> None:
    rng = np.random.default_rng(1)
    plain, formed = drawn(pen("0", RING), rng), drawn(with_form(pen("0", RING), rng), rng)
    assert plain.shape == formed.shape == (28, 28)
    # the bar adds ink through the middle of the ring, where a plain 0 has none
    assert formed[12:16, 10:18].sum() > plain[12:16, 10:18].sum() + 255
