"""Redis within its budget, and honest when full (issue 36, item 4), through the real stack:
gunicorn web, a predict worker, SeaweedFS S3 and a valkey of its own with a ``--maxmemory``
and no eviction, as Heroku's plans run.

- A number read from many images keeps only the images its answer shows once answered,
  compressed; until then it lives only until its job's queue expiry and a grace.
- A full Redis is a ``503 redis_full`` that says so, on predictions, feedback and samples,
  not a 500 or a "queue unavailable"; writes go through again once memory is freed.
"""

from __future__ import annotations

import base64
import io
import os
import signal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import numpy as np
import pytest
import redis
from PIL import Image

from shared import prediction_records
from shared.canvas import preprocess_canvas_png
from shared.dataset import samples
from shared.imaging import MAX_DIGITS, MAX_IMAGES, decode_digits, ink_canvas_png
from shared.storage import Store, open_store
from tests import processes
from tests.helpers import BUCKET, data_url, stack
from tests.processes import wait_for

#: The valkey's memory limit: room for the test's predictions, filled on purpose below.
MAXMEMORY = 32 * 2**20
#: An answered record of a six-digit number, at most (a 28-image one was 32 KB before).
ANSWERED_BYTES = 6000
#: Most images an answer shows (the whole canvas and six digits), and how long a record
#: holding more may wait for its answer: the queue's expiry (30 s) and a 30 s grace.
SHOWN_MOST = 1 + MAX_DIGITS
UNANSWERED_SECONDS = 60


@dataclass
class Stack:
    url: str
    redis: redis.Redis
    store: Store
    worker: processes.Service


@pytest.fixture(scope="module")
def full_stack(
    tmp_path_factory: pytest.TempPathFactory, seaweedfs: processes.Service
) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("redis-full")
    valkey = processes.start_valkey(
        work / "valkey",
        extra_args=("--maxmemory", str(MAXMEMORY), "--maxmemory-policy", "noeviction"),
    )
    started = [valkey]
    client = redis.Redis.from_url(valkey.url)
    try:
        env = stack(valkey.url, f"s3://{BUCKET}/redis-full-{uuid.uuid4().hex[:8]}", seaweedfs.url)
        # As deployed: rate limits on (at rates no test here reaches), one process.
        env.update(RATE_LIMITS_ENABLED="true", RATE_LIMIT="100000 per minute",
                   READ_RATE_LIMIT="100000 per minute", WEB_CONCURRENCY="1",
                   MAX_DECODES="8", CHALLENGER_PAIRS="0")  # fmt: skip
        worker = processes.start_celery_worker(
            env, "predict,samples", work / "worker.log", "worker", concurrency=2,
            redis_url=valkey.url, pool="threads", timeout=90,
        )  # fmt: skip
        started.append(worker)
        started.append(processes.start_web(env, work / "web.log"))
        store = open_store(env["STORAGE_URL"], seaweedfs.url)
        yield Stack(started[-1].url, client, store, worker)
    finally:
        client.close()
        for service in reversed(started):
            service.stop()


def many_images_canvas(mnist_sample: dict[str, np.ndarray]) -> bytes:
    """Six digits in touching pairs: each pair is read several ways (cut straight, slanted,
    whole), so the canvas sends the worker far more images than the number has digits."""
    digits = mnist_sample["x_test"]
    ink = np.zeros((280, 60 + 6 * 80 + 3 * 40 + 160), np.uint8)
    left = 40
    for index, pick in enumerate((53, 139, 187, 188, 102, 126)):
        scaled = np.asarray(
            Image.fromarray(digits[pick]).resize((160, 160), Image.Resampling.BICUBIC)
        )
        window = ink[60:220, left : left + 160]
        np.maximum(window, scaled, out=window)
        left += 80 + (40 if index % 2 else 0)
    return ink_canvas_png(Image.fromarray(ink))


def pause(service: processes.Service, paused: bool) -> None:
    """SIGSTOP or SIGCONT the worker we started (its own process group)."""
    os.killpg(service.proc.pid, signal.SIGSTOP if paused else signal.SIGCONT)


def pixels_of(data: str | bytes) -> np.ndarray:
    """A PNG (bytes, or a data URL) as a 2-D uint8 array."""
    if isinstance(data, str):
        data = base64.b64decode(data.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"))


def test_a_number_keeps_only_the_images_its_answer_shows(full_stack, mnist_sample):
    png = many_images_canvas(mnist_sample)
    sent = preprocess_canvas_png(png, 4096, 6, readable=True).images
    assert len(sent) > SHOWN_MOST, len(sent)  # the premise: many images
    with httpx.Client(base_url=full_stack.url, timeout=30) as http:
        pause(full_stack.worker, True)
        try:
            posted = http.post("/api/predictions", json={"image": data_url(png)})
            assert posted.status_code == 202, posted.text
            job_id = posted.json()["id"]
            key = prediction_records.record_key(job_id)
            # Unanswered, it holds every image: it lives only past the queue's expiry.
            waiting = full_stack.redis.ttl(key)
            record = prediction_records.read(full_stack.redis, job_id)
            assert record is not None
            assert len(decode_digits(record[prediction_records.PIXELS], MAX_IMAGES)) == len(sent)
        finally:
            pause(full_stack.worker, False)
        assert 0 < waiting <= UNANSWERED_SECONDS, waiting
        done = wait_for(
            lambda: (
                (b := http.get(f"/api/predictions/{job_id}", params={"wait": 5}).json())
                and b["status"] != "queued"
                and b
            ),
            60,
            "the answer",
        )
        assert done["status"] == "done", done
        digits = done["result"]["number"]["digits"]
        # Answered: what it shows, compressed, for RESULT_TTL.
        assert full_stack.redis.memory_usage(key, samples=0) <= ANSWERED_BYTES
        assert full_stack.redis.ttl(key) > UNANSWERED_SECONDS
        # Every image shown is still there: previews, and the samples a feedback stores.
        previews = [pixels_of(d["preview"]) for d in digits]
        assert all(p.any() and any(np.array_equal(p, s) for s in sent) for p in previews)
        number = "".join(str(d["cnn"]["digit"] if d["cnn"]["digit"] is not None else 0)
                         for d in digits)  # fmt: skip
        answer = http.post(f"/api/predictions/{job_id}/feedback",
                           json={"number": number, "consent": True})  # fmt: skip
        assert answer.status_code == 202 and answer.json()["samples"] == len(digits), answer.text
        ids = [d["id"] for d in answer.json()["deletions"]]
        store = full_stack.store
        wait_for(lambda: all(store.exists(samples.meta_key(i)) for i in ids), 60, "samples")
        stored = [pixels_of(store.get_bytes(samples.image_key(i))) for i in ids]
        assert all(np.array_equal(s, p) for s, p in zip(stored, previews, strict=True))


def fill(client: redis.Redis) -> list[str]:
    """Write filler until valkey refuses for want of memory, then hold its limit a little
    under what it uses, so no byte freed meanwhile (an acknowledged job) lets a write in."""
    keys: list[str] = []
    for size in (100_000, 10_000, 1_000):
        try:
            while True:
                client.set(f"filler:{len(keys)}", b"x" * size)
                keys.append(f"filler:{len(keys)}")
        except redis.exceptions.OutOfMemoryError:
            pass
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", used - 256 * 1024)
    return keys


def test_a_full_redis_says_so_and_recovers(full_stack, mnist_sample):
    png = data_url(many_images_canvas(mnist_sample))
    single = data_url(ink_canvas_png(Image.fromarray(np.kron(mnist_sample["x_test"][0],
                                                             np.ones((10, 10), np.uint8)))))  # fmt: skip
    with httpx.Client(base_url=full_stack.url, timeout=30) as http:
        before = http.post("/api/predictions", json={"image": single},
                           headers={"Prefer": "wait=10"})  # fmt: skip
        assert before.status_code == 200 and before.json()["status"] == "done", before.text
        keys = fill(full_stack.redis)
        try:
            refused = [
                http.post("/api/predictions", json={"image": png}),
                http.post("/api/predictions", json={"image": single}),
                http.post(
                    f"/api/predictions/{before.json()['id']}/feedback",
                    json={"label": 7, "consent": True},
                ),
                http.post("/api/samples", json={"image": single, "label": 7}),
            ]
        finally:
            full_stack.redis.delete(*keys)
            full_stack.redis.config_set("maxmemory", MAXMEMORY)
        for answer in refused:
            assert answer.status_code == 503, (answer.request.url, answer.text)
            error = answer.json()["error"]
            assert error["code"] == "redis_full" and "Redis is full" in error["message"], error
            assert int(answer.headers["Retry-After"]) > 0
        # Memory freed: the same requests go through, the refused feedback too.
        again = http.post("/api/predictions", json={"image": png}, headers={"Prefer": "wait=10"})
        assert again.status_code == 200 and again.json()["status"] == "done", again.text
        feedback = http.post(f"/api/predictions/{before.json()['id']}/feedback",
                             json={"label": 7, "consent": True})  # fmt: skip
        assert feedback.status_code == 202, feedback.text
        assert http.post("/api/samples", json={"image": single, "label": 7}).status_code == 202
