"""One round trip: ``Prefer: wait`` on a new prediction, and one result listener per process."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
import redis
from flask import Flask
from PIL import Image

from shared import prediction_records
from shared.imaging import preprocess_png, render_canvas_png
from shared.prediction_records import record_key
from tests.helpers import data_url, wait_done
from tests.processes import wait_for

#: Concurrent waiters in one web process; each draws a different MNIST test digit.
WAITERS = 24


@pytest.fixture(scope="module")
def drawings(mnist_sample) -> list[tuple[int, bytes]]:
    """(label, canvas PNG) for the first MNIST test digits."""
    digits = mnist_sample["x_test"][:WAITERS]
    labels = mnist_sample["y_test"][:WAITERS]
    return [(int(y), render_canvas_png(x)) for x, y in zip(digits, labels, strict=True)]


@pytest.fixture(scope="module")
def idle_url(redis_databases) -> str:
    """A Redis database no worker reads: jobs sent there stay queued."""
    return redis_databases()


@pytest.fixture(scope="module")
def idle_db(idle_url: str) -> int:
    """The idle database's number, as valkey lists its clients' databases."""
    return int(redis.connection.parse_url(idle_url)["db"])


@pytest.fixture(scope="module")
def idle_app(stack_env, idle_url: str) -> Flask:
    """An app on the idle database: its jobs stay queued."""
    from web import create_app

    env = dict(stack_env, REDIS_URL=idle_url)
    return create_app({"TESTING": True, "SETTINGS_ENV": env})


@pytest.fixture()
def warm_client(client, predict_worker, drawings):
    """A client whose worker has its models loaded, so no answer waits for loading."""
    answer = client.post("/api/predictions", json={"image": data_url(drawings[0][1])})
    assert wait_done(client, answer.headers["Location"])["status"] == "done"
    return client


def preview_pixels(result: dict) -> np.ndarray:
    png = base64.b64decode(result["preview"].split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(png)))


@pytest.mark.parametrize(
    ("prefer", "applied"),
    [("wait=5", "wait=5"), ("respond-async, wait=60", "wait=10"), ('Wait = "5"; x=y', "wait=5")],
)
def test_prefer_wait_answers_200_with_the_record_get_gives(warm_client, drawings, prefer, applied):
    label, png = drawings[1]
    answer = warm_client.post(
        "/api/predictions", json={"image": data_url(png)}, headers={"Prefer": prefer}
    )
    assert answer.status_code == 200, answer.get_json()
    assert answer.headers["Preference-Applied"] == applied
    body = answer.get_json()
    assert body["status"] == "done" and body["result"]["cnn"]["digit"] == label
    assert answer.headers["Location"] == f"/api/predictions/{body['id']}"
    assert warm_client.get(answer.headers["Location"]).get_json() == body


def test_prefer_wait_answers_202_after_about_n_seconds_when_no_worker_answers(idle_app, drawings):
    client = idle_app.test_client()
    started = time.monotonic()
    answer = client.post(
        "/api/predictions", json={"image": data_url(drawings[0][1])}, headers={"Prefer": "wait=1"}
    )
    elapsed = time.monotonic() - started
    assert answer.status_code == 202
    body = answer.get_json()
    assert set(body) == {"id", "status_url"} and answer.headers["Location"] == body["status_url"]
    assert "Preference-Applied" not in answer.headers
    assert 0.9 <= elapsed < 3, elapsed
    assert client.get(body["status_url"]).get_json()["status"] == "queued"


@pytest.mark.parametrize(
    "prefer", ["wait=abc", "wait", "wait=", "wait=-1", "wait=1.5", "wait=\u00b2", "respond-async"]
)
def test_unreadable_prefer_is_ignored_and_answers_202_at_once(idle_app, drawings, prefer):
    client = idle_app.test_client()
    started = time.monotonic()
    answer = client.post(
        "/api/predictions", json={"image": data_url(drawings[0][1])}, headers={"Prefer": prefer}
    )
    assert answer.status_code == 202
    assert set(answer.get_json()) == {"id", "status_url"}
    assert "Preference-Applied" not in answer.headers
    assert time.monotonic() - started < 0.8


def subscribed_connections(monitor: redis.Redis, db: int | None = None) -> list[dict]:
    """Connections to valkey holding a subscription (channel or pattern), optionally on ``db``."""
    return [
        c
        for c in monitor.client_list()
        if (int(c.get("sub", 0)) or int(c.get("psub", 0))) and db in (None, int(c["db"]))
    ]


@pytest.fixture()
def monitor(valkey) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(valkey.url)
    yield client
    client.close()


def test_concurrent_waiters_get_their_own_results_through_one_subscription(
    live_server, monitor, drawings
):
    def predict(png: bytes) -> httpx.Response:
        with httpx.Client(base_url=live_server, timeout=30) as http:
            return http.post(
                "/api/predictions", json={"image": data_url(png)}, headers={"Prefer": "wait=10"}
            )

    # Models loaded and this process's listener subscribed before counting.
    assert predict(drawings[0][1]).status_code == 200
    before = len(subscribed_connections(monitor))
    peak, stop = [before], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak.append(len(subscribed_connections(monitor)))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        with ThreadPoolExecutor(max_workers=WAITERS) as pool:
            answers = list(pool.map(predict, [png for _, png in drawings]))
    finally:
        stop.set()
        sampler.join(5)
    right = 0
    for (label, png), answer in zip(drawings, answers, strict=True):
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["status"] == "done"
        assert answer.headers["Location"] == f"/api/predictions/{body['id']}"
        # The preview is the drawing the worker saw: this waiter's own, not a neighbour's.
        assert np.array_equal(preview_pixels(body["result"]), preprocess_png(png))
        right += body["result"]["cnn"]["digit"] == label
    assert len({answer.json()["id"] for answer in answers}) == WAITERS
    assert right >= WAITERS - 2, right
    assert max(peak) <= before, f"subscriptions grew from {before} to {max(peak)}"


def post_in_background(app: Flask, png: bytes, prefer: str) -> tuple[threading.Thread, dict]:
    """POST a prediction from a thread; return it and a dict that gets the answer and time."""
    outcome: dict = {}

    def run() -> None:
        started = time.monotonic()
        answer = app.test_client().post(
            "/api/predictions", json={"image": data_url(png)}, headers={"Prefer": prefer}
        )
        outcome.update(answer=answer, elapsed=time.monotonic() - started)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def sure_of(digit: int) -> dict:
    """A model's answer as the worker writes it, sure of ``digit``."""
    probabilities = [0.0] * 10
    probabilities[digit] = 1.0
    return {"digit": digit, "probabilities": probabilities, "not_digit": 0.0, "version": 1}


def store_silently(app: Flask, prefer: str, png: bytes) -> tuple[dict, dict]:
    """Start a waiting POST, then store a result for its job without publishing it."""
    services = app.extensions["digits"]
    before = set(services.redis.scan_iter(record_key("*")))
    thread, outcome = post_in_background(app, png, prefer)
    new = wait_for(lambda: set(services.redis.scan_iter(record_key("*"))) - before, 5, "job")
    job_id = next(iter(new)).decode().rsplit(":", 1)[1]
    result = {"fnn": sure_of(4), "cnn": sure_of(7)}
    stored = {**result, "parts": [result], "chosen": [0]}  # read as one digit
    time.sleep(0.2)  # the POST is waiting now
    services.redis.hset(record_key(job_id), "outcome", json.dumps({"result": stored}))
    return {"thread": thread, "job_id": job_id, "result": result}, outcome


def test_waiter_reads_the_state_once_more_at_its_deadline(idle_app, drawings):
    job, outcome = store_silently(idle_app, "wait=1", drawings[2][1])
    job["thread"].join(10)
    answer = outcome["answer"]
    assert answer.status_code == 200
    body = answer.get_json()
    assert (body["id"], body["status"]) == (job["job_id"], "done")
    assert {name: body["result"][name] for name in ("fnn", "cnn")} == job["result"]
    assert outcome["elapsed"] < 3


def test_waiters_read_again_when_the_subscription_comes_back(idle_app, idle_db, monitor, drawings):
    job, outcome = store_silently(idle_app, "wait=10", drawings[3][1])
    # Drop this app's subscription: the result it missed must still arrive, long before 10 s.
    listeners = subscribed_connections(monitor, db=idle_db)
    assert listeners
    for connection in listeners:
        monitor.client_kill_filter(_id=connection["id"])
    job["thread"].join(15)
    answer = outcome["answer"]
    assert answer.status_code == 200
    assert answer.get_json()["result"]["cnn"] == job["result"]["cnn"]
    assert outcome["elapsed"] < 5, outcome["elapsed"]
    wait_for(lambda: subscribed_connections(monitor, db=idle_db), 5, "the subscription back")


def test_a_long_poll_on_another_process_is_woken_by_a_copy_of_the_outcome(
    idle_app, idle_url, stack_env, drawings
):
    from web import create_app

    env = dict(stack_env, REDIS_URL=idle_url)
    other = create_app({"TESTING": True, "SETTINGS_ENV": env})  # another web process
    sender = idle_app.extensions["digits"]
    posted = idle_app.test_client().post(
        "/api/predictions", json={"image": data_url(drawings[4][1])}
    )
    job_id = posted.get_json()["id"]
    outcome: dict = {}

    def long_poll() -> None:
        started = time.monotonic()
        answer = other.test_client().get(f"/api/predictions/{job_id}?wait=5")
        outcome.update(body=answer.get_json(), elapsed=time.monotonic() - started)

    thread = threading.Thread(target=long_poll, daemon=True)
    thread.start()
    time.sleep(0.5)  # the other process is waiting, and has asked for a copy
    reading = {"fnn": sure_of(4), "cnn": sure_of(4)}
    result = {**reading, "parts": [reading], "chosen": [0]}
    # The worker publishes to the sending process's channel; the watcher gets a copy.
    prediction_records.deliver(sender.redis, sender.results.channel, {job_id: {"result": result}})
    thread.join(10)
    assert outcome["body"]["status"] == "done"
    assert outcome["elapsed"] < 2, outcome["elapsed"]
