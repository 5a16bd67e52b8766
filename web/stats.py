"""Accuracy from feedback: per model and version, over time, refusals, confusion matrices.

Kept as running totals, not recomputed: each feedback event adds to counters in one Redis
hash, once per event id (a Lua script sets a short-lived ``seen`` key first), so
``/api/stats`` reads one hash whatever the number of events. The hash holds a bounded
number of fields: per model, its versions and days and an 11x11 confusion matrix.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import redis

from shared import fine_tune_jobs
from shared.dataset import collectors, sample_index
from shared.dataset.samples import Reading
from shared.names import MODEL_NAMES, QUEUES
from web.health import worker_state
from web.services import Services

TOTALS_KEY = "digits:stats:totals"
SEEN_PREFIX = "digits:stats:seen:"
#: How long an event id is remembered. A feedback is retried by its client soon after a
#: failure; one key per event costs about 150 bytes of Redis for this long.
SEEN_SECONDS = 6 * 3600
#: Row and column of "not a digit" in the confusion matrices (after the ten digits).
NOT_DIGIT = 10
#: Per version, what is counted: right, answered, refused, refusals the person disputed,
#: and drawings the person called not a digit that the model read as one.
VERSION_FIELDS = ("correct", "total", "refused", "refused_disputed", "missed")

# Count an event once: remember its id, then add 1 to each field named.
_ADD_EVENT = """
if redis.call('set', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  for i = 2, #ARGV do redis.call('hincrby', KEYS[2], ARGV[i], 1) end
  return 1
end
return 0
"""


def event_fields(label: int | None, predicted: Mapping[str, Reading], when: float) -> list[str]:
    """The counters one feedback event adds to (each by one).

    "Not a digit" is an answer like a digit: a model that refused a drawing the person
    called not a digit was right.
    """
    day = datetime.fromtimestamp(when, UTC).date().isoformat()
    fields = ["events"] + (["not_a_digit"] if label is None else [])
    for model in MODEL_NAMES:
        answer = predicted[model]
        digit, version = answer["digit"], answer["version"]
        counted = {
            "total": True,
            "correct": digit == label,
            "refused": digit is None,
            "refused_disputed": digit is None and label is not None,
            "missed": digit is not None and label is None,
        }
        fields += [f"v|{model}|{version}|{f}" for f, yes in counted.items() if yes]
        fields += [f"d|{model}|{day}|total"] + ([f"d|{model}|{day}|correct"] * (digit == label))
        row, col = (NOT_DIGIT if v is None else v for v in (label, digit))
        fields.append(f"c|{model}|{row}|{col}")
    return fields


def add_feedback(
    client: redis.Redis, event_id: str, label: int | None, predicted: Mapping[str, Reading]
) -> bool:
    """Count one feedback event, once per ``event_id``; False if it was counted already."""
    fields = event_fields(label, predicted, time.time())
    added = client.eval(_ADD_EVENT, 2, SEEN_PREFIX + event_id, TOTALS_KEY, SEEN_SECONDS, *fields)
    return bool(added)


def compute_stats(client: redis.Redis) -> dict[str, Any]:
    """Accuracy per model and version, per day, refusals, and confusion matrices.

    Per version, ``refused`` counts the model's refusals, ``refused_disputed`` those the
    person said were a digit, and ``missed`` the drawings the person called not a digit
    that the model read as one. Matrices are 11x11, rows the person's answer, columns the
    model's, "not a digit" last.
    """
    totals = {
        (k.decode() if isinstance(k, bytes) else k): int(v)
        for k, v in client.hgetall(TOTALS_KEY).items()
    }
    per_version: dict[str, dict[int, dict[str, int]]] = {m: defaultdict(dict) for m in MODEL_NAMES}
    per_day: dict[str, dict[str, dict[str, int]]] = {m: defaultdict(dict) for m in MODEL_NAMES}
    confusion = {m: [[0] * (NOT_DIGIT + 1) for _ in range(NOT_DIGIT + 1)] for m in MODEL_NAMES}
    for field, count in totals.items():
        kind, _, rest = field.partition("|")
        parts = rest.split("|")
        if kind == "v" and parts[0] in per_version:
            per_version[parts[0]][int(parts[1])][parts[2]] = count
        elif kind == "d" and parts[0] in per_day:
            per_day[parts[0]][parts[1]][parts[2]] = count
        elif kind == "c" and parts[0] in confusion:
            confusion[parts[0]][int(parts[1])][int(parts[2])] = count

    def rows(
        counts: dict[Any, dict[str, int]], key: str, names: tuple[str, ...]
    ) -> list[dict[str, Any]]:
        return [
            {
                key: k,
                **{n: c.get(n, 0) for n in names},
                "accuracy": c.get("correct", 0) / c["total"],
            }
            for k, c in sorted(counts.items())
            if c.get("total")
        ]

    return {
        "feedback_events": totals.get("events", 0),
        "not_a_digit": totals.get("not_a_digit", 0),
        "models": {
            model: {
                "by_version": rows(per_version[model], "version", VERSION_FIELDS),
                "by_day": rows(per_day[model], "day", ("correct", "total")),
                "confusion_matrix": confusion[model],
            }
            for model in MODEL_NAMES
        },
    }


def samples_per_digit(client: redis.Redis) -> dict[str, int]:
    """Visible samples per digit ("0" to "9") and labelled "not a digit" (``not_digit``)."""
    pipe = client.pipeline(transaction=False)
    for label in sample_index.LABELS:
        pipe.zcard(sample_index.zkey(f"label:{label}"))
    found = dict(zip(sample_index.LABELS, (int(n) for n in pipe.execute()), strict=True))
    return {("not_digit" if label == "none" else label): n for label, n in found.items()}


def samples_per_collector(services: Services) -> dict[str, int]:
    """What each trusted collector contributed (visible samples)."""
    collectors.load(services.redis, services.store)
    members = services.redis.smembers(collectors.NAMES_KEY)
    names = sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)
    return sample_index.collector_counts(services.redis, names)


def queue_state(services: Services) -> dict[str, Any]:
    """Operator figures: jobs waiting per queue, workers answering, samples per digit.

    ``workers_ping`` says what an empty ``workers`` means: "pending" until a first ping
    has ended (the first reader starts one, in the background), "failed" when the last
    could not be made (the broker is down), "done" once workers were asked.
    """
    client = services.redis
    try:
        state = worker_state(services)
    except Exception:  # Redis down: a figure, not an error
        state = None
    ping = "pending" if state is None else "failed" if state.error else "done"
    return {
        "queues": {queue: int(client.llen(queue)) for queue in QUEUES},
        "workers": list(state.names) if state is not None else [],
        "workers_ping": ping,
        "samples_per_digit": samples_per_digit(client),
        "samples_per_collector": samples_per_collector(services),
        "active_fine_tune": fine_tune_jobs.active_job(client),
    }
