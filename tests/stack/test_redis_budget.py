"""Redis on a small plan and the training triggers (issue 19, items 5 and 8), each through
the real stack on a valkey of its own.

- Every key the app writes has a TTL, or is one docs/architecture.md lists with what bounds it.
- Web under gunicorn (2 processes) and a predict worker stay within a mini plan's 20
  connections with two to spare, idle and under a bounded load; a trainer adds its few.
- Automatic fine-tunes start at most once per FINE_TUNE_MIN_INTERVAL: samples keep
  accumulating meanwhile, and an admin is not held back.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import httpx
import numpy as np
import pytest
import redis

from shared import fine_tune_jobs, pending_samples, prediction_records
from shared.dataset import sample_index
from shared.imaging import render_canvas_png
from tests import processes
from tests.helpers import ADMIN, ADMIN_TOKEN, ROOT, SAMPLE, data_url
from tests.processes import wait_for

ARCHITECTURE = ROOT / "docs" / "architecture.md"
#: Heroku's smallest Redis plan (mini) accepts this many connections...
MINI_CONNECTIONS = 20
#: ...of which these stay free for a one-off dyno or `heroku redis:cli`.
SPARE = 2
#: What a trainer process adds: its Celery connections, and its own client during a job.
TRAINER_CONNECTIONS = 7
#: No key lives longer than a fine-tune's record (30 days)...
LONGEST_TTL = fine_tune_jobs.JOB_TTL
#: ...and a prediction's record, by default, minutes, not a day.
RECORD_TTL = 15 * 60
UNLIMITED = "100000 per minute"


def environment(redis_url: str, store: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        REDIS_URL=redis_url,
        STORAGE_URL=str(store),
        S3_ENDPOINT_URL="",
        WEIGHTS_DIR=str(ROOT / "models"),
        ADMIN_TOKEN=ADMIN_TOKEN,
        MNIST_PATH=str(SAMPLE),
        # The limits are on, as deployed (their counters are keys, their client a
        # connection), at rates no test here reaches.
        RATE_LIMITS_ENABLED="true",
        RATE_LIMIT=UNLIMITED,
        READ_RATE_LIMIT=UNLIMITED,
        # Busy answers (503) are another issue's; here every request must go through.
        MAX_DECODES="32",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def kill(service: processes.Service) -> None:
    """SIGKILL a process we started and its children (their Redis dies with the test)."""
    if service.proc.poll() is None:
        os.killpg(service.proc.pid, signal.SIGKILL)
        service.proc.wait(10)


# ---- what the docs say bounds the keys without a TTL ------------------------------------


def documented_bounds() -> list[str]:
    """The key patterns of docs/architecture.md's table of keys without a TTL ("Redis keys")."""
    text = ARCHITECTURE.read_text()
    start = text.find("\n## Redis keys\n")
    assert start >= 0, "docs/architecture.md has no 'Redis keys' section"
    section = re.split(r"\n##+ ", text[start + 4 :], maxsplit=1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [pattern for row in rows for pattern in re.findall(r"`([^`]+)`", row.split("|")[1])]


def assert_every_key_bounded(client: redis.Redis) -> None:
    """Each key has a TTL (no longer than a job record's), or a documented bound."""
    bounds = documented_bounds()
    unbounded, too_long = [], []
    for raw in client.scan_iter(count=1000):
        key = raw.decode(errors="replace")
        ttl = client.ttl(raw)
        if ttl == -1 and not any(fnmatchcase(key, pattern) for pattern in bounds):
            unbounded.append(key)
        if ttl > LONGEST_TTL:
            too_long.append((key, ttl))
        if key.startswith("digits:prediction:"):
            assert 0 < ttl <= RECORD_TTL, (key, ttl)
    assert unbounded == [] and too_long == []
    assert client.scard(fine_tune_jobs.PENDING_KEY) <= fine_tune_jobs.PENDING_MAX


# ---- a stack as deployed: gunicorn web (2 processes) and a predict worker ----------------


@dataclass
class Stack:
    env: dict[str, str]
    url: str
    redis: redis.Redis
    work: Path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("redis-budget")
    started = [processes.start_valkey(work / "valkey")]
    client = redis.Redis.from_url(started[0].url)
    try:
        env = environment(started[0].url, work / "store", WEB_CONCURRENCY="2")
        started.append(processes.start_web(env, work / "web.log"))
        started.append(
            processes.start_celery_worker(
                env,
                "predict,samples",
                work / "worker.log",
                "worker",
                concurrency=8,
                redis_url=env["REDIS_URL"],
                pool="threads",
                timeout=90,
            )
        )
        yield Stack(env, started[1].url, client, work)
    finally:
        client.close()
        for service in reversed(started):
            service.stop()


def canvases(mnist_sample: dict[str, np.ndarray], count: int) -> list[tuple[str, int]]:
    digits, labels = mnist_sample["x_test"][:count], mnist_sample["y_test"][:count]
    return [(data_url(render_canvas_png(d)), int(y)) for d, y in zip(digits, labels, strict=True)]


def predict(http: httpx.Client, url: str, image: str) -> str:
    """One prediction to its end (Prefer: wait, then long-polls if need be); its id."""
    answer = http.post(f"{url}/api/predictions", json={"image": image},
                       headers={"Prefer": "wait=10"})  # fmt: skip
    assert answer.status_code in {200, 202}, answer.text
    body = answer.json()
    while body.get("status") not in {"done", "failed"}:
        body = http.get(f"{url}{answer.headers['Location']}", params={"wait": 5}).json()
    assert body["status"] == "done", body
    return str(body["id"])


def samples_settled(client: redis.Redis, count: int) -> bool:
    """The index holds ``count`` samples and no job is left in a queue or unacknowledged."""
    return (
        client.hlen(sample_index.META_KEY) >= count
        and not client.hlen("unacked")
        and not client.hlen("train_unacked")
        and not client.llen("samples")
    )


@pytest.mark.slow
def test_every_key_the_app_writes_has_a_ttl_or_a_documented_bound(stack, mnist_sample):
    (image, label), (other, other_label) = canvases(mnist_sample, 2)
    url = stack.url
    with httpx.Client(timeout=30) as http:
        job_id = predict(http, url, image)
        # A read that may land on the other web process: it watches the job too.
        with httpx.Client(timeout=30) as elsewhere:
            assert elsewhere.get(f"{url}/api/predictions/{job_id}").status_code == 200
        answer = http.post(f"{url}/api/predictions/{job_id}/feedback",
                           json={"label": label, "consent": True})  # fmt: skip
        assert answer.status_code == 202, answer.text
        assert http.post(f"{url}/api/samples",
                         json={"image": other, "label": other_label}).status_code == 202  # fmt: skip
        issued = http.post(f"{url}/api/collectors", json={"name": "ada"}, headers=ADMIN)
        assert issued.status_code == 201, issued.text
        answer = http.post(f"{url}/api/samples", json={"image": image, "label": label},
                           headers={"X-Collector-Token": issued.json()["token"]})  # fmt: skip
        assert answer.status_code == 202, answer.text
        wait_for(lambda: samples_settled(stack.redis, 3), 60, "three samples indexed")
        export = http.post(f"{url}/api/samples/exports?format=zip", headers=ADMIN)
        assert export.status_code == 202, export.text
        wait_for(
            lambda: (
                http.get(f"{url}{export.json()['status_url']}", headers=ADMIN).json()["status"]
                == "done"
            ),
            60,
            "the background export",
        )
        for path in ("/healthz", "/api/stats", "/api/models", "/api/samples/counts"):
            assert http.get(f"{url}{path}").status_code in {200, 503}, path
        wait_for(lambda: http.get(f"{url}/healthz").status_code == 200, 30, "a worker ping")
        assert http.get(f"{url}/api/samples", headers=ADMIN).status_code == 200
    wait_for(lambda: samples_settled(stack.redis, 3), 30, "every job acknowledged")
    assert stack.redis.exists(prediction_records.record_key(job_id))
    assert_every_key_bounded(stack.redis)


def own_ports() -> set[int]:
    """Local ports of this process's TCP sockets: the test's own clients, not the stack's."""
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    rows = (line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:])
    return {int(row[1].rsplit(":", 1)[1], 16) for row in rows if row[9] in inodes}


class ConnectionCount:
    """The most client connections valkey had at once, the test process's own not counted
    (its probes and fixtures), sampled every 50 ms."""

    def __init__(self, redis_url: str) -> None:
        self._client = redis.Redis.from_url(redis_url)
        self.most = 0
        self.seen: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def clients(self) -> list[dict]:
        listed = self._client.client_list()
        ours = own_ports()
        return [entry for entry in listed if int(entry["addr"].rsplit(":", 1)[1]) not in ours]

    def now(self) -> int:
        return len(self.clients())

    def _sample(self) -> None:
        while not self._stop.is_set():
            found = self.clients()
            if len(found) > self.most:
                # What they last ran and for how long they have lived: for a failure's message.
                self.most, self.seen = len(found), sorted(f"{c['cmd']}:{c['age']}" for c in found)
            self._stop.wait(0.05)

    def __enter__(self) -> ConnectionCount:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._client.close()


def bounded_load(url: str, drawings: list[tuple[str, int]], clients: int = 8) -> None:
    """Each client predicts and answers a few drawings; one collects samples and reads
    the stats and health pages (which ping the workers) meanwhile."""

    def one_client(index: int) -> None:
        with httpx.Client(timeout=30) as http:
            for image, label in drawings[index::clients]:
                job_id = predict(http, url, image)
                answer = http.post(f"{url}/api/predictions/{job_id}/feedback",
                                   json={"label": label, "consent": False})  # fmt: skip
                assert answer.status_code == 202, answer.text

    def reader(done: threading.Event) -> None:
        with httpx.Client(timeout=30) as http:
            for image, label in drawings[:4]:
                answer = http.post(f"{url}/api/samples", json={"image": image, "label": label})
                assert answer.status_code == 202, answer.text
            while not done.is_set():
                for path in ("/healthz", "/api/stats"):
                    assert http.get(f"{url}{path}").status_code in {200, 503}, path
                done.wait(0.3)

    done = threading.Event()
    side = threading.Thread(target=reader, args=(done,))
    side.start()
    try:
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(one_client, range(clients)))
    finally:
        done.set()
        side.join(30)


@pytest.mark.slow
def test_web_and_a_worker_stay_within_a_mini_plans_connections(stack, mnist_sample):
    drawings = canvases(mnist_sample, 48)
    with ConnectionCount(stack.env["REDIS_URL"]) as count:
        bounded_load(stack.url, drawings)
        time.sleep(1.0)
        idle = count.now()
    budget = MINI_CONNECTIONS - SPARE
    assert count.most <= budget, f"{count.most} > {budget}: {' '.join(count.seen)}"
    assert idle <= budget, (idle, budget)


@pytest.mark.slow
def test_a_trainer_adds_only_its_own_few_connections(stack, tmp_path):
    counter = ConnectionCount(stack.env["REDIS_URL"])
    with counter:
        with httpx.Client(timeout=30) as http:
            wait_for(lambda: http.get(f"{stack.url}/healthz").status_code == 200, 30, "a ping")
        time.sleep(1.0)
        before = counter.now()
        trainer = processes.start_celery_worker(
            stack.env, "train", tmp_path / "trainer.log", "trainer", concurrency=1,
            redis_url=stack.env["REDIS_URL"], timeout=120,
        )  # fmt: skip
        try:
            # Every web process's pings reach it: its replies are part of its cost.
            with httpx.Client(timeout=30) as http:
                for _ in range(4):
                    http.get(f"{stack.url}/healthz")
                    time.sleep(1.5)
            added = counter.now() - before
        finally:
            kill(trainer)
    assert 0 < added <= TRAINER_CONNECTIONS - 1, added  # one more once a job runs


# ---- training triggers -------------------------------------------------------------------


def post_samples(client, drawings: list[tuple[str, int]]) -> list[str]:
    ids = []
    for image, label in drawings:
        answer = client.post("/api/samples", json={"image": image, "label": label})
        assert answer.status_code == 202, answer.get_json()
        ids.append(answer.get_json()["id"])
    return ids


def job_ids(client: redis.Redis) -> list[str]:
    """Every training job recorded (the lock and the interval's mark share the prefix)."""
    found = (
        raw.decode().rsplit(":", 1)[1] for raw in client.scan_iter(fine_tune_jobs.job_key("*"))
    )
    return [name for name in found if prediction_records.is_job_id(name)]


@pytest.mark.slow
def test_automatic_fine_tunes_start_at_most_once_per_interval(tmp_path, mnist_sample):
    from web import create_app

    valkey = processes.start_valkey(tmp_path / "valkey")
    workers: list[processes.Service] = []
    client = redis.Redis.from_url(valkey.url)
    try:
        env = environment(valkey.url, tmp_path / "store", FINE_TUNE_EVERY="3",
                          FINE_TUNE_MIN_INTERVAL="3600", CHALLENGER_PAIRS="0",
                          RATE_LIMITS_ENABLED="false")  # fmt: skip
        web = create_app({"TESTING": True, "SETTINGS_ENV": env}).test_client()
        for queues, name, pool in (("predict,samples", "worker", "threads"),
                                   ("train", "trainer", "prefork")):  # fmt: skip
            workers.append(processes.start_celery_worker(
                env, queues, tmp_path / f"{name}.log", name, concurrency=1,
                redis_url=valkey.url, pool=pool, timeout=120,
            ))  # fmt: skip
        drawings = canvases(mnist_sample, 9)

        first = post_samples(web, drawings[:3])
        started = wait_for(lambda: job_ids(client), 60, "the first automatic fine-tune")
        assert len(started) == 1

        def finished() -> bool:
            job = fine_tune_jobs.read_job(client, started[0])
            return bool(job and job["status"] in fine_tune_jobs.FINISHED)

        wait_for(finished, 600, "the first fine-tune's outcome", interval=1.0)
        outcome = fine_tune_jobs.read_job(client, started[0])
        assert outcome is not None and outcome["status"] != "failed", outcome
        wait_for(lambda: fine_tune_jobs.active_job(client) is None, 10, "the lock released")
        # The lock is free: only the interval can hold back the next six samples' job.
        later = post_samples(web, drawings[3:])
        wait_for(lambda: samples_settled(client, 9), 60, "nine samples indexed")
        time.sleep(1.0)

        assert job_ids(client) == started, "a second automatic fine-tune within the interval"
        assert not client.llen("train")
        assert set(later) <= fine_tune_jobs.pending_samples(client)  # they wait for the next
        assert not set(first) & fine_tune_jobs.pending_samples(client)
        assert 0 < client.ttl(fine_tune_jobs.AUTOMATIC_KEY) <= 3600
        # An admin is not held back by the interval.
        assert web.post("/api/fine-tunes", headers=ADMIN).status_code == 202
        assert len(job_ids(client)) == 2
        assert_every_key_bounded(client)
    finally:
        client.close()
        for worker in workers:
            kill(worker)
        valkey.stop()


@pytest.fixture()
def own_db(redis_database: str) -> Iterator[redis.Redis]:
    """A database of the session's valkey that no worker of the session reads."""
    client = redis.Redis.from_url(redis_database)
    yield client
    client.close()


def test_the_pending_set_stops_growing_at_its_bound(own_db, monkeypatch):
    monkeypatch.setattr(pending_samples, "PENDING_MAX", 3)
    noted = [fine_tune_jobs.note_new_sample(own_db, f"{i:032x}", every=2) for i in range(5)]
    assert noted == [False, True, True, True, True]
    assert own_db.scard(fine_tune_jobs.PENDING_KEY) == 3
    assert own_db.ttl(fine_tune_jobs.PENDING_KEY) == -1  # bounded, not expiring: it is work to do


def test_the_interval_starts_only_when_an_automatic_fine_tune_does(own_db):
    from shared.celery_config import make_celery
    from shared.settings import Settings

    # Nothing is sent while another job holds the lock, so this app never connects.
    celery = make_celery(Settings.from_env({"REDIS_URL": "redis://127.0.0.1:1/0"}))
    own_db.set(fine_tune_jobs.LOCK_KEY, "an admin's job", ex=60)
    assert fine_tune_jobs.enqueue_automatic(own_db, celery, 600) is None
    # The mark was given back: the next sample after the admin's job may start one.
    assert not own_db.exists(fine_tune_jobs.AUTOMATIC_KEY)


def test_a_races_keys_expire_after_its_last_pair(own_db, tmp_path):
    from shared import challengers
    from shared.storage import open_store

    store = open_store(str(tmp_path / "store"), "")
    challengers.add_pair(own_db, store, "cnn", 2, "0" * 32, True, False)
    keys = list(own_db.scan_iter("digits:challenger:*"))
    assert len(keys) == 2
    assert all(0 < own_db.ttl(key) <= challengers.RACE_KEYS_SECONDS for key in keys)
    # Lost (expired) while the race goes on: counted again from the store's pairs.
    own_db.delete(*keys)
    assert challengers.counts(own_db, store, "cnn", 2)["champion_only"] == 1


def test_a_web_pool_of_one_connection_is_refused_at_start():
    from shared.settings import Settings, SettingsError

    # The reply subscription holds one: a pool of one would leave requests none.
    with pytest.raises(SettingsError, match="WEB_REDIS_CONNECTIONS"):
        Settings.from_env({"REDIS_URL": "redis://127.0.0.1:1/0", "WEB_REDIS_CONNECTIONS": "1"})
