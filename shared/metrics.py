"""The workers' metrics: counters in one Redis hash, which web exports at scrape time.

Worker dynos cannot be scraped (Heroku routes HTTP to web only), so the workers count into
the hash ``KEY`` and web's ``/metrics`` reads it (``web/metrics.py``). A field is a series:
its name, then its labels, ``predictions|model=cnn|version=3``. A histogram keeps one field
per bucket an observation fell in (not cumulative: one write per observation) and one for
the sum; web adds the buckets up when it exports them.

The families are declared here once, for the workers that write them and the web process
that describes them, so names cannot drift. Every name is exported with ``digits_`` before
it (and ``_total`` after a counter's).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import redis

from shared import names

#: No TTL: a fixed set of fields (one per model version, task, outcome, bucket;
#: docs/deploy.md, "Redis on a small plan"). Counters only go up; Prometheus takes a wiped
#: Redis as a reset.
KEY = "digits:metrics"


@dataclass(frozen=True)
class Family:
    """One metric the workers count: its kind, what it means and its labels."""

    name: str
    kind: str  # "counter" or "histogram"
    help: str
    labels: tuple[str, ...] = ()
    #: Upper bounds of a histogram's buckets (+Inf is implied).
    buckets: tuple[float, ...] = ()
    #: A histogram's sum is stored times this, as an integer: every field is one (HINCRBY,
    #: also from the delivery's Lua script), so sums of seconds are kept in milliseconds.
    sum_scale: int = 1


FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family(
            "predictions",
            "counter",
            "Images a served model version read (a canvas, then each digit of a number).",
            ("model", "version"),
        ),
        Family(
            "shadow_predictions",
            "counter",
            "Images a live challenger read in shadow, its answer kept but not shown.",
            ("model", "version"),
        ),
        Family(
            "shadow_cpu_microseconds",
            "counter",
            "CPU time the predict workers spent on live challengers' calls (model and answers), in microseconds.",
            ("model",),
        ),
        Family(
            "prediction_jobs",
            "counter",
            "Predictions answered by the workers, by outcome: ok, or the error code.",
            ("outcome",),
        ),
        Family(
            "predict_batch_jobs",
            "histogram",
            "Predictions per predict_batch message (web coalesces the ones that arrive together).",
            (),
            (1, 2, 4, 8, 16, 32, 64),
        ),
        Family(
            "task_failures",
            "counter",
            "Celery tasks that failed for good, by task name.",
            ("task",),
        ),
        Family("task_retries", "counter", "Celery task retries, by task name.", ("task",)),
        Family(
            "training_jobs",
            "counter",
            "Training jobs finished, by kind (fine_tune, retrain) and outcome (promoted, challenger, rejected, skipped, failed).",
            ("kind", "outcome"),
        ),
        Family(
            "training_job_seconds",
            "histogram",
            "How long a training job ran, by kind, failed ones included.",
            ("kind",),
            (30, 60, 120, 300, 600, 1200, 1800, 3600),
            1000,
        ),
        Family(
            "samples_stored",
            "counter",
            "Labelled samples written to the store and indexed, by source (collect, feedback).",
            ("source",),
        ),
        Family(
            "race_pair_failures",
            "counter",
            "Race pairs a feedback answer could not score; the answer was kept.",
            (),
        ),
        Family(
            "samples_backlogged",
            "counter",
            "Samples the store refused, parked in the backlog until it takes them.",
            (),
        ),
    )
}


def bound_text(bound: float) -> str:
    """A bucket's upper bound as a field writes it: ``4``, ``0.5``, ``+Inf``."""
    return "+Inf" if math.isinf(bound) else f"{bound:g}"


def series_field(series: str, labels: dict[str, str]) -> str:
    """``series|name=value|...`` with the labels in the order given."""
    return "|".join([series, *(f"{name}={value}" for name, value in labels.items())])


def parse_field(field: str) -> tuple[str, dict[str, str]]:
    """The series name and labels of a field written by ``series_field``."""
    series, *pairs = field.split("|")
    return series, dict(pair.partition("=")[::2] for pair in pairs)


@lru_cache(maxsize=4096)
def _series(name: str, labels: tuple[tuple[str, Any], ...], part: str = "") -> str:
    """The field of a family's series (``part``: a histogram's "_bucket" or "_sum"; a
    bucket's ``le`` comes last in ``labels``). Cached: a batch's few fields cost a lookup."""
    family = FAMILIES[name]
    given = dict(labels)
    le = given.pop("le", None) if part == "_bucket" else None
    if set(given) != set(family.labels):
        raise ValueError(f"{name} takes labels {family.labels}, not {sorted(given)}")
    # "|" and "=" separate a field's parts: a value never carries them.
    clean = {key: str(given[key]).replace("|", "_").replace("=", "_") for key in family.labels}
    if le is not None:
        clean["le"] = le
    return series_field(name + part, clean)


class Tally(Counter[str]):
    """Increments to write in one go: field -> amount."""

    def count(self, name: str, amount: int = 1, **labels: Any) -> Tally:
        """Add ``amount`` to the counter ``name``."""
        self[_series(name, tuple(labels.items()))] += amount
        return self

    def observe(self, name: str, value: float, **labels: Any) -> Tally:
        """One observation of the histogram ``name``: its bucket, and the sum."""
        family = FAMILIES[name]
        bound = next((b for b in family.buckets if value <= b), math.inf)
        self[_series(name, (*labels.items(), ("le", bound_text(bound))), "_bucket")] += 1
        self[_series(name, tuple(labels.items()), "_sum")] += round(value * family.sum_scale)
        return self


def add(client: redis.Redis, tally: Tally) -> None:
    """Write the increments in one round trip (no-op when there are none)."""
    if not tally:
        return
    pipe = client.pipeline(transaction=False)
    for field, amount in tally.items():
        pipe.hincrby(KEY, field, amount)
    pipe.execute()


def task_label(name: str | None) -> str:
    """A task's name as a label: one the workers declare, else "other" (bounded values)."""
    return name if name is not None and name in names.TASK_QUEUES else "other"
