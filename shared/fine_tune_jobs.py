"""Training job records in Redis: one at a time, and their progress.

A job is a fine-tune (``kind`` "fine_tune") or a full retrain ("retrain"); both share the
records, the status endpoint and the one lock. These are the jobs as web and workers see
them; the TensorFlow work itself is in ``worker.trainer.fine_tuning`` and
``worker.trainer.retraining``. Web enqueues jobs (admin) and reads them; the predict
worker counts new samples (``shared.pending_samples``) and enqueues jobs automatically, at
most one per FINE_TUNE_MIN_INTERVAL (``enqueue_automatic``); the trainer reports progress
and the outcome. The lock is a Redis key set with NX, so one job runs at a time across
any number of trainer processes.

A running job's lock is short (LOCK_SECONDS) and its trainer renews it (``keep_lock``, a
heartbeat): a trainer that dies, or is stopped while Redis is down, lets go within a
minute, not after the time limit. A job left "queued" or "running" without its lock is
then marked failed (``settle``: on enqueue, on a status read, and by every trainer).
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Iterable
from typing import Any, cast

import redis
from celery import Celery

from shared import names
from shared.celery_config import send

# The new samples' set, once kept here: its names are still importable from here.
from shared.pending_samples import PENDING_KEY as PENDING_KEY
from shared.pending_samples import PENDING_MAX as PENDING_MAX
from shared.pending_samples import clear_pending as clear_pending
from shared.pending_samples import forget_pending as forget_pending
from shared.pending_samples import note_new_sample as note_new_sample
from shared.pending_samples import pending_samples as pending_samples
from shared.prediction_records import is_job_id
from shared.shapes import TrainingJob

#: Hard limit of one fine-tune, below the broker's visibility timeout (3600 s) so a
#: running job is never redelivered to a second trainer.
TIME_LIMIT = 1800
LOCK_KEY = "digits:fine_tune:active"
#: Set (NX, EX FINE_TUNE_MIN_INTERVAL) when a fine-tune starts automatically: while it
#: lives, new samples only accumulate. An admin's fine-tune neither sets nor minds it.
AUTOMATIC_KEY = "digits:fine_tune:last_automatic"
#: A running job's lock lives this long unless its trainer renews it, which it does every
#: HEARTBEAT_SECONDS: a dead trainer's job frees the lock within a minute.
LOCK_SECONDS = 60
HEARTBEAT_SECONDS = 10
#: A queued job's lock (no trainer renews it yet): long enough for a trainer that is
#: starting (a deploy, a dyno restart) to take the job.
QUEUED_LOCK_SECONDS = 600
#: A job found without its lock is failed only this long after: its trainer, if it still
#: runs (Redis was down longer than the lock lived), takes the lock back meanwhile.
ORPHAN_GRACE_SECONDS = 20
#: Jobs queued or running (ids): where ``settle`` looks for interrupted ones.
UNFINISHED_KEY = "digits:fine_tune:unfinished"
#: The id of the job enqueued last, whoever started it (the Models page shows it).
LATEST_KEY = "digits:fine_tune:latest"
INTERRUPTED = "interrupted: its trainer stopped or lost Redis before it recorded an outcome"
NOT_STARTED = f"no trainer started the job within {QUEUED_LOCK_SECONDS // 60} minutes"
#: Hard limit of one full retrain (both models from scratch on all of MNIST and every
#: sample): 55 minutes, still below the visibility timeout for the same reason. A retrain
#: that needs longer needs fewer epochs or a bigger trainer dyno (docs/learning.md, "Full
#: retraining").
RETRAIN_TIME_LIMIT = 3300
#: Each kind of job: the task that runs it.
KINDS: dict[str, str] = {"fine_tune": names.FINE_TUNE, "retrain": names.RETRAIN}
JOB_TTL = 30 * 24 * 3600
#: "challenger": a candidate passed the gate and races its champion on live labels;
#: "skipped": every model had a racing challenger, so none was tuned.
FINISHED = ("promoted", "challenger", "rejected", "skipped", "failed")

# Release the lock only if it still names this job (another may hold it by now).
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
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

# A running job's heartbeat: -1 once its record says it ended (failed as interrupted), 0
# while another job holds the lock, 1 when the lock is this job's again for ARGV[2] s.
_KEEP = """
local status = redis.call('hget', KEYS[2], 'status')
for i = 3, #ARGV do
  if status == ARGV[i] then return -1 end
end
local holder = redis.call('get', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('hdel', KEYS[2], 'lock_lost_at')
return 1
"""

# A queued or running job without its lock: marked when first seen so, failed once ARGV[2]
# seconds have passed since. 0: it holds its lock; 1: it ended; 2: in its grace; 3: failed.
_SETTLE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return 0 end
local status = redis.call('hget', KEYS[2], 'status')
local error = ({['"running"'] = ARGV[3], ['"queued"'] = ARGV[4]})[status or '']
if not error then
  redis.call('srem', KEYS[3], ARGV[1])
  return 1
end
local time = redis.call('time')
local now = tonumber(time[1]) + tonumber(time[2]) / 1e6
local lost = tonumber(redis.call('hget', KEYS[2], 'lock_lost_at'))
if not lost then
  redis.call('hset', KEYS[2], 'lock_lost_at', tostring(now))
  return 2
end
if now - lost < tonumber(ARGV[2]) then return 2 end
redis.call('hset', KEYS[2], 'status', '"failed"', 'error', error, 'finished_at', tostring(now))
redis.call('srem', KEYS[3], ARGV[1])
return 3
"""
_SETTLED = {0: "held", 1: "ended", 2: "orphaned", 3: "failed"}


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
    one instead of waiting out the lock. Also None while a job that lost its lock is in
    its grace (its trainer may take the lock back); once past it, that job is failed.
    """
    if "orphaned" in settle(client).values():
        return None
    job_id = uuid.uuid4().hex
    if not client.set(LOCK_KEY, job_id, nx=True, ex=QUEUED_LOCK_SECONDS):
        return None
    fields = {
        "status": "queued",
        "kind": kind,
        "options": options or {},
        "reason": reason,
        "created_at": time.time(),
        "step": 0,
        "total": 0,
    }
    pipe = client.pipeline()
    _record(pipe, job_id, fields)
    pipe.sadd(UNFINISHED_KEY, job_id)
    pipe.expire(UNFINISHED_KEY, JOB_TTL)
    pipe.set(LATEST_KEY, job_id, ex=JOB_TTL)
    pipe.execute()
    try:
        send(celery, KINDS[kind], [job_id], task_id=job_id)
    except Exception:
        finish(client, job_id, "failed", error="could not enqueue the job")
        raise
    return job_id


def claim(client: redis.Redis, job_id: str, seconds: int = LOCK_SECONDS) -> bool:
    """Take or keep the lock for a job about to run; False while another job holds it."""
    return bool(client.eval(_CLAIM, 1, LOCK_KEY, job_id, seconds))


def keep_lock(client: redis.Redis, job_id: str) -> str:
    """Take or renew a running job's lock for LOCK_SECONDS (the trainer's heartbeat).

    "held"; "taken" while another job holds it (this one must stop); "ended" once its
    record says it ended, failed by ``settle`` while its trainer could not renew the lock.
    """
    finished = [json.dumps(status) for status in FINISHED]
    keys_and_args: list[str | int] = [LOCK_KEY, job_key(job_id), job_id, LOCK_SECONDS, *finished]
    return {1: "held", 0: "taken", -1: "ended"}[int(client.eval(_KEEP, 2, *keys_and_args))]


def settle(client: redis.Redis, job_ids: Iterable[str] | None = None) -> dict[str, str]:
    """Fail the queued or running jobs (all unfinished ones, or ``job_ids``) that lost their
    lock ORPHAN_GRACE_SECONDS ago or more: their trainer died, or was stopped while Redis was
    down, so they would otherwise show "running" until their record expires.

    Each job's state: "held" (its lock), "ended", "orphaned" (lock lost, in its grace) or
    "failed" (just now).
    """
    if job_ids is None:
        job_ids = {_text(member) for member in client.smembers(UNFINISHED_KEY)}
    states = {}
    messages = (ORPHAN_GRACE_SECONDS, json.dumps(INTERRUPTED), json.dumps(NOT_STARTED))
    for job_id in job_ids:
        if is_job_id(job_id):  # anything else would name another key, such as the lock's
            keys = (LOCK_KEY, job_key(job_id), UNFINISHED_KEY)
            states[job_id] = _SETTLED[int(client.eval(_SETTLE, 3, *keys, job_id, *messages))]
    return states


def active_job(client: redis.Redis) -> str | None:
    value = client.get(LOCK_KEY)
    return _text(value) if value else None


def latest_job(client: redis.Redis) -> TrainingJob | None:
    """The job enqueued last (automatic or an admin's), settled first so that a job whose
    trainer died does not read "running"; None before any, or once its record expired."""
    value = client.get(LATEST_KEY)
    if not value:
        return None
    settle(client, [_text(value)])
    return read_job(client, _text(value))


def update(client: redis.Redis, job_id: str, **fields: Any) -> None:
    pipe = client.pipeline()
    _record(pipe, job_id, fields)
    pipe.execute()


def _record(pipe: redis.client.Pipeline, job_id: str, fields: dict[str, Any]) -> None:
    key = job_key(job_id)
    pipe.hset(key, mapping={name: json.dumps(value) for name, value in fields.items()})
    pipe.expire(key, JOB_TTL)


def read_job(client: redis.Redis, job_id: str) -> TrainingJob | None:
    # Job ids are uuid4 hex; anything else would name another key, such as the lock's
    # ("active"), a string that HGETALL refuses.
    if not is_job_id(job_id):
        return None
    raw = client.hgetall(job_key(job_id))
    if not raw:
        return None
    fields = {_text(k): json.loads(v) for k, v in raw.items()}
    # Records made before retrains existed have no kind: they were fine-tunes.
    return cast(TrainingJob, {"id": job_id, "kind": "fine_tune", **fields})


def finish(client: redis.Redis, job_id: str, status: str, **fields: Any) -> None:
    """Record the outcome, then release the lock if this job still holds it."""
    pipe = client.pipeline()
    _record(pipe, job_id, {"status": status, "finished_at": time.time(), **fields})
    pipe.srem(UNFINISHED_KEY, job_id)
    pipe.eval(_RELEASE, 1, LOCK_KEY, job_id)
    pipe.execute()


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
