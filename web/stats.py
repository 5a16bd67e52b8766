"""Accuracy from feedback: per model and version, over time, and a confusion matrix.

Every feedback event (with or without consent: it holds no image) is appended to a
Redis stream; the stats are computed from it on request.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
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


def compute_stats(client: redis.Redis) -> dict[str, Any]:
    """Accuracy per model and version, per day, and confusion matrices (rows: true label)."""
    events = _events(client)
    per_version: dict[str, dict[int, list[int]]] = {
        m: defaultdict(lambda: [0, 0]) for m in MODEL_NAMES
    }
    per_day: dict[str, dict[str, list[int]]] = {m: defaultdict(lambda: [0, 0]) for m in MODEL_NAMES}
    confusion = {m: [[0] * 10 for _ in range(10)] for m in MODEL_NAMES}
    not_a_digit = 0
    for event in events:
        label = event["label"]
        if label is None:
            not_a_digit += 1
            continue
        day = datetime.fromtimestamp(event["time"], UTC).date().isoformat()
        for model in MODEL_NAMES:
            answer = event["predicted"][model]
            right = int(answer["digit"] == label)
            for bucket in (per_version[model][answer["version"]], per_day[model][day]):
                bucket[0] += right
                bucket[1] += 1
            confusion[model][label][answer["digit"]] += 1

    def rows(counts: dict[Any, list[int]], key: str) -> list[dict[str, Any]]:
        return [
            {key: k, "correct": c, "total": n, "accuracy": c / n}
            for k, (c, n) in sorted(counts.items())
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
