"""The HTTP API against real services: valkey, SeaweedFS S3 and a Celery worker process."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import time

import numpy as np
import pytest
from celery import Celery
from PIL import Image

from shared import names
from shared.imaging import render_canvas_png
from tests.helpers import data_url, empty_canvas, wait_done
from tests.ports import free_port
from tests.processes import wait_for


def prediction_keys(app) -> int:
    return len(list(app.extensions["digits"].redis.scan_iter("digits:prediction:*")))


@pytest.mark.usefixtures("predict_worker")
def test_drawn_digit_is_recognized_by_both_models_through_the_queue(client, mnist_sample):
    correct = {"fnn": 0, "cnn": 0}
    digits = mnist_sample["x_test"][:10]
    labels = mnist_sample["y_test"][:10]
    for digit, label in zip(digits, labels, strict=True):
        answer = client.post("/api/predictions", json={"image": data_url(render_canvas_png(digit))})
        assert answer.status_code == 202
        body = answer.get_json()
        assert answer.headers["Location"] == body["status_url"]
        done = wait_done(client, body["status_url"])
        assert done["status"] == "done", done
        result = done["result"]
        for name in names.MODEL_NAMES:
            probabilities = result[name]["probabilities"]
            assert len(probabilities) == 10 and abs(sum(probabilities) - 1) < 1e-4
            assert 0 <= result[name]["not_digit"] < 0.5  # a clear digit is not refused
            assert result[name]["digit"] == int(np.argmax(probabilities))
            assert result[name]["version"] >= 1
            correct[name] += result[name]["digit"] == label
        preview = Image.open(io.BytesIO(base64.b64decode(result["preview"].split(",", 1)[1])))
        assert preview.size == (28, 28)
    assert correct["cnn"] >= 9 and correct["fnn"] >= 8, correct


@pytest.mark.usefixtures("predict_worker")
def test_sample_is_stored_in_s3_with_its_label(client, app, mnist_sample):
    answer = client.post(
        "/api/samples",
        json={"image": data_url(render_canvas_png(mnist_sample["x_test"][5])), "label": 7},
    )
    assert answer.status_code == 202
    sample_id = answer.get_json()["id"]
    store = app.extensions["digits"].store
    deadline = time.monotonic() + 30
    while not store.exists(f"samples/{sample_id}.json"):
        assert time.monotonic() < deadline, "sample never reached the store"
        time.sleep(0.2)
    meta = json.loads(store.get_bytes(f"samples/{sample_id}.json"))
    assert meta["label"] == 7 and meta["source"] == "collect"
    image = Image.open(io.BytesIO(store.get_bytes(f"samples/{sample_id}.png")))
    assert image.size == (28, 28)


def test_unknown_prediction_id_is_404_not_pending(client):
    for job_id in ("0" * 32, "not-an-id", "f" * 31):
        answer = client.get(f"/api/predictions/{job_id}")
        assert answer.status_code == 404
        assert answer.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("request_kwargs", "status", "code"),
    [
        ({"data": "not json", "content_type": "application/json"}, 400, "invalid_request"),
        ({"json": ["a list"]}, 400, "invalid_request"),
        ({"json": {}}, 400, "invalid_request"),
        ({"json": {"image": "x", "extra": 1}}, 400, "invalid_request"),
        ({"json": {"image": "data:image/png;base64,!!!"}}, 400, "invalid_image"),
        ({"json": {"image": "data:image/gif;base64,R0lGOD"}}, 415, "unsupported_image"),
        ({"json": {"image": data_url(b"\x89PNG\r\n\x1a\nnot really")}}, 415, "unsupported_image"),
        ({"json": {"image": "data:image/png;base64," + "A" * 3_000_000}}, 413, "body_too_large"),
    ],
)
def test_bad_prediction_input_is_a_clear_4xx_and_enqueues_nothing(
    app, client, request_kwargs, status, code
):
    before = prediction_keys(app)
    answer = client.post("/api/predictions", **request_kwargs)
    assert answer.status_code == status
    error = answer.get_json()["error"]
    assert error["code"] == code and error["message"]
    assert prediction_keys(app) == before


def test_empty_canvas_is_422_and_enqueues_nothing(app, client):
    before = prediction_keys(app)
    answer = client.post("/api/predictions", json={"image": empty_canvas()})
    assert answer.status_code == 422
    assert answer.get_json()["error"]["code"] == "empty_canvas"
    assert prediction_keys(app) == before


@pytest.mark.parametrize("label", [10, -1, "3", 2.5, True, None])
def test_sample_label_outside_0_to_9_is_rejected(client, mnist_sample, label):
    image = data_url(render_canvas_png(mnist_sample["x_test"][0]))
    answer = client.post("/api/samples", json={"image": image, "label": label})
    assert answer.status_code == 400
    assert "label" in answer.get_json()["error"]["message"]


@pytest.mark.parametrize("wait", ["-1", "6", "abc", "nan"])
def test_long_poll_wait_out_of_range_is_400(client, wait):
    answer = client.get(f"/api/predictions/{'a' * 32}?wait={wait}")
    assert answer.status_code == 400


@pytest.mark.usefixtures("predict_worker")
def test_healthz_reports_redis_store_and_workers(client):
    # The first reader starts a ping in the background; a later one sees its answer.
    answer = wait_for(lambda: (a := client.get("/healthz")).status_code == 200 and a, 10, "health")
    checks = answer.get_json()["checks"]
    assert checks["redis"] == checks["store"] == checks["workers"] == "ok"


def test_redis_down_is_a_quick_503(stack_env, mnist_sample):
    from web import create_app

    env = dict(stack_env, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    client = create_app({"TESTING": True, "SETTINGS_ENV": env}).test_client()
    started = time.monotonic()
    answer = client.post(
        "/api/predictions", json={"image": data_url(render_canvas_png(mnist_sample["x_test"][0]))}
    )
    assert answer.status_code == 503
    assert answer.get_json()["error"]["code"] == "queue_unavailable"
    assert client.get("/healthz").status_code == 503
    assert time.monotonic() - started < 10


def test_job_no_worker_takes_is_reported_as_timed_out(stack_env, redis_database, mnist_sample):
    from web import create_app

    # A database of its own has no worker: the job expires in the queue.
    env = dict(stack_env, REDIS_URL=redis_database, PREDICT_EXPIRES="0.5")
    app = create_app({"TESTING": True, "SETTINGS_ENV": env})
    client = app.test_client()
    answer = client.post(
        "/api/predictions", json={"image": data_url(render_canvas_png(mnist_sample["x_test"][0]))}
    )
    status_url = answer.get_json()["status_url"]
    assert client.get(status_url).get_json()["status"] == "queued"
    time.sleep(6)
    body = client.get(status_url).get_json()
    assert body["status"] == "failed" and body["error"]["code"] == "timed_out"


def test_each_worker_app_registers_the_tasks_of_the_queues_it_consumes(
    predict_worker, trainer, valkey
):
    probe = Celery(broker=valkey.url, backend=valkey.url)
    try:
        workers = [predict_worker.url, trainer.url]
        replies = probe.control.inspect(destination=workers, timeout=5).registered()
    finally:
        probe.close()
    predict_tasks = {n for n in replies[predict_worker.url] if n.startswith("digits.")}
    trainer_tasks = {n for n in replies[trainer.url] if n.startswith("digits.")}
    assert predict_tasks | trainer_tasks == set(names.TASK_QUEUES)
    assert {names.TASK_QUEUES[n] for n in predict_tasks} == {"predict", "samples"}
    assert {names.TASK_QUEUES[n] for n in trainer_tasks} == {"train"}


def modules_loaded_by(code: str, env: dict[str, str] | None = None) -> set[str]:
    """Top-level packages a fresh interpreter has loaded after running ``code``."""
    probe = f"{code}; import sys; print(','.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env
    )
    return set(result.stdout.strip().split(","))


def test_web_never_imports_tensorflow_or_the_worker():
    loaded = modules_loaded_by("import web; web.create_app")
    assert not loaded & {"tensorflow", "keras", "worker", "ai_edge_litert"}


def test_predict_worker_never_imports_tensorflow_or_keras(stack_env):
    # The whole predict app as `celery -A worker.predict` loads it, tasks included.
    code = "from worker.predict.celery import app; app.loader.import_default_modules()"
    loaded = modules_loaded_by(code, env=stack_env)
    assert "ai_edge_litert" in loaded  # the probe did load the worker's models code
    assert not loaded & {"tensorflow", "keras"}


def test_rate_limit_answers_429_per_client(stack_env, mnist_sample):
    from web import create_app

    env = dict(stack_env, RATE_LIMITS_ENABLED="true", RATE_LIMIT="3 per minute")
    client = create_app({"TESTING": True, "SETTINGS_ENV": env}).test_client()
    proxy = {"X-Forwarded-For": f"203.0.113.{free_port() % 250}"}  # a fresh client address
    bad = {"image": "data:image/png;base64,!!!"}
    codes = [client.post("/api/predictions", json=bad, headers=proxy).status_code for _ in range(5)]
    assert codes[:3] == [400, 400, 400] and codes[3:] == [429, 429]
    limited = client.post("/api/predictions", json=bad, headers=proxy).get_json()
    assert limited["error"]["code"] == "too_many_requests"
    other = {"X-Forwarded-For": "198.51.100.7"}
    assert client.post("/api/predictions", json=bad, headers=other).status_code == 400
