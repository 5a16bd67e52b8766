"""Accuracy from feedback: per model and version, over time, and a confusion matrix.

Every feedback event (with or without consent: it holds no image) is appended to a
Redis stream; the stats are computed from it on request.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

import redis

from shared import fine_tune_jobs
from shared.names import MODEL_NAMES, QUEUES
from web.health import answering_workers
from web.services import Services

STREAM_KEY = "digits:feedback"
#: Keep the newest events; older ones are trimmed (approximately, which is cheap).
MAX_EVENTS = 200_000


def add_feedback(client: redis.Redis, label: int | None, predicted: dict[str, Any]) -> None:
    event = {"time": time.time(), "label": label, "predicted": predicted}
    client.xadd(STREAM_KEY, {"event": json.dumps(event)}, maxlen=MAX_EVENTS, approximate=True)


def _events(client: redis.Redis) -> list[dict[str, Any]]:
    return [json.loads(fields[b"event"]) for _, fields in client.xrange(STREAM_KEY)]


#: Row and column of "not a digit" in the confusion matrices (after the ten digits).
NOT_DIGIT = 10


def compute_stats(client: redis.Redis) -> dict[str, Any]:
    """Accuracy per model and version, per day, refusals, and confusion matrices.

    "Not a digit" is an answer like a digit: a model that refused a drawing the person
    called not a digit was right. Per version, ``refused`` counts the model's refusals,
    ``refused_disputed`` those the person said were a digit, and ``missed`` the drawings
    the person called not a digit that the model read as one. Matrices are 11x11, rows
    the person's answer, columns the model's, "not a digit" last.
    """
    events = _events(client)
    per_version: dict[str, dict[int, Counter[str]]] = {m: defaultdict(Counter) for m in MODEL_NAMES}
    per_day: dict[str, dict[str, Counter[str]]] = {m: defaultdict(Counter) for m in MODEL_NAMES}
    confusion = {m: [[0] * (NOT_DIGIT + 1) for _ in range(NOT_DIGIT + 1)] for m in MODEL_NAMES}
    not_a_digit = 0
    for event in events:
        label = event["label"]
        not_a_digit += label is None
        day = datetime.fromtimestamp(event["time"], UTC).date().isoformat()
        for model in MODEL_NAMES:
            answer = event["predicted"][model]
            digit = answer["digit"]
            version = per_version[model][answer["version"]]
            for bucket in (version, per_day[model][day]):
                bucket["correct"] += digit == label
                bucket["total"] += 1
            version["refused"] += digit is None
            version["refused_disputed"] += digit is None and label is not None
            version["missed"] += digit is not None and label is None
            row, col = (NOT_DIGIT if v is None else v for v in (label, digit))
            confusion[model][row][col] += 1

    def rows(counts: dict[Any, Counter[str]], key: str) -> list[dict[str, Any]]:
        return [
            {key: k, **c, "accuracy": c["correct"] / c["total"]} for k, c in sorted(counts.items())
        ]

    return {
        "feedback_events": len(events),
        "not_a_digit": not_a_digit,
        "models": {
            model: {
                "by_version": rows(per_version[model], "version"),
                "by_day": rows(per_day[model], "day"),
                "confusion_matrix": confusion[model],
            }
            for model in MODEL_NAMES
        },
    }


def queue_state(services: Services) -> dict[str, Any]:
    """Operator figures: jobs waiting per queue, workers answering, samples per digit."""
    client = services.redis
    try:
        workers = answering_workers(services)
    except Exception:  # a slow or absent worker is a figure, not an error
        workers = []
    return {
        "queues": {queue: int(client.llen(queue)) for queue in QUEUES},
        "workers": workers,
        "samples_per_digit": fine_tune_jobs.samples_per_label(client),
        "active_fine_tune": fine_tune_jobs.active_job(client),
    }
