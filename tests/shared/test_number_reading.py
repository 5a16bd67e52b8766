"""The rule that says a drawing is not a number (``shared.number_reading.is_number``), on
answers made here: issue 39."""

from __future__ import annotations

import pytest

from shared.number_reading import (
    NUMBER_SURE,
    UNSURE,
    accepted,
    answer,
    is_number,
    part_digit,
    sureness,
)


def model_answer(digit: int, p: float, not_digit: float = 0.0, refused: bool = False) -> dict:
    """One model's answer: ``digit`` at ``p`` among the ten (the rest spread evenly)."""
    rest = (1 - p) / 9
    probabilities = [p if d == digit else rest for d in range(10)]
    return {
        "digit": None if refused else digit,
        "probabilities": probabilities,
        "not_digit": not_digit,
        "version": 1,
    }


def image(digit: int, p: float = 1.0, not_digit: float = 0.0, refused: bool = False) -> dict:
    """Both models' answers for one image, the same from each."""
    one = model_answer(digit, p, not_digit, refused)
    return {"fnn": one, "cnn": dict(one)}


SURE = image(3)
REFUSED = image(1, not_digit=0.99, refused=True)


def test_a_part_either_model_refuses_is_not_sure_at_all():
    assert sureness(SURE) == pytest.approx(1.0)
    assert sureness(REFUSED) == 0.0
    half = {"fnn": model_answer(3, 1.0, 0.9, refused=True), "cnn": model_answer(3, 1.0)}
    assert sureness(half) == 0.0
    # Without a refusal: the two models' agreement on the CNN's digit.
    assert sureness(image(3, p=0.8, not_digit=0.1)) == pytest.approx((0.8 * 0.9) ** 2)


def test_a_k_read_as_a_refused_part_and_an_unsure_2_is_not_a_number():
    # The K: both models refuse the whole canvas; its stem is refused, its arms
    # read as a 2 at 34 %.
    parts = [REFUSED, image(2, p=0.34)]
    assert not is_number(REFUSED, parts)
    shown = answer(REFUSED, [{"box": [0, 0, 1, 1], **part} for part in parts])
    assert shown["text"] is None
    assert shown["not_a_number"] is True and shown["reason"] == UNSURE
    assert len(shown["digits"]) == 2  # what was found is kept, to show


def test_a_word_read_as_guesses_is_not_a_number():
    parts = [REFUSED, image(7, p=0.7), image(2, p=0.8), REFUSED]  # "?72?"
    assert not is_number(REFUSED, parts)


def test_one_unsure_part_among_confident_digits_still_reads_and_is_marked():
    parts = [image(3), REFUSED, image(7, p=0.95)]
    assert is_number(REFUSED, parts)
    shown = answer(REFUSED, [dict(part) for part in parts])
    read = [{**part, "digit": digit} for part, digit in zip(parts, (3, None, 7), strict=True)]
    assert shown == {"text": "3?7", "digits": read, "not_a_number": False}


def test_a_canvas_surely_one_digit_reads_even_when_its_parts_do_not():
    # A digit drawn in strokes that segmentation parted: the whole is surely a 4.
    assert is_number(image(4), [REFUSED, REFUSED])


def test_the_bar_is_where_the_parts_average_reads():
    p = NUMBER_SURE**0.5  # each model at p: the agreement is NUMBER_SURE itself
    assert is_number(REFUSED, [image(5, p=p + 1e-6), image(5, p=p + 1e-6)])
    assert not is_number(REFUSED, [image(5, p=p - 1e-3), image(5, p=p - 1e-3)])
    assert not is_number(REFUSED, [])


def test_a_canvas_both_models_read_as_a_digit_is_a_number_however_unsure():
    # A wide, flat 7 drawn on the pad (2026-12-07): the CNN reads 7 at 97.8 % with "not a
    # digit" at 0.34, the FNN 7 at 90.3 % with 0.63, both under their thresholds. Together
    # they are 0.22 sure; the rule once answered it "not a number" beside the page's 7.
    flat = {
        "cnn": model_answer(7, 0.978, not_digit=0.34),
        "fnn": model_answer(7, 0.903, not_digit=0.63),
    }
    assert accepted(flat) and sureness(flat) < 0.3
    assert is_number(flat, [flat])
    assert answer(flat, [dict(flat)])["text"] == "7"


def test_a_drawing_either_model_refuses_whole_needs_sure_parts():
    # A plus sign: both models refuse it, and the one part is the canvas.
    plus = image(7, p=0.28, not_digit=0.99, refused=True)
    assert not accepted(plus) and not is_number(plus, [plus])
    # One model refusing the whole is enough to ask the parts.
    half = {"fnn": model_answer(3, 1.0, 0.95, refused=True), "cnn": model_answer(3, 1.0)}
    assert not accepted(half) and not is_number(half, [image(3, p=0.5)])
    assert is_number(half, [image(3)])


def test_a_number_of_sure_digits_reads():
    parts = [image(2), image(0), image(2), image(4)]
    assert answer(REFUSED, parts)["text"] == "2024"


def spread(digit: int, p: float, second: int, q: float, **kw) -> dict:
    """One model's answer: ``digit`` at ``p``, ``second`` at ``q``, the rest even."""
    answer = model_answer(digit, p, **kw)
    rest = (1 - p - q) / 8
    answer["probabilities"] = [p if d == digit else q if d == second else rest for d in range(10)]
    return answer


def test_a_part_the_cnn_doubts_reads_when_the_fnn_reads_the_cnns_own_digit():
    # Among digits, the CNN's "not a digit" just over its bar on a 5 it ranks first, and
    # the FNN reads a 5: two models agreeing outweigh one model's doubt.
    doubted = {"cnn": model_answer(5, 0.9, 0.87, refused=True), "fnn": model_answer(5, 0.95)}
    assert part_digit(doubted) == 5
    parts = [image(3), doubted, image(7)]
    shown = answer(REFUSED, parts)
    assert shown["text"] == "357" and [d["digit"] for d in shown["digits"]] == [3, 5, 7]
    # The FNN reading another digit, or refusing too: the part stays "?".
    other = {"cnn": model_answer(5, 0.9, 0.87, refused=True), "fnn": model_answer(6, 0.95)}
    assert part_digit(other) is None
    assert part_digit(REFUSED) is None
    assert answer(REFUSED, [image(3), other, image(7)])["text"] == "3?7"


def test_a_part_reads_as_the_digit_both_models_find_likeliest_together():
    # The CNN barely prefers 1 over 7; the FNN is sure of 7: together, 7.
    part = {"cnn": spread(1, 0.5, 7, 0.45), "fnn": spread(7, 0.9, 1, 0.05)}
    assert part_digit(part) == 7
    # A CNN sure of its digit keeps it against an FNN that leans elsewhere.
    part = {"cnn": spread(1, 0.97, 7, 0.02), "fnn": spread(7, 0.6, 1, 0.3)}
    assert part_digit(part) == 1
    assert answer(REFUSED, [image(2), part])["text"] == "21"
