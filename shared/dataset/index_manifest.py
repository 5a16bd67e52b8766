"""The sample index from the store: its manifest, the rebuild, and whether it is built.

The store stays the truth. A manifest (``dataset/manifest.jsonl.gz``), written every
``MANIFEST_EVERY`` samples, lets a rebuild read one object for most samples instead of
one per sample. ``digits:index:built`` says the index holds every stored sample in this
code's layout (``SCHEMA``): an index built by an older layout counts as not built, so the
first worker to start rebuilds it once (``rebuild_once``). Each manifest line holds the
entry and, under ``training``, what the trainer reads of the sample besides.
"""

from __future__ import annotations

import gzip
import io
import json
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis

from shared.dataset import moderation_records, samples
from shared.dataset.index_entries import (
    META_KEY,
    PREFIX,
    SETS_PREFIX,
    TRAINING_KEY,
    dumps,
    entry,
    scan,
    sets_of,
    timestamp,
    training_entry,
)
from shared.errors import ObjectNotFound
from shared.storage import Store

BUILT_KEY = PREFIX + "built"
REBUILD_LOCK = PREFIX + "rebuilding"
MANIFEST_KEY = "dataset/manifest.jsonl.gz"
#: The index's layout. 2: one set per combination of filters (a page never walks); 3: what
#: the trainer reads beside the entries (``TRAINING_KEY``). An index of another layout is
#: rebuilt once.
SCHEMA = 3
#: The manifest is rewritten each time this many more samples have been indexed.
MANIFEST_EVERY = 1000
#: Store reads in flight while rebuilding (an S3 read costs about a millisecond of wait).
READERS = 16
#: Index writes per pipeline while rebuilding.
CHUNK = 1000


def is_built(client: redis.Redis) -> bool:
    """The index holds every stored sample, in this layout."""
    raw = client.get(BUILT_KEY)
    if raw is None:
        return False
    try:
        return bool(json.loads(raw).get("schema") == SCHEMA)
    except (ValueError, AttributeError):
        return False


def write_manifest(client: redis.Redis, store: Store) -> int:
    """Copy every index entry, and what the trainer reads of it, to the store as gzipped
    JSON lines; returns how many.

    Read in HSCAN chunks and compressed as it goes: about 60 bytes per sample in the
    object, and a fraction of the entries in memory at once.
    """
    buffer = io.BytesIO()
    written = 0
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as out:
        for sample_id, kept, training in scan(client, CHUNK):
            line = {"id": sample_id, **kept}
            if training is not None:
                line["training"] = training
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

    Ids come from listing the store (the truth); their entries, and what the trainer
    reads of them, from the manifest where it has them, else from each sample's metadata,
    read ``readers`` at a time; moderation records decide what is hidden. Samples stored meanwhile are indexed by their own job
    too (indexing is idempotent), so nothing written during a rebuild is lost.
    """
    started = time.monotonic()
    # Empty the index first: a sample stored from now on is in the listing below or
    # indexed by its own job, never dropped by this clean-up. Snapshots of running
    # exports, the manifest's flags and the lock are not the index: they stay.
    stale = [META_KEY, TRAINING_KEY, BUILT_KEY, *client.scan_iter(f"{SETS_PREFIX}*", count=CHUNK)]
    for start in range(0, len(stale), CHUNK):
        client.delete(*stale[start : start + CHUNK])
    ids = samples.sample_ids(store)
    manifest = read_manifest(store)
    missing = [sample_id for sample_id in ids if not _complete(manifest.get(sample_id))]
    with ThreadPoolExecutor(readers) as pool:
        read = dict(zip(missing, pool.map(lambda i: _stored_entry(store, i), missing), strict=True))
    hidden = moderation_records.hidden_ids(store)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        _index(client, {i: read[i] if i in read else manifest[i] for i in chunk}, hidden)
    seconds = time.monotonic() - started
    built = {"at": time.time(), "samples": len(ids), "schema": SCHEMA}
    client.set(BUILT_KEY, json.dumps(built))
    return {
        "samples": len(ids),
        "from_manifest": len(ids) - len(missing),
        "read_from_store": len(missing),
        "seconds": round(seconds, 3),
        "per_second": round(len(ids) / seconds) if seconds > 0 else None,
    }


def _index(
    client: redis.Redis, entries: dict[str, dict[str, Any] | None], hidden: set[str]
) -> None:
    """Write entries, and each set's new members in one ZADD, in one pipeline; an entry
    of None was deleted since it was listed."""
    metas: dict[str, str] = {}
    training: dict[str, str] = {}
    sets: dict[str, dict[str, float]] = defaultdict(dict)
    for sample_id, line in entries.items():
        if line is None:
            continue
        kept = {k: v for k, v in line.items() if k not in {"hidden", "training"}}
        if sample_id in hidden:
            kept["hidden"] = True
        metas[sample_id] = dumps(kept)
        training[sample_id] = dumps(line["training"])
        score = timestamp(kept.get("created_at", ""))
        for key in sets_of(kept):
            sets[key][sample_id] = score
    if not metas:
        return
    pipe = client.pipeline(transaction=False)
    pipe.hset(META_KEY, mapping=metas)  # type: ignore[arg-type]  # (dict keys invariant)
    pipe.hset(TRAINING_KEY, mapping=training)  # type: ignore[arg-type]
    for key, members in sets.items():
        pipe.zadd(key, members)
    pipe.execute()


def _complete(line: dict[str, Any] | None) -> bool:
    """Whether a manifest line holds all the index keeps (a line of an older manifest
    lacks what the trainer reads: that sample is read from the store)."""
    return line is not None and "training" in line


def _stored_entry(store: Store, sample_id: str) -> dict[str, Any] | None:
    """A manifest line made from the sample's metadata; None once it was deleted."""
    try:
        meta = samples.read_meta(store, sample_id)
    except ObjectNotFound:
        return None
    return {**entry(meta), "training": training_entry(meta)}


def rebuild_once(client: redis.Redis, store: Store) -> dict[str, Any] | None:
    """Rebuild unless the index is built or another process is rebuilding it right now."""
    if is_built(client) or not client.set(REBUILD_LOCK, "1", nx=True, ex=3600):
        return None
    try:
        return rebuild(client, store)
    finally:
        client.delete(REBUILD_LOCK)
