"""``GET /metrics`` (issue 20, Metrics): web's requests and the workers' counts in one
scrape, through the real stack; admins only unless METRICS_PUBLIC=true."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from shared import fine_tune_jobs, metrics, names, prediction_records
from shared.celery_config import send
from shared.imaging import MAX_IMAGES, decode_digits, render_canvas_png
from tests import processes
from tests.helpers import ADMIN, ROOT, data_url, predict
from tests.processes import wait_for
from web import create_app
from web.metrics import worker_families

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Series:
    """Every sample of a scrape: (name, labels) -> value."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client: FlaskClient) -> Series:
    answer = client.get("/metrics", headers=ADMIN)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.headers["Content-Type"].startswith("text/plain")
    return parse(answer.get_data(as_text=True))


def value(series: Series, name: str, **labels: str) -> float:
    """A sample's value; 0 for a series not counted yet."""
    return series.get((name, frozenset(labels.items())), 0.0)


def moved(before: Series, after: Series, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def scrape_until(client: FlaskClient, before: Series, name: str, **labels: str) -> Series:
    """Scrape until the series has moved since ``before`` (the workers count as they go)."""

    def check() -> Series | None:
        series = scrape(client)
        return series if moved(before, series, name, **labels) else None

    return wait_for(check, 60, f"{name} {labels} moving")


def test_metrics_need_the_admin_token(client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert client.get("/metrics", headers=wrong).status_code == 401
    assert client.get("/metrics", headers=ADMIN).status_code == 200


def test_metrics_are_public_when_metrics_public_is_true(stack_env: dict[str, str]) -> None:
    app = create_app({"TESTING": True, "SETTINGS_ENV": {**stack_env, "METRICS_PUBLIC": "true"}})
    answer = app.test_client().get("/metrics")
    assert answer.status_code == 200
    assert "digits_queue_depth" in answer.get_data(as_text=True)


@pytest.mark.usefixtures("predict_worker")
def test_a_prediction_moves_the_right_counters(
    client: FlaskClient, app: Flask, mnist_sample: dict[str, np.ndarray]
) -> None:
    before = scrape(client)
    done = predict(client, mnist_sample["x_test"][0])
    after = scrape(client)

    record = prediction_records.read(app.extensions["digits"].redis, done["id"])
    assert record is not None
    images = len(decode_digits(record[prediction_records.PIXELS], MAX_IMAGES))
    for model in names.MODEL_NAMES:
        version = str(done["result"][model]["version"])
        read = moved(before, after, "digits_predictions_total", model=model, version=version)
        assert read == images, (model, version)
    for name, labels in [
        ("digits_prediction_jobs_total", {"outcome": "ok"}),
        ("digits_predict_batch_jobs_count", {}),  # one message of one prediction
        ("digits_predict_batch_jobs_sum", {}),
        ("digits_http_requests_total", {"endpoint": "api.create_prediction", "status": "202"}),
    ]:
        assert moved(before, after, name, **labels) == 1, name
    latency = {"endpoint": "api.create_prediction", "status": "202"}
    assert value(after, "digits_http_request_duration_seconds_count", **latency) >= 1
    # The scrape before this one is counted too, by endpoint, never by path.
    assert value(after, "digits_http_requests_total", endpoint="metrics.scrape", status="200") >= 1


@pytest.mark.usefixtures("predict_worker")
def test_gauges_show_every_queue_and_the_workers_alive(client: FlaskClient) -> None:
    series = scrape(client)
    for queue in (names.QUEUE_PREDICT, names.QUEUE_SAMPLES, names.QUEUE_TRAIN):
        assert ("digits_queue_depth", frozenset({("queue", queue)})) in series, queue
    for gauge in ("digits_samples_pending", "digits_samples_waiting", "digits_redis_up"):
        assert (gauge, frozenset()) in series, gauge
    assert value(series, "digits_redis_up") == 1
    # The first scrape may find no ping answered yet: it starts one, and never waits for it.
    alive = wait_for(
        lambda: value(scrape(client), "digits_workers_alive", process="worker") or None,
        30,
        "a worker counted alive",
    )
    assert alive >= 1


@pytest.mark.usefixtures("predict_worker")
def test_a_stored_sample_moves_the_samples_counters(
    client: FlaskClient, mnist_sample: dict[str, np.ndarray]
) -> None:
    before = scrape(client)
    image = data_url(render_canvas_png(mnist_sample["x_test"][1]))
    assert client.post("/api/samples", json={"image": image, "label": 3}).status_code == 202
    # Counted once stored and indexed; pending once the fine-tune count has it, just after.
    after = scrape_until(client, before, "digits_samples_pending")
    assert moved(before, after, "digits_samples_stored_total", source="collect") == 1
    assert moved(before, after, "digits_samples_pending") == 1


@pytest.mark.usefixtures("predict_worker")
def test_a_failed_task_is_counted(client: FlaskClient, app: Flask) -> None:
    before = scrape(client)
    # Pixels that are no image: the task refuses the job for good (no retry, no backlog).
    send(app.extensions["digits"].celery, names.SAVE_SAMPLE, [uuid.uuid4().hex, "bad", {}])
    failures = {"task": names.SAVE_SAMPLE}
    after = scrape_until(client, before, "digits_task_failures_total", **failures)
    assert moved(before, after, "digits_task_failures_total", **failures) == 1
    assert moved(before, after, "digits_samples_stored_total", source="collect") == 0


def test_histogram_buckets_are_added_up_at_export() -> None:
    tally = metrics.Tally()
    for seconds in (20, 45.5, 45.5, 4000):
        tally.observe("training_job_seconds", seconds, kind="fine_tune")
    registry = CollectorRegistry()

    class Fields:
        def collect(self):
            return worker_families({field.encode(): str(n).encode() for field, n in tally.items()})

    registry.register(Fields())
    series = parse(generate_latest(registry).decode())
    name, kind = "digits_training_job_seconds", {"kind": "fine_tune"}
    assert value(series, f"{name}_bucket", **kind, le="30.0") == 1
    assert value(series, f"{name}_bucket", **kind, le="60.0") == 3
    assert value(series, f"{name}_bucket", **kind, le="3600.0") == 3
    assert value(series, f"{name}_bucket", **kind, le="+Inf") == 4
    assert value(series, f"{name}_count", **kind) == 4
    assert value(series, f"{name}_sum", **kind) == pytest.approx(4111)
    # A family without labels is exported before its first count, at 0.
    assert value(series, "digits_samples_backlogged_total") == 0
    assert ("digits_samples_backlogged_total", frozenset()) in series


def test_gunicorn_processes_add_up_their_requests(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    """Two gevent processes, one scrape: every request of both, in a fresh count."""
    web = processes.start_web({**stack_env, "WEB_CONCURRENCY": "2"}, tmp_path / "web.log")
    try:
        for _ in range(20):  # a new connection each: the two processes share them
            assert httpx.get(f"{web.url}/metrics", timeout=5).status_code == 401
        answer = httpx.get(f"{web.url}/metrics", headers=ADMIN, timeout=5)
        assert answer.status_code == 200
        series = parse(answer.text)
        assert (
            value(series, "digits_http_requests_total", endpoint="metrics.scrape", status="401")
            == 20
        )
        assert value(series, "digits_redis_up") == 1
    finally:
        web.stop()


def test_operations_page_lists_every_metric(client: FlaskClient) -> None:
    text = (ROOT / "docs" / "operations.md").read_text()
    start = text.index("\n## Metrics\n")
    section = text[start : text.index("\n## ", start + 1)]
    families = {
        family.name + ("_total" if family.type == "counter" else "")
        for family in text_string_to_metric_families(client.get("/metrics", headers=ADMIN).text)
    }
    assert {"digits_predictions_total", "digits_http_requests_total"} <= families
    assert [name for name in sorted(families) if f"| `{name}` |" not in section] == []


@pytest.mark.slow
@pytest.mark.usefixtures("predict_worker", "trainer")
def test_a_fine_tune_is_counted_with_its_outcome_and_duration(client: FlaskClient) -> None:
    """Whatever its outcome: alone, with no samples stored, the round fails at once."""
    before = scrape(client)
    answer = client.post("/api/fine-tunes", headers=ADMIN)
    assert answer.status_code == 202, answer.get_json()
    status_url = answer.get_json()["status_url"]
    job = wait_for(
        lambda: (
            (found := client.get(status_url).get_json())["status"] in fine_tune_jobs.FINISHED
            and found
        ),
        600,
        "the fine-tune's outcome",
    )
    kind = {"kind": "fine_tune"}
    after = scrape_until(client, before, "digits_training_job_seconds_count", **kind)
    if job["status"] == "failed":  # the task's failure is counted after its record's
        after = scrape_until(client, before, "digits_task_failures_total", task=names.FINE_TUNE)
    assert moved(before, after, "digits_training_jobs_total", **kind, outcome=job["status"]) == 1
    assert moved(before, after, "digits_training_job_seconds_count", **kind) == 1
    assert moved(before, after, "digits_training_job_seconds_sum", **kind) > 0
    failures = moved(before, after, "digits_task_failures_total", task=names.FINE_TUNE)
    assert failures == (1 if job["status"] == "failed" else 0)
