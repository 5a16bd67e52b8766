"""Prediction jobs: our own record of each accepted job, and its status read back.

Celery reads an unknown or expired task id as PENDING forever, so web keeps a
record per accepted job (with a TTL): no record means 404, never endless "queued".
"""

from __future__ import annotations

import json
import queue
import time
import uuid
from typing import Any

import numpy as np

from shared import names
from shared.celery_config import send
from shared.errors import Conflict, NotFound
from shared.imaging import encode_pixels
from shared.samples import new_meta
from web import stats
from web.services import Services

#: Seconds past the queue expiry before a job still "queued" is reported as timed out.
GRACE = 5.0
_TERMINAL = {"SUCCESS", "FAILURE", "REVOKED"}


def record_key(job_id: str) -> str:
    return f"digits:prediction:{job_id}"


def create_prediction(services: Services, pixels: np.ndarray) -> str:
    """Record the job, then enqueue it; if enqueueing fails the record goes too."""
    job_id = uuid.uuid4().hex
    encoded = encode_pixels(pixels)
    key = record_key(job_id)
    pipe = services.redis.pipeline()
    pipe.hset(key, mapping={"created_at": repr(time.time()), "pixels": encoded})
    pipe.expire(key, services.settings.result_ttl)
    pipe.execute()
    try:
        send(
            services.celery,
            names.PREDICT,
            [encoded],
            task_id=job_id,
            expires=services.settings.predict_expires,
        )
    except Exception:
        services.redis.delete(key)
        raise
    return job_id


def read_record(services: Services, job_id: str) -> dict[str, str]:
    """The job's record, or NotFound for an id we never issued or that expired."""
    if len(job_id) != 32 or any(c not in "0123456789abcdef" for c in job_id):
        raise NotFound("no prediction with this id")
    raw = services.redis.hgetall(record_key(job_id))
    if not raw:
        raise NotFound("no prediction with this id (unknown or expired)")
    return {k.decode(): v.decode() for k, v in raw.items()}


def _task_meta(services: Services, job_id: str) -> dict[str, Any]:
    """The task's state as the result backend stored it; PENDING until a worker writes one."""
    payload = services.redis.get(services.backend.get_key_for_task(job_id))
    if payload is None:
        return {"status": "PENDING", "result": None}
    meta: dict[str, Any] = services.backend.decode_result(payload)
    return meta


def _wait_for_result(services: Services, job_id: str, wait: float) -> dict[str, Any]:
    """Long-poll: the process's one result subscription wakes us when the state changes."""
    backend = services.backend
    with services.results.waiting(backend.get_key_for_task(job_id)) as inbox:
        # Read after registering, so a result stored in between is not missed.
        meta = _task_meta(services, job_id)
        deadline = time.monotonic() + wait
        while meta["status"] not in _TERMINAL:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                # Once more: a publish missed while the subscription was down is read here.
                return _task_meta(services, job_id)
            try:
                payload = inbox.get(timeout=remaining)
            except queue.Empty:
                continue
            # None: the listener (re)subscribed and may have missed a publish.
            if payload is None:
                meta = _task_meta(services, job_id)
            else:
                meta = backend.decode_result(payload)
        return meta


def prediction_status(services: Services, job_id: str, wait: float = 0.0) -> dict[str, Any]:
    """The client's view of a job: queued, running, done (with result) or failed (with error)."""
    record = read_record(services, job_id)
    meta = _wait_for_result(services, job_id, wait) if wait > 0 else _task_meta(services, job_id)
    return _answer(services, job_id, meta, float(record["created_at"]))


def finished_within(services: Services, job_id: str, wait: float) -> dict[str, Any] | None:
    """The answer of a job just created, if it finishes within ``wait`` s (``Prefer: wait``).

    The same body ``prediction_status`` gives, without reading the record back: a
    finished job's answer does not depend on it.
    """
    meta = _wait_for_result(services, job_id, wait)
    if meta["status"] not in _TERMINAL:
        return None
    return _answer(services, job_id, meta, created_at=time.time())


def _answer(
    services: Services, job_id: str, meta: dict[str, Any], created_at: float
) -> dict[str, Any]:
    """The client's words for a Celery state; a job queued past its expiry has failed."""
    state = meta["status"]
    answer: dict[str, Any] = {"id": job_id}
    if state == "SUCCESS":
        answer.update(status="done", result=meta["result"])
    elif state == "FAILURE":
        answer.update(
            status="failed",
            error={"code": "prediction_failed", "message": "the worker could not run the models"},
        )
    elif state == "REVOKED":
        answer.update(status="failed", error=_timed_out(services))
    elif state in {"STARTED", "RETRY"}:
        answer.update(status="running")
    else:
        age = time.time() - created_at
        if age > services.settings.predict_expires + GRACE:
            answer.update(status="failed", error=_timed_out(services))
        else:
            answer.update(status="queued")
    return answer


def _timed_out(services: Services) -> dict[str, str]:
    seconds = services.settings.predict_expires
    return {
        "code": "timed_out",
        "message": f"no worker took the job within {seconds:g} s; try again",
    }


def record_feedback(
    services: Services, job_id: str, label: int | None, consent: bool, client: str
) -> dict[str, Any]:
    """Count the feedback towards accuracy and, with consent, store the drawing as a sample.

    One feedback per prediction: a second is a 409. The sample id is the job id, so a
    redelivered save rewrites the same keys.
    """
    record = read_record(services, job_id)
    meta = _task_meta(services, job_id)
    if meta["status"] != "SUCCESS":
        raise Conflict("this prediction has no result yet; send feedback once it is done")
    key = record_key(job_id)
    if not services.redis.hsetnx(key, "feedback", json.dumps({"label": label, "consent": consent})):
        raise Conflict("feedback for this prediction was already received")
    predicted = {
        name: {"digit": meta["result"][name]["digit"], "version": meta["result"][name]["version"]}
        for name in names.MODEL_NAMES
    }
    try:
        if consent:
            sample = new_meta(label, "feedback", client, predictions=predicted)
            send(services.celery, names.SAVE_SAMPLE, [job_id, record["pixels"], sample])
        stats.add_feedback(services.redis, label, predicted)
    except Exception:
        services.redis.hdel(key, "feedback")  # not accepted: the client may send it again
        raise
    return {"id": job_id, "stored": consent}
