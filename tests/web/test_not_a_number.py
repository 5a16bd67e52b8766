"""A drawing on the pad that is not a number is answered "not a number", through the real
API (valkey, SeaweedFS S3, a Celery predict worker with the shipped models), and a number
still reads: issue 39."""

from __future__ import annotations

import json

import pytest

from tests.helpers import data_url, hand_drawn
from tests.pad_strokes import NOT_NUMBERS, PAD, PEN, YEAR_2024
from tests.processes import wait_for

pytestmark = pytest.mark.usefixtures("predict_worker")


def predicted(client, strokes) -> dict:
    """The finished prediction of ``strokes`` drawn on the pad with the page's pen."""
    answer = client.post(
        "/api/predictions",
        json={"image": data_url(hand_drawn(strokes, PAD, PEN))},
        headers={"Prefer": "wait=10"},
    )
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["status"] == "done", body
    return body


@pytest.mark.parametrize("name", sorted(NOT_NUMBERS))
def test_a_drawing_that_is_not_a_number_is_answered_not_a_number(client, name):
    number = predicted(client, NOT_NUMBERS[name])["result"]["number"]
    assert number["text"] is None, number["text"]
    assert number["not_a_number"] is True
    assert number["reason"] == "unsure"
    # What was found is still there to show: boxes and both models' readings.
    assert len(number["digits"]) >= 1
    assert all({"box", "preview", "fnn", "cnn"} <= d.keys() for d in number["digits"])


def test_a_drawn_2024_still_reads_2024(client):
    number = predicted(client, YEAR_2024)["result"]["number"]
    assert number["text"] == "2024"
    assert number["not_a_number"] is False
    assert "reason" not in number
    assert [d["cnn"]["digit"] for d in number["digits"]] == [2, 0, 2, 4]


def test_not_a_number_is_confirmed_as_a_drawing_that_is_not_a_digit(client, app):
    """As for a single drawing that is not a digit: "label": null stores the whole canvas
    as one not-a-digit sample, under the prediction's id."""
    body = predicted(client, NOT_NUMBERS["K"])
    job_id = body["id"]
    feedback = client.post(
        f"/api/predictions/{job_id}/feedback", json={"label": None, "consent": True}
    )
    assert feedback.status_code == 202, feedback.get_json()
    assert feedback.get_json()["samples"] == 1
    assert feedback.get_json()["deletions"][0]["id"] == job_id
    store = app.extensions["digits"].store
    key = f"samples/{job_id}.json"
    wait_for(lambda: store.exists(key), 30, "the not-a-digit sample")
    meta = json.loads(store.get_bytes(key))
    assert meta["label"] is None and meta["source"] == "feedback"
    assert meta["predictions"]["cnn"]["digit"] == body["result"]["cnn"]["digit"]


def test_not_a_number_may_be_corrected_with_the_number_it_was(client):
    body = predicted(client, NOT_NUMBERS["K"])
    job_id, number = body["id"], body["result"]["number"]
    typed = "1" * len(number["digits"])  # as many digits as were found: each one is kept
    feedback = client.post(
        f"/api/predictions/{job_id}/feedback", json={"number": typed, "consent": True}
    )
    assert feedback.status_code == 202
    assert feedback.get_json()["samples"] == len(typed)
