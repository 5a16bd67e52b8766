"""Feedback on a prediction: counted towards accuracy, and with consent kept as samples.

Apart from ``web.predictions`` because it is another moment of a job: the person's verdict
on an answer they saw, which reads the record the answer came from.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from shared import challengers, metrics, names, prediction_records
from shared.celery_config import send
from shared.dataset.samples import Reading, deletion_token, new_meta
from shared.errors import Conflict
from shared.imaging import encode_pixels
from shared.names import MODEL_NAMES
from shared.shapes import NumberResult, PredictionRecord
from web import stats
from web.predictions import digits_of, images_of, outcome_of, read_record
from web.services import Services

#: The workers' counter (``shared.metrics``) of race pairs a feedback could not score.
PAIR_FAILURES = "race_pair_failures"

log = logging.getLogger(__name__)


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
    each digit is counted, and with consent becomes a sample of its own; with another
    count nothing is counted or stored (``counted`` 0), though the feedback is received.
    One feedback per prediction: a second is a 409. Sample ids derive from the job id, so
    a redelivered save rewrites the same keys.
    """
    record = read_record(services, job_id)
    outcome = outcome_of(record)
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
    answer = {"id": job_id, "stored": stored, "counted": len(verdicts), "samples": len(deletions)}
    return {**answer, "deletions": deletions}


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
    images = images_of(record)
    if number is None:
        return [(job_id, images[0], label, _predicted(result))]
    digits = digits_of(result, record)
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
