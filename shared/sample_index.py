"""An index of the stored samples in Redis, so listing, filtering and counting never scan the store.

The store stays the source of truth (``samples/<id>.json``, ``moderation/<id>.json``);
the index is written beside it as each sample is stored and can be rebuilt from it
(``python -m shared.sample_index rebuild``) when Redis was emptied. A manifest in the
store (``dataset/manifest.jsonl.gz``), written every ``MANIFEST_EVERY`` samples, lets a
rebuild read one object for most samples instead of one per sample.

Layout (every key under ``digits:index:``):

- ``meta``: hash, sample id -> compact JSON (label, source, created_at, collector,
  versions of the models that answered, hidden).
- ``z:<filter>``: sorted sets of sample ids scored by creation time (epoch seconds), one
  per filter a page may ask for: ``all``, ``label:<l>``, ``source:<s>``,
  ``label:<l>|source:<s>``, ``collector:<name>``; hidden samples only in ``z:hidden``.
- ``built``: set once the index holds every stored sample (absent after a wipe).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import logging
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis

from shared import moderation, samples
from shared.errors import NotFound, ObjectNotFound
from shared.storage import Store

PREFIX = "digits:index:"
META_KEY = PREFIX + "meta"
BUILT_KEY = PREFIX + "built"
REBUILD_LOCK = PREFIX + "rebuilding"
MANIFEST_KEY = "dataset/manifest.jsonl.gz"
#: The manifest is rewritten each time this many more samples have been indexed.
MANIFEST_EVERY = 1000
#: Labels as filters: the digits, and "none" for samples labelled "not a digit".
LABELS: tuple[str, ...] = (*(str(d) for d in range(10)), "none")
#: Store reads in flight while rebuilding (an S3 read costs about a millisecond of wait).
READERS = 16
#: How long a walk over a snapshot of ids (an export) may take.
SNAPSHOT_SECONDS = 3600
#: Index writes per pipeline while rebuilding.
CHUNK = 1000

log = logging.getLogger(__name__)

# Index a sample once: its meta, then each sorted set it belongs to. Returns 1 when new.
_ADD = """
if redis.call('hsetnx', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
for i = 2, #KEYS do redis.call('zadd', KEYS[i], ARGV[3], ARGV[1]) end
return 1
"""

# Move a sample between sets (hide, unhide) or out of the index (delete), atomically.
# KEYS[1] meta hash, KEYS[2] how many sets to leave, then those sets, then sets to join.
_MOVE = """
local leave = tonumber(ARGV[4])
for i = 2, leave + 1 do redis.call('zrem', KEYS[i], ARGV[1]) end
for i = leave + 2, #KEYS do redis.call('zadd', KEYS[i], ARGV[3], ARGV[1]) end
if ARGV[2] == '' then redis.call('hdel', KEYS[1], ARGV[1])
else redis.call('hset', KEYS[1], ARGV[1], ARGV[2]) end
return 1
"""


def zkey(name: str) -> str:
    return f"{PREFIX}z:{name}"


def label_name(label: Any) -> str:
    return "none" if label is None else str(label)


def timestamp(created_at: str) -> float:
    """Creation time as the sets' score; an unreadable time sorts first rather than failing."""
    try:
        return datetime.fromisoformat(created_at.replace("Z", "+00:00")).timestamp()
    except (AttributeError, ValueError):
        return 0.0


def entry(meta: dict[str, Any]) -> dict[str, Any]:
    """What the index keeps of a sample's metadata: enough to list, filter and export it.

    Not the client fingerprint: the index is read by pages, the store keeps the rest.
    """
    kept = {
        "label": meta.get("label"),
        "source": meta.get("source"),
        "created_at": meta.get("created_at", ""),
    }
    if meta.get("collector"):
        kept["collector"] = meta["collector"]
    versions = {
        model: answer["version"]
        for model, answer in (meta.get("predictions") or {}).items()
        if isinstance(answer, dict) and "version" in answer
    }
    if versions:
        kept["versions"] = versions
    if meta.get("hidden"):
        kept["hidden"] = True
    return kept


def visible_sets(kept: dict[str, Any]) -> list[str]:
    """The sorted sets a visible sample is listed in."""
    label, source = label_name(kept.get("label")), kept.get("source")
    names = ["all", f"label:{label}", f"source:{source}", f"label:{label}|source:{source}"]
    if kept.get("collector"):
        names.append(f"collector:{kept['collector']}")
    return [zkey(name) for name in names]


def sets_of(kept: dict[str, Any]) -> list[str]:
    return [zkey("hidden")] if kept.get("hidden") else visible_sets(kept)


def _dumps(kept: dict[str, Any]) -> str:
    return json.dumps(kept, separators=(",", ":"), sort_keys=True)


def add(client: redis.Redis, sample_id: str, meta: dict[str, Any]) -> bool:
    """Index one stored sample; False if it was indexed already (a redelivered job)."""
    kept = entry(meta)
    keys = [META_KEY, *sets_of(kept)]
    score = timestamp(kept["created_at"])
    return bool(client.eval(_ADD, len(keys), *keys, sample_id, _dumps(kept), score))


def read(client: redis.Redis, sample_id: str) -> dict[str, Any]:
    raw = client.hget(META_KEY, sample_id)
    if raw is None:
        raise NotFound(f"no sample {sample_id}")
    return {"id": sample_id, **json.loads(raw)}


def read_many(client: redis.Redis, ids: list[str]) -> list[dict[str, Any]]:
    """Index entries of ``ids`` in order; ids no longer indexed are left out."""
    if not ids:
        return []
    found = client.hmget(META_KEY, ids)
    return [{"id": i, **json.loads(raw)} for i, raw in zip(ids, found, strict=True) if raw]


def set_hidden(client: redis.Redis, sample_id: str, hidden: bool) -> dict[str, Any]:
    """Move a sample out of (or back into) every listing; its entry remembers the state."""
    current = read(client, sample_id)
    current.pop("id")
    moved = {**current, "hidden": True} if hidden else dict(current)
    if not hidden:
        moved.pop("hidden", None)
    leave, join = sets_of(current), sets_of(moved)
    _move(client, sample_id, moved, leave, join)
    return {"id": sample_id, **moved}


def remove(client: redis.Redis, sample_id: str) -> None:
    """Take a sample out of the index entirely (it was deleted from the store)."""
    try:
        current = read(client, sample_id)
    except NotFound:
        return
    _move(client, sample_id, None, sets_of(current), [])


def _move(
    client: redis.Redis,
    sample_id: str,
    kept: dict[str, Any] | None,
    leave: list[str],
    join: list[str],
) -> None:
    score = timestamp((kept or {}).get("created_at", ""))
    keys = [META_KEY, *leave, *join]
    value = "" if kept is None else _dumps(kept)
    client.eval(_MOVE, len(keys), *keys, sample_id, value, score, len(leave))


# -- reading ------------------------------------------------------------------------------


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
        """The one sorted set holding exactly the samples of label, source, collector."""
        if self.hidden:
            return zkey("hidden")
        if self.collector is not None:
            return zkey(f"collector:{self.collector}")
        label = None if self.label == "any" else label_name(self.label)
        if label is not None and self.source is not None:
            return zkey(f"label:{label}|source:{self.source}")
        if label is not None:
            return zkey(f"label:{label}")
        if self.source is not None:
            return zkey(f"source:{self.source}")
        return zkey("all")

    def needs_check(self) -> bool:
        """True when the set holds more than asked and entries must be checked one by one."""
        mixed = self.collector is not None and (self.label != "any" or self.source is not None)
        return mixed or self.hidden or self.version is not None

    def matches(self, kept: dict[str, Any]) -> bool:
        if self.label != "any" and kept.get("label") != self.label:
            return False
        if self.source is not None and kept.get("source") != self.source:
            return False
        if self.collector is not None and kept.get("collector") != self.collector:
            return False
        if self.version is not None:
            model, version = self.version
            return (kept.get("versions") or {}).get(model) == version
        return True

    def bounds(self) -> tuple[str, str]:
        low = "-inf" if self.since is None else str(self.since)
        high = "+inf" if self.until is None else f"({self.until}"
        return low, high


def page(
    client: redis.Redis, chosen: Filter, limit: int, offset: int
) -> tuple[int, list[dict[str, Any]]]:
    """The total matching, and one page of entries, newest first.

    One sorted set answers most filters in O(log n + page); a filter no set holds exactly
    (a collector's digits of one label, a model version) walks the set in chunks.
    """
    low, high = chosen.bounds()
    if not chosen.needs_check():
        total = int(client.zcount(chosen.key(), low, high))
        ids = client.zrevrangebyscore(chosen.key(), high, low, start=offset, num=limit)
        return total, read_many(client, [_text(i) for i in ids])
    key, total = snapshot(client, chosen)
    try:
        ids = client.zrevrange(key, offset, offset + limit - 1)
        return total, read_many(client, [_text(i) for i in ids])
    finally:
        client.delete(key)


def snapshot(client: redis.Redis, chosen: Filter, chunk: int = CHUNK) -> tuple[str, int]:
    """Copy the matching ids to a short-lived sorted set; its key and how many.

    A walk over the copy sees a fixed set: a sample added or hidden meanwhile neither
    shifts it nor is read twice, and an export knows its size before it writes.
    """
    low, high = chosen.bounds()
    key = f"{PREFIX}snapshot:{uuid.uuid4().hex}"
    if not chosen.needs_check():
        count = int(client.zrangestore(key, chosen.key(), low, high, byscore=True))
    else:
        count = 0
        for batch in _chunks(client.zscan_iter(chosen.key(), count=chunk), chunk):
            ids = [_text(sample_id) for sample_id, _ in batch]
            kept = {e["id"]: e for e in read_many(client, ids)}
            scores = {
                sample_id: score
                for sample_id, score in ((_text(i), s) for i, s in batch)
                if sample_id in kept and chosen.matches(kept[sample_id])
                and (chosen.since is None or score >= chosen.since)
                and (chosen.until is None or score < chosen.until)
            }  # fmt: skip
            if scores:
                client.zadd(key, scores)
                count += len(scores)
    client.expire(key, SNAPSHOT_SECONDS)
    return key, count


def walk(client: redis.Redis, key: str, chunk: int = 500) -> Iterator[dict[str, Any]]:
    """The entries of a snapshot, newest first, ``chunk`` at a time (constant memory)."""
    start = 0
    while True:
        ids = [_text(i) for i in client.zrevrange(key, start, start + chunk - 1)]
        if not ids:
            return
        yield from read_many(client, ids)
        start += chunk


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def iterate(client: redis.Redis, chosen: Filter) -> Iterator[dict[str, Any]]:
    """Every matching entry, newest first."""
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
        pipe.zcard(zkey(f"collector:{name}"))
    return dict(zip(names, (int(n) for n in pipe.execute()), strict=True))


def is_built(client: redis.Redis) -> bool:
    return bool(client.exists(BUILT_KEY))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else value


# -- the store side: manifest and rebuild ----------------------------------


def write_manifest(client: redis.Redis, store: Store) -> int:
    """Copy every index entry to the store as gzipped JSON lines; returns how many.

    Read in HSCAN chunks and compressed as it goes: about 40 bytes per sample in the
    object, and a fraction of the entries in memory at once.
    """
    buffer = io.BytesIO()
    written = 0
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as out:
        for sample_id, raw in client.hscan_iter(META_KEY, count=CHUNK):
            line = {"id": _text(sample_id), **json.loads(raw)}
            out.write(json.dumps(line, separators=(",", ":")).encode() + b"\n")
            written += 1
    store.put_bytes(MANIFEST_KEY, buffer.getvalue(), "application/gzip")
    return written


def read_manifest(store: Store) -> dict[str, dict[str, Any]]:
    try:
        data = store.get_bytes(MANIFEST_KEY)
    except ObjectNotFound:
        return {}
    found = {}
    for line in gzip.decompress(data).splitlines():
        kept = json.loads(line)
        found[kept.pop("id")] = kept
    return found


def rebuild(client: redis.Redis, store: Store, readers: int = READERS) -> dict[str, Any]:
    """Index every sample in the store from scratch; what it read and how fast.

    Ids come from listing the store (the truth); their entries from the manifest where
    it has them, else from each sample's metadata, read ``readers`` at a time; moderation
    records decide what is hidden. Samples stored meanwhile are indexed by their own job
    too (indexing is idempotent), so nothing written during a rebuild is lost.
    """
    started = time.monotonic()
    # Empty the index first: a sample stored from now on is in the listing below or
    # indexed by its own job, never dropped by this clean-up.
    stale = [key for key in client.scan_iter(f"{PREFIX}*") if _text(key) != REBUILD_LOCK]
    if stale:
        client.delete(*stale)
    ids = samples.sample_ids(store)
    manifest = read_manifest(store)
    missing = [sample_id for sample_id in ids if sample_id not in manifest]
    with ThreadPoolExecutor(readers) as pool:
        read = dict(zip(missing, pool.map(lambda i: _stored_entry(store, i), missing), strict=True))
    hidden = moderation.hidden_ids(store)
    for start in range(0, len(ids), CHUNK):
        pipe = client.pipeline(transaction=False)
        for sample_id in ids[start : start + CHUNK]:
            kept = manifest.get(sample_id) or read.get(sample_id)
            if kept is None:  # deleted between listing and reading
                continue
            kept = {**kept, "hidden": True} if sample_id in hidden else kept
            if sample_id not in hidden:
                kept.pop("hidden", None)
            score = timestamp(kept.get("created_at", ""))
            pipe.hset(META_KEY, sample_id, _dumps(kept))
            for key in sets_of(kept):
                pipe.zadd(key, {sample_id: score})
        pipe.execute()
    seconds = time.monotonic() - started
    client.set(BUILT_KEY, json.dumps({"at": time.time(), "samples": len(ids)}))
    return {
        "samples": len(ids),
        "from_manifest": len(ids) - len(missing),
        "read_from_store": len(missing),
        "seconds": round(seconds, 3),
        "per_second": round(len(ids) / seconds) if seconds > 0 else None,
    }


def _stored_entry(store: Store, sample_id: str) -> dict[str, Any] | None:
    try:
        return entry(samples.read_meta(store, sample_id))
    except ObjectNotFound:
        return None


def rebuild_once(client: redis.Redis, store: Store) -> dict[str, Any] | None:
    """Rebuild unless the index is built or another process is rebuilding it right now."""
    if is_built(client) or not client.set(REBUILD_LOCK, "1", nx=True, ex=3600):
        return None
    try:
        return rebuild(client, store)
    finally:
        client.delete(REBUILD_LOCK)


def main(argv: list[str] | None = None) -> int:
    """``python -m shared.sample_index rebuild|manifest``, with REDIS_URL and STORAGE_URL."""
    from shared.celery_config import ssl_options
    from shared.settings import Settings
    from shared.storage import open_store

    parser = argparse.ArgumentParser(prog="python -m shared.sample_index", description=__doc__)
    parser.add_argument("command", choices=["rebuild", "manifest"])
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    client = redis.Redis.from_url(settings.redis_url, **(ssl_options(settings.redis_url) or {}))
    store = open_store(settings.storage_url, settings.s3_endpoint_url)
    if args.command == "rebuild":
        print(json.dumps(rebuild(client, store)))
    else:
        print(json.dumps({"manifest": MANIFEST_KEY, "samples": write_manifest(client, store)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
