"""A training job interrupted by a broker outage ends failed or finishes; it never keeps the
lock (and new fine-tunes at 409) until its time limit.

The lock lives LOCK_SECONDS and the running job's trainer renews it; a job without its lock
is failed ORPHAN_GRACE_SECONDS after that is first seen (``fine_tune_jobs.settle``). The
table tests drive the Redis scripts on the session's valkey; the slow ones stop a real
valkey and a real trainer as ``docker compose stop`` does, with Redis keeping its data.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from shared import fine_tune_jobs, names
from shared.celery_config import make_celery
from shared.settings import Settings
from tests import processes
from tests.fine_tunes import finished, start_training
from tests.helpers import ADMIN, sigkill, stack, web
from tests.processes import wait_for

#: Compose's stop_grace_period: SIGTERM, then SIGKILL.
STOP_GRACE = 30
#: From Redis's return until a new fine-tune is accepted, at most: the lock the stopped
#: trainer renewed last, its grace, and a poll or two.
FREED_WITHIN = fine_tune_jobs.LOCK_SECONDS + fine_tune_jobs.ORPHAN_GRACE_SECONDS + 15


@pytest.fixture()
def jobs_db(redis_database: str) -> Iterator[tuple[redis.Redis, Any]]:
    """A Redis database of its own that no worker reads (the jobs sent stay queued), and a
    Celery app sending to it."""
    client = redis.Redis.from_url(redis_database)
    settings = Settings.from_env({"REDIS_URL": redis_database})
    celery = make_celery(settings, main="digits-test-interrupted")
    yield client, celery
    client.close()
    celery.close()


def lose_lock(client: redis.Redis) -> None:
    """What the lock's expiry does once a trainer stops renewing it."""
    client.delete(fine_tune_jobs.LOCK_KEY)


def test_a_job_without_its_lock_is_failed_after_its_grace_unless_its_trainer_takes_it_back(
    jobs_db, monkeypatch
) -> None:
    client, celery = jobs_db
    first = fine_tune_jobs.enqueue(client, celery, "test")
    assert first is not None
    assert 0 < client.ttl(fine_tune_jobs.LOCK_KEY) <= fine_tune_jobs.QUEUED_LOCK_SECONDS
    assert fine_tune_jobs.keep_lock(client, first) == "held"  # the trainer starts it
    fine_tune_jobs.update(client, first, status="running")
    assert 0 < client.ttl(fine_tune_jobs.LOCK_KEY) <= fine_tune_jobs.LOCK_SECONDS
    assert fine_tune_jobs.settle(client) == {first: "held"}

    lose_lock(client)
    steps = [
        ("first seen without its lock", fine_tune_jobs.settle(client, [first]), {first: "orphaned"}),
        ("no new job within the grace", fine_tune_jobs.enqueue(client, celery, "test"), None),
        ("its heartbeat takes the lock back", fine_tune_jobs.keep_lock(client, first), "held"),
        ("then it holds it again", fine_tune_jobs.settle(client), {first: "held"}),
    ]  # fmt: skip
    assert "lock_lost_at" not in (fine_tune_jobs.read_job(client, first) or {})

    lose_lock(client)
    monkeypatch.setattr(fine_tune_jobs, "ORPHAN_GRACE_SECONDS", 0)
    steps += [
        ("seen without its lock again", fine_tune_jobs.settle(client), {first: "orphaned"}),
        ("failed once the grace is over", fine_tune_jobs.settle(client), {first: "failed"}),
        ("its heartbeat learns it ended", fine_tune_jobs.keep_lock(client, first), "ended"),
        ("nothing unfinished is left", fine_tune_jobs.settle(client), {}),
    ]  # fmt: skip
    for what, got, expected in steps:
        assert got == expected, what
    job = fine_tune_jobs.read_job(client, first)
    assert job is not None and job["status"] == "failed"
    assert job["error"] == fine_tune_jobs.INTERRUPTED and job["finished_at"] >= job["created_at"]

    second = fine_tune_jobs.enqueue(client, celery, "test")
    assert second is not None and fine_tune_jobs.active_job(client) == second
    # A job still running elsewhere learns that another took the lock: it must stop.
    fine_tune_jobs.update(client, first, status="running")
    assert fine_tune_jobs.keep_lock(client, first) == "taken"
    fine_tune_jobs.finish(client, second, "promoted")
    fine_tune_jobs.finish(client, first, "failed")
    assert not client.exists(fine_tune_jobs.UNFINISHED_KEY)  # bounded: finished jobs leave


def test_a_queued_job_no_trainer_took_is_failed_as_not_started(jobs_db, monkeypatch) -> None:
    client, celery = jobs_db
    monkeypatch.setattr(fine_tune_jobs, "ORPHAN_GRACE_SECONDS", 0)
    queued = fine_tune_jobs.enqueue(client, celery, "test")
    assert queued is not None
    lose_lock(client)  # QUEUED_LOCK_SECONDS passed with no trainer
    assert fine_tune_jobs.enqueue(client, celery, "test") is None  # first seen: its grace
    later = fine_tune_jobs.enqueue(client, celery, "test")
    assert later is not None and later != queued
    job = fine_tune_jobs.read_job(client, queued)
    assert job is not None and job["status"] == "failed"
    assert job["error"] == fine_tune_jobs.NOT_STARTED


def test_a_status_read_fails_a_job_without_its_lock(
    jobs_db, redis_database, monkeypatch, tmp_path
) -> None:
    client, celery = jobs_db
    monkeypatch.setattr(fine_tune_jobs, "ORPHAN_GRACE_SECONDS", 0)
    job_id = fine_tune_jobs.enqueue(client, celery, "test")
    assert job_id is not None
    fine_tune_jobs.update(client, job_id, status="running")
    lose_lock(client)
    reader = web(stack(redis_database, str(tmp_path / "store"))).test_client()
    assert reader.get(f"/api/fine-tunes/{job_id}").get_json()["status"] == "running"
    answer = reader.get(f"/api/fine-tunes/{job_id}").get_json()
    assert answer["status"] == "failed" and answer["error"] == fine_tune_jobs.INTERRUPTED
    assert reader.get("/api/fine-tunes/active").status_code == 404  # the lock's key: no job


# ---- a real trainer and a real valkey stopped and started again --------------------------


def stop_valkey_keeping_data(valkey: processes.Service, client: redis.Redis) -> int:
    """Stop valkey as compose stops its Redis (appendonly there): its data is kept."""
    client.config_set("save", "3600 1")  # saved on SIGTERM, loaded by the next start
    valkey.stop()
    return int(valkey.url.rsplit(":", 1)[1].split("/")[0])


def start_valkey_again(valkey: processes.Service, port: int) -> None:
    restarted = processes.start_valkey(valkey.log.parent, port=port)
    valkey.proc = restarted.proc  # the fixture stops whichever runs now


def stop_as_compose_does(service: processes.Service) -> None:
    """SIGTERM (a soft shutdown with REMAP_SIGTERM, as in the Procfile), SIGKILL after the grace."""
    service.proc.send_signal(signal.SIGTERM)
    try:
        service.proc.wait(STOP_GRACE)
    except subprocess.TimeoutExpired:
        sigkill(service)


@pytest.mark.slow
def test_a_trainer_stopped_while_redis_is_down_fails_its_job_and_frees_the_lock_in_a_minute(
    own_valkey, workers, mnist_sample, tmp_path
):
    env = stack(own_valkey.url, str(tmp_path / "store"), REMAP_SIGTERM="SIGQUIT")
    training = start_training(env, workers, mnist_sample)
    client, broker, status_url = training.client, training.redis, training.status_url
    job_id = status_url.rsplit("/", 1)[1]

    # Stopped all at once, Redis first: the trainer cannot record anything any more.
    port = stop_valkey_keeping_data(own_valkey, broker)
    stop_as_compose_does(training.trainer)
    start_valkey_again(own_valkey, port)
    back = time.monotonic()
    # The stopped trainer's lock came back with Redis's data: the defect's 409.
    assert fine_tune_jobs.active_job(broker) == job_id
    assert client.post("/api/fine-tunes", headers=ADMIN).status_code == 409
    workers.start(env, names.QUEUE_TRAIN, "trainer")  # everything starts again

    def accepted() -> str | None:
        answer = client.post("/api/fine-tunes", headers=ADMIN)
        assert answer.status_code in {202, 409}, answer.get_json()
        return answer.headers["Location"] if answer.status_code == 202 else None

    new_url = wait_for(accepted, FREED_WITHIN, "a new fine-tune accepted", interval=2.0)
    assert time.monotonic() - back < FREED_WITHIN
    old = client.get(status_url).get_json()
    assert old["status"] == "failed" and old["error"] == fine_tune_jobs.INTERRUPTED, old

    # The new job runs on the new trainer ("skipped" if the stopped one got as far as
    # publishing challengers); the old one stays failed: its message, left unacknowledged,
    # comes back only after the visibility timeout, and then does nothing.
    job = wait_for(lambda: finished(client, new_url), 180, "the new fine-tune's outcome")
    assert job["status"] != "failed", job
    assert client.get(status_url).get_json()["status"] == "failed"
    assert fine_tune_jobs.active_job(broker) is None


@pytest.mark.slow
def test_a_fine_tune_lives_through_a_redis_restart_and_finishes(
    own_valkey, workers, mnist_sample, tmp_path
):
    env = stack(own_valkey.url, str(tmp_path / "store"))
    training = start_training(env, workers, mnist_sample)
    client, broker, status_url = training.client, training.redis, training.status_url

    assert client.get(status_url).get_json()["status"] == "running"
    stopped = time.time()
    port = stop_valkey_keeping_data(own_valkey, broker)
    time.sleep(3)  # progress reports and the heartbeat fail meanwhile
    start_valkey_again(own_valkey, port)

    job = wait_for(lambda: finished(client, status_url), 180, "the fine-tune's outcome")
    assert job["status"] in {"promoted", "challenger", "rejected"}, job
    assert job["finished_at"] > stopped  # it ran through the outage
    assert training.trainer.proc.poll() is None
    assert fine_tune_jobs.active_job(broker) is None
    assert client.post("/api/fine-tunes", headers=ADMIN).status_code == 202
