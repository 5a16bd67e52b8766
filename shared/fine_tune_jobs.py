"""Training job records in Redis: one at a time, their progress, and the count of new samples.

A job is a fine-tune (``kind`` "fine_tune") or a full retrain ("retrain"); both share the
records, the status endpoint and the one lock. These are the jobs as web and workers see
them; the TensorFlow work itself is in ``worker.trainer.fine_tuning`` and
``worker.trainer.retraining``. Web enqueues jobs (admin) and reads them; the predict
worker counts new samples and enqueues jobs automatically, at most one per
FINE_TUNE_MIN_INTERVAL (``enqueue_automatic``); the trainer reports progress
and the outcome. The lock is a Redis key set with NX, so one job runs at a time across
any number of trainer processes.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from typing import Any

import redis
from celery import Celery

from shared import names
from shared.celery_config import send
from shared.prediction_records import is_job_id

#: Hard limit of one fine-tune, below the broker's visibility timeout (3600 s) so a
#: running job is never redelivered to a second trainer.
TIME_LIMIT = 1800
LOCK_KEY = "digits:fine_tune:active"
PENDING_KEY = "digits:samples:pending"
#: Set (NX, EX FINE_TUNE_MIN_INTERVAL) when a fine-tune starts automatically: while it
#: lives, new samples only accumulate. An admin's fine-tune neither sets nor minds it.
AUTOMATIC_KEY = "digits:fine_tune:last_automatic"
#: Most sample ids the pending set holds (55 bytes each in Redis, 0.55 MB in all): samples
#: beyond it, while the trainer is down or every model races a challenger, wait for a full
#: retrain, which learns from every stored sample.
PENDING_MAX = 10_000
#: The lock outlives the time limit a little, so a crashed trainer cannot hold it forever.
LOCK_SECONDS = TIME_LIMIT + 120
#: Hard limit of one full retrain (both models from scratch on all of MNIST and every
#: sample): 55 minutes, still below the visibility timeout for the same reason. A retrain
#: that needs longer needs fewer epochs or a bigger trainer dyno (README, "Full retraining").
RETRAIN_TIME_LIMIT = 3300
#: Each kind of job: the task that runs it and how long its lock lives.
KINDS: dict[str, tuple[str, int]] = {
    "fine_tune": (names.FINE_TUNE, LOCK_SECONDS),
    "retrain": (names.RETRAIN, RETRAIN_TIME_LIMIT + 120),
}
JOB_TTL = 30 * 24 * 3600
#: "challenger": a candidate passed the gate and races its champion on live labels;
#: "skipped": every model had a racing challenger, so none was tuned.
FINISHED = ("promoted", "challenger", "rejected", "skipped", "failed")

# Release the lock only if it still names this job (another may hold it by now).
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""

# Add a sample id to the pending set unless it is full; how many it holds.
_ADD_PENDING = """
if redis.call('scard', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('sadd', KEYS[1], ARGV[1])
end
return redis.call('scard', KEYS[1])
"""

# Hold the lock for this job: it already does, or nobody does. A redelivered job whose
# lock expired takes it again; one whose lock another job took meanwhile does not.
_CLAIM = """
local holder = redis.call('get', KEYS[1])
if holder == ARGV[1] or not holder then
  redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
return 0
"""


def _text(value: bytes | str) -> str:
    """Our clients answer bytes (no decode_responses); redis-py types allow str too."""
    return value.decode() if isinstance(value, bytes) else value


def job_key(job_id: str) -> str:
    return f"digits:fine_tune:{job_id}"


def enqueue(
    client: redis.Redis,
    celery: Celery,
    reason: str,
    kind: str = "fine_tune",
    options: dict[str, Any] | None = None,
) -> str | None:
    """Take the lock, record a queued job and send it; None while another job holds the lock.

    ``options`` (JSON primitives) are kept in the record, where the task reads them: a
    redelivered job runs with the same ones. If sending fails the job is marked failed and
    the lock released at once, so the next attempt (a retried sample, an admin) can start
    one instead of waiting out the lock.
    """
    task, lock_seconds = KINDS[kind]
    job_id = uuid.uuid4().hex
    if not client.set(LOCK_KEY, job_id, nx=True, ex=lock_seconds):
        return None
    update(
        client, job_id, status="queued", kind=kind, options=options or {}, reason=reason,
        created_at=time.time(), step=0, total=0,
    )  # fmt: skip
    try:
        send(celery, task, [job_id], task_id=job_id)
    except Exception:
        finish(client, job_id, "failed", error="could not enqueue the job")
        raise
    return job_id


def claim(client: redis.Redis, job_id: str, seconds: int = LOCK_SECONDS) -> bool:
    """Take or keep the lock for a job about to run; False while another job holds it."""
    return bool(client.eval(_CLAIM, 1, LOCK_KEY, job_id, seconds))


def active_job(client: redis.Redis) -> str | None:
    value = client.get(LOCK_KEY)
    return _text(value) if value else None


def update(client: redis.Redis, job_id: str, **fields: Any) -> None:
    key = job_key(job_id)
    pipe = client.pipeline()
    pipe.hset(key, mapping={name: json.dumps(value) for name, value in fields.items()})
    pipe.expire(key, JOB_TTL)
    pipe.execute()


def read_job(client: redis.Redis, job_id: str) -> dict[str, Any] | None:
    # Job ids are uuid4 hex; anything else would name another key, such as the lock's
    # ("active"), a string that HGETALL refuses.
    if not is_job_id(job_id):
        return None
    raw = client.hgetall(job_key(job_id))
    if not raw:
        return None
    fields = {_text(k): json.loads(v) for k, v in raw.items()}
    # Records made before retrains existed have no kind: they were fine-tunes.
    return {"id": job_id, "kind": "fine_tune", **fields}


def finish(client: redis.Redis, job_id: str, status: str, **fields: Any) -> None:
    """Record the outcome, then release the lock if this job still holds it."""
    update(client, job_id, status=status, finished_at=time.time(), **fields)
    client.eval(_RELEASE, 1, LOCK_KEY, job_id)


def note_new_sample(client: redis.Redis, sample_id: str, every: int) -> bool:
    """Count a stored sample as new (a redelivered job counts once); True at the threshold.

    The set holds at most PENDING_MAX ids; a sample beyond that is not added.
    """
    return int(client.eval(_ADD_PENDING, 1, PENDING_KEY, sample_id, PENDING_MAX)) >= every


def enqueue_automatic(client: redis.Redis, celery: Celery, min_interval: float) -> str | None:
    """Start a fine-tune for the new samples, at most one per ``min_interval`` seconds.

    None while the interval runs, or while another job holds the lock; then the samples
    stay pending, and a later sample tries again. The interval starts only when a job
    does: the mark is taken first (so two samples at once start one job) and given back
    if no job started.
    """
    seconds = math.ceil(min_interval)
    mark = uuid.uuid4().hex
    if seconds and not client.set(AUTOMATIC_KEY, mark, nx=True, ex=seconds):
        return None
    job_id = None
    try:
        job_id = enqueue(client, celery, reason="samples")
    finally:
        if job_id is None and seconds:
            client.eval(_RELEASE, 1, AUTOMATIC_KEY, mark)
    return job_id


def pending_samples(client: redis.Redis) -> set[str]:
    return {_text(member) for member in client.smembers(PENDING_KEY)}


def clear_pending(client: redis.Redis, sample_ids: set[str]) -> None:
    """Forget the samples a finished job has seen; later ones keep counting."""
    if sample_ids:
        client.srem(PENDING_KEY, *sample_ids)
