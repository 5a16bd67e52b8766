"""Reading the sample index: a page, a count, and the snapshots exports walk.

Every filter a page offers (label, source, collector, model version, hidden, any
combination of them) is one sorted set (``shared.dataset.index_entries.sets_of``), and a time
range is a range of its scores. So a page is one ``ZCOUNT`` and one
``ZREVRANGEBYSCORE … LIMIT`` (pipelined), then one ``HMGET``: O(log n + page) whatever the
filter, and it writes nothing. Only an export copies its ids to a snapshot set first.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import redis

from shared.dataset import samples
from shared.dataset.index_entries import LABELS, PREFIX, label_name, read_many, set_name, text, zkey

#: How long a walk over a snapshot of ids (an export) may take.
SNAPSHOT_SECONDS = 3600


@dataclass(frozen=True)
class Filter:
    """What a page or an export asks for; None means any."""

    label: int | None | str = "any"  # a digit, None ("not a digit") or "any"
    source: str | None = None
    collector: str | None = None
    hidden: bool = False
    since: float | None = None  # epoch seconds, inclusive
    until: float | None = None  # epoch seconds, exclusive
    #: ``(model, version)``: only drawings that version answered.
    version: tuple[str, int] | None = None

    def key(self) -> str:
        """The one sorted set holding exactly the samples of every field but the times."""
        label = None if self.label == "any" else label_name(self.label)
        name = set_name(label, self.source, self.collector, self.version, self.hidden)
        return zkey(name)

    def bounds(self) -> tuple[str, str]:
        low = "-inf" if self.since is None else str(self.since)
        high = "+inf" if self.until is None else f"({self.until}"
        return low, high


def page(
    client: redis.Redis, chosen: Filter, limit: int, offset: int
) -> tuple[int, list[dict[str, Any]]]:
    """The total matching, and one page of entries, newest first: three commands."""
    low, high = chosen.bounds()
    pipe = client.pipeline(transaction=False)
    pipe.zcount(chosen.key(), low, high)
    pipe.zrevrangebyscore(chosen.key(), high, low, start=offset, num=limit)
    total, ids = pipe.execute()
    return int(total), read_many(client, [text(i) for i in ids])


def snapshot(client: redis.Redis, chosen: Filter) -> tuple[str, int]:
    """Copy the matching ids to a short-lived sorted set; its key and how many.

    A walk over the copy sees a fixed set: a sample added or hidden meanwhile neither
    shifts it nor is read twice, and an export knows its size before it writes.
    """
    low, high = chosen.bounds()
    key = f"{PREFIX}snapshot:{uuid.uuid4().hex}"
    count = int(client.zrangestore(key, chosen.key(), low, high, byscore=True))
    client.expire(key, SNAPSHOT_SECONDS)
    return key, count


def walk(client: redis.Redis, key: str, chunk: int = 500) -> Iterator[dict[str, Any]]:
    """The entries of a snapshot, newest first, ``chunk`` at a time (constant memory)."""
    start = 0
    while True:
        ids = [text(i) for i in client.zrevrange(key, start, start + chunk - 1)]
        if not ids:
            return
        yield from read_many(client, ids)
        start += chunk


def iterate(client: redis.Redis, chosen: Filter) -> Iterator[dict[str, Any]]:
    """Every matching entry, newest first (from a snapshot: moving them meanwhile is safe)."""
    key, _ = snapshot(client, chosen)
    try:
        yield from walk(client, key)
    finally:
        client.delete(key)


def counts(client: redis.Redis) -> dict[str, Any]:
    """Samples per label and source, per collector, hidden and in all; O(1) per figure."""
    names = ["all", "hidden"]
    names += [f"label:{label}" for label in LABELS]
    names += [f"source:{source}" for source in samples.SOURCES]
    names += [f"label:{label}|source:{s}" for label in LABELS for s in samples.SOURCES]
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.zcard(zkey(name))
    found = dict(zip(names, (int(n) for n in pipe.execute()), strict=True))
    return {
        "total": found["all"],
        "hidden": found["hidden"],
        "per_label": {label: found[f"label:{label}"] for label in LABELS},
        "per_source": {source: found[f"source:{source}"] for source in samples.SOURCES},
        "per_label_and_source": {
            label: {s: found[f"label:{label}|source:{s}"] for s in samples.SOURCES}
            for label in LABELS
        },
    }


def collector_counts(client: redis.Redis, collectors: Iterable[str]) -> dict[str, int]:
    names = list(collectors)
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.zcard(zkey(set_name(collector=name)))
    return dict(zip(names, (int(n) for n in pipe.execute()), strict=True))
