"""The parts of composed numbers the models also learn from (``worker.trainer.tools.number_parts``):
each image segmentation offers, labelled by the digit whose ink it holds, or "not a digit"."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from shared import answers
from shared.imaging import INK_THRESHOLD, MAX_DIGITS, ink_canvas_png, ink_from_image, load_png
from shared.segmentation import OTHER_CUTS, segment
from tests.helpers import hand_drawn
from worker.trainer.tools import number_parts
from worker.trainer.tools.numbers import compose, compose_layers


@pytest.fixture(scope="module")
def touching(mnist_sample) -> tuple[np.ndarray, list[np.ndarray], list[int]]:
    """A 4 and a 2 written so close that their ink runs together, with each one's layer."""
    digits, labels = mnist_sample["x_test"], mnist_sample["y_test"]
    four, two = (digits[np.flatnonzero(labels == d)[0]] for d in (4, 2))
    rng = np.random.default_rng(3)
    for _ in range(500):
        canvas, layers = compose_layers([four, two], rng)
        if ndimage.label(canvas > INK_THRESHOLD)[1] == 1:
            return canvas, layers, [4, 2]
    raise AssertionError("no touching pair in 500 tries")


def test_compose_layers_are_the_canvas_split_by_digit(mnist_sample):
    digits = list(mnist_sample["x_test"][:3])
    canvas, layers = compose_layers(digits, np.random.default_rng(5))
    assert len(layers) == 3
    assert np.array_equal(np.maximum.reduce(layers), canvas)
    # compose draws the same canvas from the same generator
    assert np.array_equal(compose(digits, np.random.default_rng(5)), canvas)


def test_a_part_is_a_digit_only_with_nearly_all_its_ink_and_little_of_another():
    assert number_parts._label([0.97, 0.05], [4, 2]) == 4
    assert number_parts._label([0.05, 0.95], [4, 2]) == 2
    # two digits in one image, and half of one, are not digits
    assert number_parts._label([0.9, 0.6], [4, 2]) == answers.NOT_DIGIT
    assert number_parts._label([0.4, 0.0], [4, 2]) == answers.NOT_DIGIT
    # ... unless the piece is a narrow stroke: the stem of a 4 is what a 1 looks like
    assert number_parts._label([0.4, 0.0], [4, 2], broad=False) is None
    # in between: taught neither way
    assert number_parts._label([0.75, 0.0], [4, 2]) is None
    assert number_parts._label([0.95, 0.25], [4, 2]) is None


def test_touching_digits_give_both_digits_and_a_merged_not_a_digit(touching):
    canvas, layers, truth = touching
    png = ink_canvas_png(Image.fromarray(canvas))
    labelled = number_parts._labelled_parts(png, layers, truth)
    labels = [label for _, label in labelled]
    # Read whole, the touching pair is no digit; cut, each side is its digit.
    assert answers.NOT_DIGIT in labels and 4 in labels and 2 in labels
    for image, _ in labelled:
        assert image.shape == (28, 28) and image.dtype == np.uint8 and image.max() > 0


def test_training_parts_try_more_cuts_than_web_offers():
    # A broad zigzag, not wide enough to be cut for sure: web's rules offer it whole or cut
    # once (the group counter, which web also asks, is left out of training parts).
    zigzag = [[(20, 40), (55, 220), (90, 50), (125, 220), (160, 40)]]
    work = ink_from_image(load_png(hand_drawn(zigzag, (280, 280), 18), 4096))
    web, _ = segment(work, MAX_DIGITS, counter=False)
    training, _ = segment(work, MAX_DIGITS, cuts=number_parts.CUTS, counter=False)
    assert len(web) == len(training) == 1
    assert len(web[0]) == 1 + OTHER_CUTS < len(training[0]) <= 1 + number_parts.CUTS
    boxes = [[[part.box for part in way] for way in ways] for ways in (web[0], training[0])]
    assert boxes[1][0] == boxes[0][0]  # the image's own reading comes first either way
    assert boxes[0][1] in boxes[1][1:]  # and web's cut is among the training ones


def test_number_parts_are_reproducible_and_labelled(mnist_sample):
    digits, labels = mnist_sample["x_train"], mnist_sample["y_train"]
    x, y = number_parts.number_parts(digits, labels, 15, seed=3)
    again, y_again = number_parts.number_parts(digits, labels, 15, seed=3)
    assert np.array_equal(x, again) and np.array_equal(y, y_again)
    assert x.shape == (len(y), 28, 28) and len(y) >= 15 * 2
    assert set(y.tolist()) <= set(range(answers.NOT_DIGIT + 1))
    assert (y == answers.NOT_DIGIT).any() and (y < answers.NOT_DIGIT).sum() >= 15


def test_parts_come_only_from_digits_the_models_fit(mnist_sample):
    """The development number set is made of the validation digits: parts cut from them
    would leak it into training."""
    from worker.trainer.mnist import Mnist
    from worker.trainer.tools.make_models import parts_to_fit
    from worker.trainer.training import validation_digits

    x, y = mnist_sample["x_train"], mnist_sample["y_train"].astype(np.int64)
    held_out = validation_digits(len(x), 30, seed=9)
    assert 0 < held_out.sum() < len(x) / 4
    # Mark the held-out digits so a part cut from one would show: blank them out.
    marked = x.copy()
    marked[held_out] = 0
    data = Mnist(marked, y, mnist_sample["x_test"], mnist_sample["y_test"])
    parts, _ = parts_to_fit(data, 30, 10, seed=9)
    assert len(parts) > 0  # blank digits give no ink: every part came from a fitted one
    untouched, _ = parts_to_fit(Mnist(x, y, data.x_test, data.y_test), 30, 10, seed=9)
    assert np.array_equal(parts, untouched)
