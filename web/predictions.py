"""Prediction jobs: accepted, sent in batches, and answered from their records.

Each accepted job has a record with a TTL (``shared.prediction_records``): no record
means 404, never an endless "queued"; a job still without an outcome past the queue
expiry has timed out (its message expired, or the worker that held it died).
"""

from __future__ import annotations

import json
import queue
import time
import uuid
from typing import Any

import numpy as np

from shared import names, prediction_records
from shared.celery_config import send
from shared.errors import Conflict, NotFound
from shared.imaging import decode_pixels, encode_pixels, png_data_url
from shared.samples import new_meta
from web import stats
from web.services import Services

#: Seconds past the queue expiry before a job still "queued" is reported as timed out.
GRACE = 5.0


def create_prediction(services: Services, pixels: np.ndarray, wait: float = 0.0) -> dict[str, Any]:
    """Accept a drawing; answer once it is sent, or once it is done if that takes under ``wait``.

    Returns the client's view of the job: "queued", or "done"/"failed" when it finished
    in time (``Prefer: wait``).
    """
    job_id = uuid.uuid4().hex
    encoded = encode_pixels(pixels)
    if not wait:
        services.sender.send(job_id, encoded)
        return {"id": job_id, "status": "queued"}
    # Listen before sending: the outcome cannot arrive before we are ready for it.
    with services.results.waiting(job_id) as inbox:
        services.sender.send(job_id, encoded)
        outcome = _next_outcome(services, job_id, inbox, time.monotonic() + wait)
    return _answer(services, job_id, outcome, encoded, created_at=time.time())


def read_record(services: Services, job_id: str) -> dict[str, str]:
    """The job's record, or NotFound for an id we never issued or that expired."""
    record = None
    if prediction_records.is_job_id(job_id):
        record = prediction_records.read(services.redis, job_id)
    if record is None:
        raise NotFound("no prediction with this id (unknown or expired)")
    return record


def _outcome(record: dict[str, str]) -> dict[str, Any] | None:
    text = record.get(prediction_records.OUTCOME)
    return None if text is None else json.loads(text)


def _next_outcome(
    services: Services, job_id: str, inbox: Any, deadline: float
) -> dict[str, Any] | None:
    """Wait on ``inbox`` for the outcome; re-read the record when the listener says so."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            # Once more: a publish missed while the subscription was down is read here.
            return _outcome(read_record(services, job_id))
        try:
            outcome: dict[str, Any] | None = inbox.get(timeout=remaining)
        except queue.Empty:
            continue
        if outcome is None:  # the listener (re)subscribed and may have missed a publish
            outcome = _outcome(read_record(services, job_id))
        if outcome is not None:
            return outcome


def prediction_status(services: Services, job_id: str, wait: float = 0.0) -> dict[str, Any]:
    """The client's view of a job: queued, done (with result) or failed (with error)."""
    record = read_record(services, job_id)
    outcome = _outcome(record)
    if outcome is None and wait > 0:
        with services.results.waiting(job_id) as inbox:
            # A job another process sent is published there: ask for a copy on ours.
            prediction_records.watch(services.redis, job_id, services.results.channel, wait)
            # Read after registering, so an outcome stored in between is not missed.
            outcome = _outcome(read_record(services, job_id))
            if outcome is None:
                outcome = _next_outcome(services, job_id, inbox, time.monotonic() + wait)
    created_at = float(record[prediction_records.CREATED_AT])
    return _answer(services, job_id, outcome, record[prediction_records.PIXELS], created_at)


def _answer(
    services: Services,
    job_id: str,
    outcome: dict[str, Any] | None,
    pixels: str,
    created_at: float,
) -> dict[str, Any]:
    """The client's words for an outcome; a job queued past its expiry has failed."""
    answer: dict[str, Any] = {"id": job_id}
    if outcome is None:
        age = time.time() - created_at
        if age > services.settings.predict_expires + GRACE:
            answer.update(status="failed", error=_timed_out(services))
        else:
            answer.update(status="queued")
    elif "error" in outcome:
        answer.update(status="failed", error=outcome["error"])
    else:
        # The preview is the drawing the models saw, rendered from the record's pixels.
        result = {**outcome["result"], "preview": png_data_url(decode_pixels(pixels))}
        answer.update(status="done", result=result)
    return answer


def _timed_out(services: Services) -> dict[str, str]:
    seconds = services.settings.predict_expires
    return {
        "code": "timed_out",
        "message": f"no worker answered within {seconds:g} s; try again",
    }


def record_feedback(
    services: Services, job_id: str, label: int | None, consent: bool, client: str
) -> dict[str, Any]:
    """Count the feedback towards accuracy and, with consent, store the drawing as a sample.

    One feedback per prediction: a second is a 409. The sample id is the job id, so a
    redelivered save rewrites the same keys.
    """
    record = read_record(services, job_id)
    outcome = _outcome(record)
    if outcome is None or "result" not in outcome:
        raise Conflict("this prediction has no result; send feedback once it is done")
    result = outcome["result"]
    key = prediction_records.record_key(job_id)
    if not services.redis.hsetnx(key, "feedback", json.dumps({"label": label, "consent": consent})):
        raise Conflict("feedback for this prediction was already received")
    predicted = {
        name: {"digit": result[name]["digit"], "version": result[name]["version"]}
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
