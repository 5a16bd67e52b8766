"""Reading a canvas from the strokes the page recorded: the pixel path's answer, without
its PNG, and digits parted where the pen was lifted.

Each drawing is made twice, as the page sends it: the strokes (points every few pixels,
milliseconds since the drawing's first point; ``tests.strokes.recorded``) and the PNG of the same strokes drawn with the page's
pen (``tests.helpers.hand_drawn``, 1/14 of the pad's height).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.canvas import Canvas, preprocess_canvas_png
from shared.errors import EmptyCanvas, InkTooSmall, TooManyDigits
from shared.imaging import MAX_DIGITS, mnist_of_image
from shared.stroke_canvas import canvas_from_strokes, stroke_canvas
from shared.stroke_grouping import MAX_STROKES
from shared.stroke_render import draw_ink, prepared
from tests.helpers import hand_drawn
from tests.strokes import (
    FIVE_WITH_A_LOOSE_FLAG,
    FOUR_IN_TWO_STROKES,
    ONE,
    OPEN_ZERO,
    SEVEN_WITH_CROSSBAR,
    TWO,
    ZERO,
    Stroke,
    recorded,
    shifted,
)

SQUARE = (280, 280)
PAD = (840, 280)
#: The page's pen on a pad 280 px high.
PEN = 20
#: Mean absolute difference (grey levels of 255) between the two readings' 28x28 images of
#: one drawing, the one moved by up to a pixel to fit the other best: centring by centre
#: of mass rounds to whole pixels, and two renderings of one drawing may round either way.
NEAR = 4.0


def both(strokes: list[Stroke], size: tuple[int, int]) -> tuple[Canvas, Canvas, list[list[int]]]:
    """The drawing read from its PNG, and from its strokes (with each image's strokes)."""
    pixels = preprocess_canvas_png(hand_drawn(strokes, size, PEN), 4096, MAX_DIGITS)
    found = stroke_canvas(recorded(strokes), size[0], size[1], MAX_DIGITS)
    assert found is not None
    return pixels, found[0], found[1]


def difference(a: np.ndarray, b: np.ndarray) -> float:
    """The mean absolute difference of two 28x28 images, ``a`` moved by up to a pixel."""
    moved = [
        np.roll(a.astype(np.int64), (dy, dx), (0, 1)) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
    ]
    return min(float(np.abs(m - b.astype(np.int64)).mean()) for m in moved)


def assert_same_reading(pixels: Canvas, strokes: Canvas) -> None:
    assert strokes.readings == pixels.readings
    for ours, theirs in zip(strokes.images, pixels.images, strict=True):
        assert difference(ours, theirs) < NEAR
    for ours, theirs in zip(strokes.boxes, pixels.boxes, strict=True):
        assert np.abs(np.subtract(ours, theirs)).max() <= 2


@pytest.mark.parametrize(
    "strokes",
    [ONE, TWO, ZERO, OPEN_ZERO, SEVEN_WITH_CROSSBAR, FOUR_IN_TWO_STROKES, FIVE_WITH_A_LOOSE_FLAG],
    ids=["one", "two", "zero", "open-zero", "seven", "four-in-two-strokes", "five-with-a-flag"],
)
def test_a_digit_reads_from_its_strokes_as_from_its_png(strokes):
    pixels, ours, _ = both(shifted(strokes, 70, 10), SQUARE)
    assert_same_reading(pixels, ours)


def test_a_number_reads_from_its_strokes_as_from_its_png():
    number = ONE + shifted(SEVEN_WITH_CROSSBAR, 200) + shifted(FOUR_IN_TWO_STROKES, 420)
    pixels, ours, _ = both(number + shifted(ZERO, 640), PAD)
    assert_same_reading(pixels, ours)


def test_each_image_names_the_strokes_it_was_drawn_from():
    number = ONE + shifted(SEVEN_WITH_CROSSBAR, 200) + shifted(ZERO, 420)
    _, canvas, sources = both(number, PAD)
    assert canvas.readings == [[[1]], [[2]], [[3]]]
    assert sources == [[0, 1, 2, 3], [0], [1, 2], [3]]


def test_touching_digits_are_parted_where_the_pen_was_lifted():
    zeros = shifted(ZERO, 100) + shifted(ZERO, 200)  # the second 0 overlaps the first
    pixels, ours, sources = both(zeros, PAD)
    assert len(pixels.readings) == 1  # one blot to the pixel path, cut where it is thinnest
    first_way = ours.readings[0][0]
    assert [sources[i] for i in first_way] == [[0], [1]]


def test_a_seven_crossed_after_the_next_digit_is_still_one_seven():
    seven, crossbar = shifted(SEVEN_WITH_CROSSBAR, 100)
    _, ours, sources = both([seven, *shifted(ONE, 300), crossbar], PAD)
    assert [[sources[i] for i in ways[0]] for ways in ours.readings] == [[[0, 2]], [[1]]]


def test_a_stroke_joining_two_digits_is_read_by_the_pixel_rules():
    joined = [shifted(ZERO, 100)[0] + shifted(ZERO, 240)[0]]  # one stroke, pen never lifted
    pixels, ours, _ = both(joined, PAD)
    assert ours.readings == pixels.readings
    assert any(len(way) == 2 for ways in ours.readings for way in ways)


def test_strokes_off_the_canvas_are_not_trusted():
    off = recorded(shifted(ONE, 300, 100))  # its foot 40 px below the pad
    assert canvas_from_strokes(off, *PAD, MAX_DIGITS) is None


def test_a_stroke_across_the_whole_pad_is_not_trusted():
    line = recorded([[(20, 140), (820, 150)]] + shifted(ONE, 300))
    assert canvas_from_strokes(line, *PAD, MAX_DIGITS) is None


def test_a_scribble_of_more_ink_than_six_digits_is_not_trusted():
    zigzag = [[(300 + 3 * i, 20 if i % 2 else 260) for i in range(80)]]  # 19,000 px of ink
    assert canvas_from_strokes(recorded(zigzag), *PAD, MAX_DIGITS) is None


def test_more_strokes_than_the_pixel_path_takes_are_not_trusted():
    hatching = [[(100 + 8 * i, 60), (100 + 8 * i, 200)] for i in range(MAX_STROKES + 1)]
    assert canvas_from_strokes(recorded(hatching), *PAD, MAX_DIGITS) is None


@pytest.mark.parametrize("strokes", [[], [[]]], ids=["no-strokes", "a-stroke-of-no-points"])
def test_no_ink_is_an_empty_canvas(strokes):
    with pytest.raises(EmptyCanvas):
        canvas_from_strokes(strokes, *PAD, MAX_DIGITS)


def test_more_digits_than_a_number_holds_are_refused():
    ones = [stroke for x in range(20, 760, 100) for stroke in shifted(ONE, x)]
    with pytest.raises(TooManyDigits):
        canvas_from_strokes(recorded(ones), *PAD, MAX_DIGITS)


def test_ink_too_small_to_read_is_refused():
    dot = recorded(shifted(ONE, 300, 100, scale=0.05))
    with pytest.raises(InkTooSmall):
        canvas_from_strokes(dot, *PAD, MAX_DIGITS, readable=True)


@pytest.mark.parametrize("pen", [9.0, 20.0])
def test_strokes_are_drawn_where_they_lie_as_wide_as_the_pen(pen):
    """Pillow draws a wide line about a quarter pixel to one side of its path, and wider or
    narrower than asked: over strokes in several directions and places, the renderer's
    ink is centred on the strokes and as wide as the pen (to Pillow's whole pixels)."""
    errors, areas = [], []
    for direction in [(1, 0), (0, 1), (1, 1), (-1, 0.4), (0.3, -1)]:
        along = np.array(direction) / np.hypot(*direction)
        for k in range(10):
            middle = np.array([50 + k / 10, 40 + (3 * k % 10) / 10])
            ends = [middle - 30 * along, middle + 30 * along]
            stroke = prepared([[[*ends[0], 0], [*ends[1], 100]]], pen)
            ink = np.asarray(draw_ink(stroke, pen, 1.0, (0.0, 0.0), (100, 100)), np.float64)
            rows, cols = np.indices(ink.shape)
            centre = np.array([(cols * ink).sum(), (rows * ink).sum()]) / ink.sum() + 0.5
            errors.append(centre - middle)
            areas.append((ink > 0).sum() / (60 * pen + np.pi * pen**2 / 4))
    assert np.abs(np.mean(errors, axis=0)).max() < 0.1
    assert np.mean(areas) == pytest.approx(1, abs=0.1)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.floats(20, 250), st.floats(20, 250)), min_size=1, max_size=12),
        min_size=1,
        max_size=5,
    ),
    st.floats(0.2, 1.5),
)
def test_drawn_ink_reads_as_its_thresholded_ink_does(points, scale):
    """Ink drawn without anti-aliasing skips the threshold's table (``drawn``): the same
    28x28 image as the thresholded read of the same ink."""
    strokes = prepared([[[x, y, 10 * i] for i, (x, y) in enumerate(s)] for s in points], PEN)
    ink = draw_ink(strokes, PEN, scale, (0.0, 0.0), (400, 400), both_ways=False)
    assert np.array_equal(mnist_of_image(ink, drawn=True), mnist_of_image(ink))


def test_the_pen_dots_each_strokes_ends_and_turns():
    """Dots go at both ends of every stroke and where it turns, never across strokes:
    computed for all strokes at once (``prepared``)."""
    corner = [[0, 0, 0], [50, 0, 10], [100, 0, 20], [100, 50, 30], [100, 100, 40]]
    straight = [[0, 200, 0], [50, 200, 10], [100, 200, 20]]
    drawn = prepared([corner, straight, [[5, 5, 0]]], PEN)
    assert [stroke.dots.tolist() for stroke in drawn] == [
        [True, False, True, False, True],
        [True, False, True],
        [True],
    ]


def test_no_strokes_draw_blank_paper():
    assert not np.asarray(draw_ink([], PEN, 1.0, (0.0, 0.0), (10, 10))).any()
