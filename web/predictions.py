"""Prediction jobs: accepted, sent in batches, and answered from their records.

Each accepted job has a record with a TTL (``shared.prediction_records``): no record
means 404, never an endless "queued"; a job still without an outcome past the queue
expiry has timed out (its message expired, or the worker that held it died). What a
person then says about an answer is ``web.feedback``.
"""

from __future__ import annotations

import json
import queue
import time
import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np

from shared import number_reading, prediction_records
from shared.errors import NotFound
from shared.imaging import MAX_IMAGES, decode_digits, encode_pixels, png_data_url
from shared.names import MODEL_NAMES
from shared.shapes import PredictionRecord
from web import health
from web.drawings import Drawing
from web.services import Services

#: Seconds past the queue expiry before a job still "queued" is reported as timed out.
GRACE = 5.0


def create_prediction(services: Services, drawing: Drawing, wait: float = 0.0) -> dict[str, Any]:
    """Accept a drawing; answer once it is sent, or once it is done if that takes under ``wait``.

    Returns the client's view of the job: "queued", or "done"/"failed" when it finished
    in time (``Prefer: wait``).
    """
    job_id = uuid.uuid4().hex
    canvas = drawing.canvas
    record = PredictionRecord(
        created_at=repr(time.time()),
        pixels=encode_pixels(np.stack(canvas.images)),
        boxes=json.dumps(canvas.boxes),
    )
    if drawing.strokes is not None:  # read from the strokes: which made each image
        record["strokes"] = json.dumps(drawing.strokes)
    if not wait:
        services.sender.send(job_id, record, canvas.readings)
        answer: dict[str, Any] = {"id": job_id, "status": "queued"}
    else:
        # Listen before sending: the outcome cannot arrive before we are ready for it.
        with services.results.waiting(job_id) as inbox:
            services.sender.send(job_id, record, canvas.readings)
            outcome = _next_outcome(services, job_id, inbox, time.monotonic() + wait)
        answer = _answer(services, job_id, outcome, record, time.time())
    if answer["status"] == "queued":  # slow: have the workers' ping fresh for the polls
        health.worker_state(services)
    return answer


def read_record(services: Services, job_id: str) -> PredictionRecord:
    """The job's record, or NotFound for an id we never issued or that expired."""
    record = None
    if prediction_records.is_job_id(job_id):
        record = prediction_records.read(services.redis, job_id)
    if record is None:
        raise NotFound("no prediction with this id (unknown or expired)")
    return record


def outcome_of(record: PredictionRecord) -> dict[str, Any] | None:
    """The outcome the worker stored in the record; None while it has none."""
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
            return outcome_of(read_record(services, job_id))
        try:
            outcome: dict[str, Any] | None = inbox.get(timeout=remaining)
        except queue.Empty:
            continue
        if outcome is None:  # the listener (re)subscribed and may have missed a publish
            outcome = outcome_of(read_record(services, job_id))
        if outcome is not None:
            return outcome


def prediction_status(services: Services, job_id: str, wait: float = 0.0) -> dict[str, Any]:
    """The client's view of a job: queued, done (with result) or failed (with error).

    A job still queued carries ``unavailable`` (``web.health.recognition_unavailable``)
    when a recent ping found no predict worker, so a client need not wait out its timeout.
    """
    record = read_record(services, job_id)
    outcome = outcome_of(record)
    if outcome is None and wait > 0:
        with services.results.waiting(job_id) as inbox:
            # A job another process sent is published there: ask for a copy on ours.
            prediction_records.watch(services.redis, job_id, services.results.channel, wait)
            # Read after registering, so an outcome stored in between is not missed.
            outcome = outcome_of(read_record(services, job_id))
            if outcome is None:
                outcome = _next_outcome(services, job_id, inbox, time.monotonic() + wait)
    created_at = float(record[prediction_records.CREATED_AT])
    answer = _answer(services, job_id, outcome, record, created_at)
    if answer["status"] == "queued":
        unavailable = health.recognition_unavailable(services)
        if unavailable is not None:
            answer["unavailable"] = unavailable
    return answer


def _answer(
    services: Services,
    job_id: str,
    outcome: dict[str, Any] | None,
    record: PredictionRecord,
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
        answer.update(status="done", result=_result(outcome["result"], record))
    return answer


def images_of(record: PredictionRecord) -> np.ndarray:
    """The 28x28 images the models read: the whole canvas first, then its digits."""
    return decode_digits(record[prediction_records.PIXELS], MAX_IMAGES)


def digits_of(result: Mapping[str, Any], record: PredictionRecord) -> list[dict[str, Any]]:
    """Each digit on the canvas, left to right: its image's index, box, strokes (None when
    read from the PNG) and both readings.

    The worker chose the images that make the number (``chosen``); image 0 is the whole
    canvas, which is also the digit when there is only one.
    """
    boxes = json.loads(record[prediction_records.BOXES])
    strokes = json.loads(record.get(prediction_records.STROKES, "null"))
    return [
        {
            "index": i,
            "box": boxes[i],
            "strokes": None if strokes is None else strokes[i],
            **{name: part[name] for name in MODEL_NAMES},
        }
        for i, part in zip(result["chosen"], result["parts"], strict=True)
    ]


def _result(result: Mapping[str, Any], record: PredictionRecord) -> dict[str, Any]:
    """The client's result: the whole canvas read as one digit, and the number on it.

    Previews are rendered here from the record's pixels: the images the models saw.
    """
    images = images_of(record)
    previews: dict[int, str] = {}  # a single digit is the whole canvas: one PNG for both

    def preview(index: int) -> str:
        if index not in previews:
            previews[index] = png_data_url(images[index])
        return previews[index]

    digits = [
        {"box": d.pop("box"), "preview": preview(d.pop("index")), **d}
        for d in digits_of(result, record)
    ]
    return {
        **{name: result[name] for name in MODEL_NAMES},
        "preview": preview(0),
        # The number's text, or "not a number" (``shared.number_reading.is_number``).
        "number": number_reading.answer(result, digits),
    }


def _timed_out(services: Services) -> dict[str, str]:
    seconds = services.settings.predict_expires
    return {"code": "timed_out", "message": f"no worker answered within {seconds:g} s; try again"}
