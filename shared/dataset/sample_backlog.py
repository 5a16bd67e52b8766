"""Samples the store did not take yet: a Redis list with no TTL, drained until it is empty.

A consented sample was promised to be kept from the moment web accepted it. When the
store refuses it (down, unreachable), the samples worker parks the job here instead of
retrying until Celery gives up; each predict worker process retries the list in the
background, and ``/healthz`` says how many wait. Saving is idempotent (keys derive from
the sample id), so two workers draining the same entry store it once.
"""

from __future__ import annotations

import json
from typing import Any, TypedDict, cast

import redis

from shared.dataset.samples import SampleMeta

BACKLOG_KEY = "digits:samples:backlog"
#: Entries one drain pass tries, oldest first.
DRAIN_BATCH = 20


class Entry(TypedDict):
    """A parked save job: its arguments as the task got them."""

    id: str
    #: The 28x28 image, base64 (``shared.imaging.encode_pixels``).
    pixels: str
    meta: SampleMeta


def push(client: redis.Redis, sample_id: str, pixels: str, meta: SampleMeta) -> None:
    entry: Entry = {"id": sample_id, "pixels": pixels, "meta": meta}
    client.rpush(BACKLOG_KEY, json.dumps(entry, sort_keys=True))


def oldest(client: redis.Redis, count: int = DRAIN_BATCH) -> list[tuple[Any, Entry]]:
    """The oldest entries, raw (to remove exactly that one later) and parsed."""
    found = client.lrange(BACKLOG_KEY, 0, count - 1)
    return [(raw, cast(Entry, json.loads(raw))) for raw in found]


def done(client: redis.Redis, raw: Any) -> None:
    """The store took the entry: forget it (a second drainer's removal finds nothing)."""
    client.lrem(BACKLOG_KEY, 1, raw)


def waiting(client: redis.Redis) -> int:
    return int(client.llen(BACKLOG_KEY))
