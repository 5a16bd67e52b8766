"""Predictions travel in batches: one message per batch, one outcome per prediction.

A batch goes to the real predict worker with one bad image among good ones; and a real
gunicorn web process (gevent, as the Procfile runs it) holds hundreds of waiting
requests at once, coalescing their predictions into few messages.
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis

from shared import names, prediction_records
from shared.celery_config import send
from shared.imaging import encode_pixels, render_canvas_png
from tests import processes
from tests.helpers import data_url
from tests.processes import wait_for

#: Requests held at once by one web process in the gevent test.
WAITING = 300


def test_a_bad_image_fails_only_its_own_prediction_in_a_batch(app, predict_worker, mnist_sample):
    services = app.extensions["digits"]
    good = [encode_pixels(digit) for digit in mnist_sample["x_test"][:3]]
    one_digit = [[[0]]]
    # (pixels, ways to read them): the second is no image, the last names an image it lacks.
    sent = [(good[0], one_digit), ("not pixels!", one_digit), (good[1], one_digit),
            (good[2], one_digit), (good[0], [[[3]]])]  # fmt: skip
    jobs = {uuid.uuid4().hex: job for job in sent}
    bad_ids = {list(jobs)[1], list(jobs)[4]}
    reply_to = f"test-replies:{uuid.uuid4().hex}"
    listener = services.redis.pubsub()
    listener.subscribe(reply_to)
    try:
        assert listener.get_message(timeout=5)["type"] == "subscribe"
        records = {
            i: {prediction_records.PIXELS: p, prediction_records.BOXES: "[[0, 0, 28, 28]]"}
            for i, (p, _) in jobs.items()
        }
        prediction_records.create(services.redis, records, ttl=60)
        batch = [[i, p, ways] for i, (p, ways) in jobs.items()]
        send(services.celery, names.PREDICT_BATCH, [reply_to, batch])
        message = wait_for(lambda: listener.get_message(timeout=1), 30, "the batch's outcomes")
    finally:
        listener.close()
    # One message for the whole batch, one outcome per prediction.
    published = json.loads(message["data"])
    assert set(published) == set(jobs)
    assert {published[i]["error"]["code"] for i in bad_ids} == {"invalid_image"}
    client = app.test_client()
    labels = iter(int(label) for label in mnist_sample["y_test"][:3])
    for job_id in jobs:
        body = client.get(f"/api/predictions/{job_id}").get_json()
        if job_id in bad_ids:
            assert body["status"] == "failed" and body["error"]["code"] == "invalid_image"
        else:
            assert body["status"] == "done"
            assert body["result"]["cnn"]["digit"] == next(labels)


@pytest.fixture()
def gevent_web(stack_env, redis_database, tmp_path) -> Iterator[tuple[str, int]]:
    """One gunicorn process started with the Procfile's config, on a database no worker
    reads: messages sent there stay in the queue to be counted."""
    env = dict(stack_env, REDIS_URL=redis_database, WEB_CONCURRENCY="1", LOG_LEVEL="WARNING")
    web = processes.start_web(env, tmp_path / "web.log")
    try:
        workers = [pid for pid in processes.process_tree(web.proc.pid) if pid != web.proc.pid]
        yield web.url, workers[0]
    finally:
        web.stop()


def _threads(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Threads:")).split()[1])


def test_one_gevent_process_holds_hundreds_of_waiters_and_coalesces_their_jobs(
    gevent_web, redis_database, mnist_sample
):
    url, worker_pid = gevent_web
    image = data_url(render_canvas_png(mnist_sample["x_test"][0]))
    threads_seen: list[int] = []

    limits = httpx.Limits(max_connections=WAITING, max_keepalive_connections=0)
    http = httpx.Client(timeout=30, limits=limits)

    def post(_: int) -> tuple[httpx.Response, float]:
        started = time.monotonic()
        answer = http.post(
            f"{url}/api/predictions", json={"image": image}, headers={"Prefer": "wait=3"}
        )
        return answer, time.monotonic() - started

    with http, ThreadPoolExecutor(max_workers=WAITING) as pool:
        outcomes = pool.map(post, range(WAITING))
        time.sleep(2)  # most of them are waiting now: count the server's OS threads
        threads_seen.append(_threads(worker_pid))
        answers, durations = zip(*outcomes, strict=True)
    # Nobody answers on this database: each request waited its own 3 s, all at once. With a
    # thread per waiter (gthread, 8 threads) the last would have queued for 300 / 8 x 3 s.
    assert [a.status_code for a in answers] == [202] * WAITING
    assert max(durations) < 3 + 4, max(durations)
    assert threads_seen[0] < 20, threads_seen
    # Their jobs went out in batches: fewer messages than predictions, each job once.
    queue = redis.Redis.from_url(redis_database)
    messages = [json.loads(raw) for raw in queue.lrange(names.QUEUE_PREDICT, 0, -1)]
    batches = [json.loads(base64.b64decode(m["body"]))[0][1] for m in messages]
    job_ids = [job_id for batch in batches for job_id, *_ in batch]
    assert sorted(job_ids) == sorted(a.json()["id"] for a in answers)
    assert len(batches) < WAITING, len(batches)
    assert max(len(batch) for batch in batches) > 1
    assert os.path.exists(f"/proc/{worker_pid}")  # the same process served them all
