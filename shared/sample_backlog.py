"""Samples the store did not take yet: a Redis list with no TTL, drained until it is empty.

A consented sample was promised to be kept from the moment web accepted it. When the
store refuses it (down, unreachable), the samples worker parks the job here instead of
retrying until Celery gives up; each predict worker process retries the list in the
background, and ``/healthz`` says how many wait. Saving is idempotent (keys derive from
the sample id), so two workers draining the same entry store it once.
"""

from __future__ import annotations

import json
from typing import Any

import redis

BACKLOG_KEY = "digits:samples:backlog"
#: Entries one drain pass tries, oldest first.
DRAIN_BATCH = 20


def push(client: redis.Redis, sample_id: str, pixels: str, meta: dict[str, Any]) -> None:
    entry = json.dumps({"id": sample_id, "pixels": pixels, "meta": meta}, sort_keys=True)
    client.rpush(BACKLOG_KEY, entry)


def oldest(client: redis.Redis, count: int = DRAIN_BATCH) -> list[tuple[Any, dict[str, Any]]]:
    """The oldest entries, raw (to remove exactly that one later) and parsed."""
    return [(raw, json.loads(raw)) for raw in client.lrange(BACKLOG_KEY, 0, count - 1)]


def done(client: redis.Redis, raw: Any) -> None:
    """The store took the entry: forget it (a second drainer's removal finds nothing)."""
    client.lrem(BACKLOG_KEY, 1, raw)


def waiting(client: redis.Redis) -> int:
    return int(client.llen(BACKLOG_KEY))
