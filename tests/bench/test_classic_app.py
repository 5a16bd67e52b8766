"""The bench's classic demo (``bench/classic_app.py``): the model in the request, the whole
canvas read as one digit, answering a POST with both models' readings."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from bench.classic_app import create_app
from shared.names import MODEL_NAMES
from tests.helpers import ROOT, data_url, hand_drawn
from tests.strokes import TWO, shifted


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> FlaskClient:
    monkeypatch.setenv("WEIGHTS_DIR", str(ROOT / "models"))
    return create_app().test_client()


def test_answers_both_models_readings_and_ignores_the_strokes(client: FlaskClient) -> None:
    strokes = shifted(TWO, 70)
    image = data_url(hand_drawn(strokes, pen=20))
    timed = [[[x, y, 10 * i] for i, (x, y) in enumerate(stroke)] for stroke in strokes]
    page = {"image": image, "strokes": timed}
    answer = client.post("/api/predictions", json=page)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["status"] == "done"
    assert set(body["result"]) == set(MODEL_NAMES)
    for reading in body["result"].values():
        assert len(reading["probabilities"]) == 10
        assert reading["digit"] is None or 0 <= reading["digit"] <= 9
        assert 0 <= reading["not_digit"] <= 1
    alone = client.post("/api/predictions", json={"image": image}).get_json()
    assert alone == body


@pytest.mark.parametrize(
    ("body", "status"),
    [({}, 400), ({"image": 7}, 400), ({"image": "data:image/png;base64,AAAA"}, 422)],
)
def test_refuses_a_body_without_a_png(client: FlaskClient, body: dict, status: int) -> None:
    assert client.post("/api/predictions", json=body).status_code == status
