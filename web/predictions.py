"""Prediction jobs: accepted, sent in batches, and answered from their records.

Each accepted job has a record with a TTL (``shared.prediction_records``): no record
means 404, never an endless "queued"; a job still without an outcome past the queue
expiry has timed out (its message expired, or the worker that held it died).
"""

from __future__ import annotations

import json
import logging
import queue
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from shared import challengers, metrics, names, number_reading, prediction_records
from shared.canvas import Canvas
from shared.celery_config import send
from shared.dataset.samples import Reading, deletion_token, new_meta
from shared.errors import Conflict, NotFound
from shared.imaging import MAX_IMAGES, decode_digits, encode_pixels, png_data_url
from shared.names import MODEL_NAMES
from shared.shapes import NumberResult, PredictionRecord
from web import stats
from web.services import Services

#: Seconds past the queue expiry before a job still "queued" is reported as timed out.
GRACE = 5.0
#: The workers' counter (``shared.metrics``) of race pairs a feedback could not score.
PAIR_FAILURES = "race_pair_failures"

log = logging.getLogger(__name__)


def create_prediction(services: Services, canvas: Canvas, wait: float = 0.0) -> dict[str, Any]:
    """Accept a drawing; answer once it is sent, or once it is done if that takes under ``wait``.

    Returns the client's view of the job: "queued", or "done"/"failed" when it finished
    in time (``Prefer: wait``).
    """
    job_id = uuid.uuid4().hex
    pixels = encode_pixels(np.stack(canvas.images))
    boxes = json.dumps(canvas.boxes)
    if not wait:
        services.sender.send(job_id, pixels, boxes, canvas.readings)
        return {"id": job_id, "status": "queued"}
    # Listen before sending: the outcome cannot arrive before we are ready for it.
    with services.results.waiting(job_id) as inbox:
        services.sender.send(job_id, pixels, boxes, canvas.readings)
        outcome = _next_outcome(services, job_id, inbox, time.monotonic() + wait)
    created_at = time.time()
    record = PredictionRecord(created_at=repr(created_at), pixels=pixels, boxes=boxes)
    return _answer(services, job_id, outcome, record, created_at)


def read_record(services: Services, job_id: str) -> PredictionRecord:
    """The job's record, or NotFound for an id we never issued or that expired."""
    record = None
    if prediction_records.is_job_id(job_id):
        record = prediction_records.read(services.redis, job_id)
    if record is None:
        raise NotFound("no prediction with this id (unknown or expired)")
    return record


def _outcome(record: PredictionRecord) -> dict[str, Any] | None:
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
    return _answer(services, job_id, outcome, record, created_at)


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


def _images(record: PredictionRecord) -> np.ndarray:
    """The 28x28 images the models read: the whole canvas first, then its digits."""
    return decode_digits(record[prediction_records.PIXELS], MAX_IMAGES)


def _digits(result: Mapping[str, Any], record: PredictionRecord) -> list[dict[str, Any]]:
    """Each digit on the canvas, left to right: its image's index, box and both readings.

    The worker chose the images that make the number (``chosen``); image 0 is the whole
    canvas, which is also the digit when there is only one.
    """
    boxes = json.loads(record[prediction_records.BOXES])
    return [
        {"index": i, "box": boxes[i], **{name: part[name] for name in MODEL_NAMES}}
        for i, part in zip(result["chosen"], result["parts"], strict=True)
    ]


def _result(result: Mapping[str, Any], record: PredictionRecord) -> dict[str, Any]:
    """The client's result: the whole canvas read as one digit, and the number on it.

    Previews are rendered here from the record's pixels: the images the models saw.
    """
    images = _images(record)
    previews: dict[int, str] = {}  # a single digit is the whole canvas: one PNG for both

    def preview(index: int) -> str:
        if index not in previews:
            previews[index] = png_data_url(images[index])
        return previews[index]

    digits = [
        {"box": d.pop("box"), "preview": preview(d.pop("index")), **d}
        for d in _digits(result, record)
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


def record_feedback(
    services: Services,
    job_id: str,
    label: int | None,
    consent: bool,
    client: Callable[[], str],
    number: str | None = None,
) -> dict[str, Any]:
    """Count the feedback towards accuracy and, with consent, store the drawings as samples.

    ``client`` gives the sender's id; called only with consent. Only a consented label
    races the challengers (``shared.challengers``): its drawing is kept, and can be moderated.

    ``label`` is the verdict on the canvas read as one digit (None: not a digit);
    ``number``, when given, the right number: if it has as many digits as were found,
    each digit becomes a sample of its own. One feedback per prediction: a second is a
    409. Sample ids derive from the job id, so a redelivered save rewrites the same keys.
    """
    record = read_record(services, job_id)
    outcome = _outcome(record)
    if outcome is None or "result" not in outcome:
        raise Conflict("this prediction has no result; send feedback once it is done")
    result: NumberResult = outcome["result"]
    verdicts = _verdicts(job_id, record, result, label, number)
    key = prediction_records.record_key(job_id)
    given = {"label": label, "number": number, "consent": consent}
    if not services.redis.hsetnx(key, "feedback", json.dumps(given)):
        raise Conflict("feedback for this prediction was already received")
    try:
        saves, deletions = _new_samples(verdicts, client) if consent else ([], [])
        for event_id, _, digit, predicted in verdicts:
            stats.add_feedback(services.redis, event_id, digit, predicted)
        if consent and number is None and "shadow" in result:  # a challenger read it too
            _race_pair(services, job_id, label, result, client)
        # Last: a drawing is stored only once the answer that carries its secret is sure.
        for args in saves:
            send(services.celery, names.SAVE_SAMPLE, args)
    except Exception:
        services.redis.hdel(key, "feedback")  # not accepted: the client may send it again
        raise
    stored = consent and bool(verdicts)
    return {"id": job_id, "stored": stored, "samples": len(deletions), "deletions": deletions}


#: A drawing a feedback is about: its event (and sample) id, image, label, models' readings.
Verdict = tuple[str, np.ndarray, int | None, dict[str, Reading]]


def _new_samples(
    verdicts: list[Verdict], client: Callable[[], str]
) -> tuple[list[list[Any]], list[dict[str, str]]]:
    """Each drawing's save job (its metadata as a sample), and its deletion secret: shown
    this once in the answer, only its hash is kept."""
    saves, deletions = [], []
    for sample_id, image, digit, predicted in verdicts:
        token, kept = deletion_token()
        sample = new_meta(digit, "feedback", client(), predicted, delete_token_sha256=kept)
        saves.append([sample_id, encode_pixels(image), sample])
        deletions.append({"id": sample_id, "delete_token": token})
    return saves, deletions


def _race_pair(
    services: Services,
    job_id: str,
    label: int | None,
    result: NumberResult,
    client: Callable[[], str],
) -> None:
    """Score the label as a race pair of the challenger that read the drawing too: extra
    evidence, whose failure (a store outage) is logged and counted, and fails no answer."""
    try:
        settings = services.settings
        challengers.score_label(
            services.redis,
            services.store,
            job_id,
            label,
            result,
            result["shadow"],
            client(),
            settings.challenger_pairs,
            settings.challenger_max_days,
        )
    except Exception:
        log.warning("the race pair of %s was not scored", job_id, exc_info=True)
        try:
            services.redis.hincrby(metrics.KEY, metrics.series_field(PAIR_FAILURES, {}), 1)
        except Exception:  # Redis is failing too: the log line is the count
            log.warning("race pair failure not counted", exc_info=True)


def _verdicts(
    job_id: str,
    record: PredictionRecord,
    result: Mapping[str, Any],
    label: int | None,
    number: str | None,
) -> list[Verdict]:
    """The whole canvas with ``label``; or, with ``number``, each digit found, if as many."""
    images = _images(record)
    if number is None:
        return [(job_id, images[0], label, _predicted(result))]
    digits = _digits(result, record)
    if len(number) != len(digits):
        return []
    return [
        (uuid.uuid5(uuid.UUID(job_id), str(i)).hex, images[d["index"]], int(n), _predicted(d))
        for i, (d, n) in enumerate(zip(digits, number, strict=True))
    ]


def _predicted(readings: Mapping[str, Any]) -> dict[str, Reading]:
    """What each model read, as feedback statistics and sample metadata keep it."""
    return {
        name: {"digit": readings[name]["digit"], "version": readings[name]["version"]}
        for name in MODEL_NAMES
    }
