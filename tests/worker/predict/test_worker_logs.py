"""The predict worker's log: no line per prediction batch, a sample's lines kept.

Celery writes "received" and "succeeded" for every task; at hundreds of prediction
batches a second those lines flood the platform's log (``shared.logs.WithoutTaskLines``).
"""

from __future__ import annotations

import logging

from shared import names
from shared.imaging import render_canvas_png
from shared.logs import WithoutTaskLines
from tests.helpers import data_url, predict
from tests.processes import wait_for


def test_a_prediction_leaves_no_line_in_the_worker_log_and_a_sample_does(
    client, predict_worker, mnist_sample
):
    start = len(predict_worker.log.read_bytes())

    def written() -> str:
        return predict_worker.log.read_bytes()[start:].decode(errors="replace")

    predict(client, mnist_sample["x_test"][0])
    image = data_url(render_canvas_png(mnist_sample["x_test"][1]))
    answer = client.post("/api/samples", json={"image": image, "label": 2})
    assert answer.status_code == 202, answer.get_json()
    wait_for(
        lambda: f"{names.SAVE_SAMPLE}[" in written() and "succeeded" in written(),
        30,
        "the sample's received and succeeded lines",
    )
    assert f"{names.PREDICT_BATCH}[" not in written()


def test_the_filter_lets_a_failing_batch_through():
    quiet = WithoutTaskLines([names.PREDICT_BATCH])

    def record(level: int, name: str) -> logging.LogRecord:
        fields = {"name": name, "id": "x"}
        return logging.LogRecord(
            "celery.app.trace", level, __file__, 1, "%(name)s", (fields,), None
        )

    assert not quiet.filter(record(logging.INFO, names.PREDICT_BATCH))
    assert quiet.filter(record(logging.INFO, names.SAVE_SAMPLE))
    assert quiet.filter(record(logging.ERROR, names.PREDICT_BATCH))
