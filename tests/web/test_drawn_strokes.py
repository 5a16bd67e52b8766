"""A drawing posted with its strokes is read from them, and its PNG only when they cannot
stand for its ink, through the real API (valkey, SeaweedFS S3, a Celery predict worker
with the shipped models): issue 40."""

from __future__ import annotations

import json

import pytest

from shared import prediction_records
from tests.helpers import data_url, hand_drawn
from tests.pad_strokes import NOT_NUMBERS, PAD, PEN, YEAR_2024
from tests.strokes import (
    FOUR_IN_TWO_STROKES,
    ONE,
    SEVEN_WITH_CROSSBAR,
    TWO,
    ZERO,
    Stroke,
    recorded,
    shifted,
)

pytestmark = pytest.mark.usefixtures("predict_worker")

#: Single digits in the middle of the pad, and numbers, with each digit's strokes.
DIGITS = {
    "1": shifted(ONE, 360),
    "2": shifted(TWO, 360),
    "0": shifted(ZERO, 360),
    "7": shifted(SEVEN_WITH_CROSSBAR, 360),
    "4": shifted(FOUR_IN_TWO_STROKES, 360),
}
NUMBERS = {
    "170": (ONE + shifted(SEVEN_WITH_CROSSBAR, 200) + shifted(ZERO, 420), [[0], [1, 2], [3]]),
    "42": (shifted(FOUR_IN_TWO_STROKES, 100) + shifted(TWO, 300), [[0, 1], [2]]),
    "2024": (YEAR_2024, [[0], [1], [2], [3, 4]]),
}


def posted(client, strokes: list[Stroke], sent: object = True) -> dict:
    """The finished prediction of ``strokes`` drawn on the pad; the strokes sent beside the
    PNG as the page records them (``sent`` True), not at all (False), or ``sent`` itself."""
    body: dict[str, object] = {"image": data_url(hand_drawn(strokes, PAD, PEN))}
    if sent is True:
        body["strokes"] = recorded(strokes)
    elif sent is not False:
        body["strokes"] = sent
    answer = client.post("/api/predictions", json=body, headers={"Prefer": "wait=10"})
    assert answer.status_code == 200, answer.get_json()
    done = answer.get_json()
    assert done["status"] == "done", done
    return done


def digit_strokes(done: dict) -> list[list[int] | None]:
    return [digit["strokes"] for digit in done["result"]["number"]["digits"]]


@pytest.mark.parametrize("drawing", [*DIGITS.values(), *(n for n, _ in NUMBERS.values())],
                         ids=[*DIGITS, *NUMBERS])  # fmt: skip
def test_a_drawing_reads_the_same_with_and_without_its_strokes(client, drawing):
    ours = posted(client, drawing)["result"]["number"]
    theirs = posted(client, drawing, sent=False)["result"]["number"]
    assert ours["text"] == theirs["text"]
    assert len(ours["digits"]) == len(theirs["digits"])


@pytest.mark.parametrize("name", sorted(NOT_NUMBERS))
def test_a_drawing_that_is_not_a_number_is_not_one_from_its_strokes_either(client, name):
    number = posted(client, NOT_NUMBERS[name])["result"]["number"]
    assert number["not_a_number"] is True, number["text"]


@pytest.mark.parametrize("text", sorted(DIGITS))
def test_a_single_digit_is_drawn_from_all_its_strokes(client, text):
    done = posted(client, DIGITS[text])
    assert done["result"]["number"]["text"] == text
    assert digit_strokes(done) == [list(range(len(DIGITS[text])))]


@pytest.mark.parametrize("text", sorted(NUMBERS))
def test_each_digit_of_a_number_names_its_own_strokes(client, text):
    drawing, own = NUMBERS[text]
    done = posted(client, drawing)
    assert done["result"]["number"]["text"] == text
    assert digit_strokes(done) == own
    assert sorted(i for digit in own for i in digit) == list(range(len(drawing)))


def test_the_record_keeps_each_images_strokes_beside_its_boxes(client, app):
    drawing, own = NUMBERS["170"]
    redis = app.extensions["digits"].redis
    with_strokes = prediction_records.read(redis, posted(client, drawing)["id"])
    assert with_strokes is not None
    kept = json.loads(with_strokes["strokes"])
    assert len(kept) == len(json.loads(with_strokes["boxes"]))
    assert kept[0] == [0, 1, 2, 3]  # the whole canvas, then each digit found
    assert all(digit in kept for digit in own)
    without = prediction_records.read(redis, posted(client, drawing, sent=False)["id"])
    assert without is not None and "strokes" not in without


@pytest.mark.parametrize("text", ["1", "42"])
def test_a_drawing_sent_without_strokes_names_none(client, text):
    drawing = DIGITS[text] if text in DIGITS else NUMBERS[text][0]
    done = posted(client, drawing, sent=False)
    assert done["result"]["number"]["text"] == text
    assert all(strokes is None for strokes in digit_strokes(done))


def invalid(answer) -> str:
    assert answer.status_code == 400, answer.get_data(as_text=True)
    error = answer.get_json()["error"]
    assert error["message"]
    return error["code"]


@pytest.mark.parametrize(
    "value", ["NaN", "Infinity", "-Infinity", '"3"', "true", "null", "[1]"], ids=str
)
def test_a_stroke_point_that_is_not_a_number_is_a_400(client, value):
    image = data_url(hand_drawn(DIGITS["1"], PAD, PEN))
    body = f'{{"image": "{image}", "strokes": [[[420, 40, 0], [420, {value}, 8]]]}}'
    answer = client.post("/api/predictions", data=body, content_type="application/json")
    assert invalid(answer) == "invalid_request"


@pytest.mark.parametrize(
    "strokes",
    [
        [[[420, 40 + i % 200, i] for i in range(2001)]],  # one stroke of too many points
        [[[420, 40 + i % 200, i] for i in range(1700)] for _ in range(6)],  # 10,200 in all
        [[[420, 40, 0]]] * 65,  # too many strokes
        [[420, 40, 0]],  # points, not strokes of points
        {"0": [[420, 40, 0]]},
    ],
    ids=["2001-points-in-a-stroke", "10200-points", "65-strokes", "not-nested", "an-object"],
)
def test_malformed_strokes_are_a_400_not_a_fallback(client, strokes):
    image = data_url(hand_drawn(DIGITS["1"], PAD, PEN))
    answer = client.post("/api/predictions", json={"image": image, "strokes": strokes})
    assert invalid(answer) == "invalid_request"


@pytest.mark.parametrize(
    "drawing",
    [
        shifted(ONE, 300, 100),  # its foot 40 px below the pad: the PNG holds less
        [[(20, 140), (820, 150)], *shifted(ONE, 400)],  # a line across the whole pad
    ],
    ids=["off-the-canvas", "a-stroke-across-the-pad"],
)
def test_strokes_that_cannot_be_the_pngs_ink_leave_the_png_to_be_read(client, drawing):
    ours = posted(client, drawing)["result"]["number"]
    assert ours["digits"] and all(digit["strokes"] is None for digit in ours["digits"])
    theirs = posted(client, drawing, sent=False)["result"]["number"]
    assert ours["text"] == theirs["text"]
    assert [d["box"] for d in ours["digits"]] == [d["box"] for d in theirs["digits"]]


def test_strokes_without_points_are_read_as_absent(client):
    done = posted(client, DIGITS["7"], sent=[])
    assert done["result"]["number"]["text"] == "7"
    assert digit_strokes(done) == [None]
