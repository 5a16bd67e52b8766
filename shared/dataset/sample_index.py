"""An index of the stored samples in Redis, so listing, filtering and counting never scan the store.

The store stays the source of truth (``samples/<id>.json``, ``moderation/<id>.json``);
the index is written beside it as each sample is stored and can be rebuilt from it
(``python -m shared.dataset.sample_index rebuild``) when Redis was emptied, or was built by an
older layout. This module writes it; ``shared.dataset.index_entries`` says what it keeps,
``shared.dataset.index_filters`` reads it, ``shared.dataset.index_manifest`` rebuilds it from the store.

Layout (every key under ``digits:index:``):

- ``meta``: hash, sample id -> compact JSON (label, source, created_at, collector,
  versions of the models that answered, hidden).
- ``training``: hash, sample id -> what the trainer reads besides (label, consent, client
  id: ``index_entries.training_entry``). Pages never read it.
- ``z:<filter>``: sorted sets of sample ids scored by creation time (epoch seconds), one
  per combination of filters a page may ask for: ``all``, ``label:<l>``,
  ``source:<s>``, ``collector:<name>``, ``version:<model>:<v>`` and each combination of
  them in that order, such as ``label:<l>|source:<s>|version:<model>:<v>``. Hidden
  samples are in the same sets named with ``hidden|`` in front (``hidden`` for all).
- ``built``: set once the index holds every stored sample in this layout (``SCHEMA``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import redis

from shared.dataset.index_entries import (
    LABELS,
    META_KEY,
    PREFIX,
    TRAINING_KEY,
    dumps,
    entry,
    label_name,
    read,
    read_many,
    sets_of,
    timestamp,
    training_entry,
    zkey,
)
from shared.dataset.index_filters import (
    SNAPSHOT_SECONDS,
    Filter,
    collector_counts,
    counts,
    iterate,
    page,
    snapshot,
    walk,
)
from shared.dataset.index_manifest import (
    BUILT_KEY,
    MANIFEST_EVERY,
    MANIFEST_KEY,
    REBUILD_LOCK,
    SCHEMA,
    is_built,
    read_manifest,
    rebuild,
    rebuild_once,
    write_manifest,
)
from shared.dataset.samples import SampleMeta
from shared.errors import NotFound

__all__ = [
    "BUILT_KEY",
    "LABELS",
    "MANIFEST_EVERY",
    "MANIFEST_KEY",
    "META_KEY",
    "PREFIX",
    "REBUILD_LOCK",
    "SCHEMA",
    "SNAPSHOT_SECONDS",
    "TRAINING_KEY",
    "Filter",
    "add",
    "collector_counts",
    "counts",
    "entry",
    "is_built",
    "iterate",
    "label_name",
    "page",
    "read",
    "read_many",
    "read_manifest",
    "rebuild",
    "rebuild_once",
    "remove",
    "set_hidden",
    "sets_of",
    "snapshot",
    "timestamp",
    "walk",
    "write_manifest",
    "zkey",
]

# Index a sample once: its entry, what the trainer reads, then each sorted set it belongs
# to. Returns 1 when new.
_ADD = """
if redis.call('hsetnx', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('hset', KEYS[2], ARGV[1], ARGV[4])
for i = 3, #KEYS do redis.call('zadd', KEYS[i], ARGV[3], ARGV[1]) end
return 1
"""

# Move a sample between sets (hide, unhide) or out of the index (delete), atomically.
# KEYS[1] meta hash, KEYS[2] the trainer's hash; ARGV[4] how many sets to leave, the
# KEYS after: those sets, then the sets to join.
_MOVE = """
local leave = tonumber(ARGV[4])
for i = 3, leave + 2 do redis.call('zrem', KEYS[i], ARGV[1]) end
for i = leave + 3, #KEYS do redis.call('zadd', KEYS[i], ARGV[3], ARGV[1]) end
if ARGV[2] == '' then
  redis.call('hdel', KEYS[1], ARGV[1])
  redis.call('hdel', KEYS[2], ARGV[1])
else redis.call('hset', KEYS[1], ARGV[1], ARGV[2]) end
return 1
"""


def add(client: redis.Redis, sample_id: str, meta: SampleMeta) -> bool:
    """Index one stored sample; False if it was indexed already (a redelivered job)."""
    kept = entry(meta)
    keys = [META_KEY, TRAINING_KEY, *sets_of(kept)]
    score = timestamp(kept["created_at"])
    training = dumps(training_entry(meta))
    return bool(client.eval(_ADD, len(keys), *keys, sample_id, dumps(kept), score, training))


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
    keys = [META_KEY, TRAINING_KEY, *leave, *join]
    value = "" if kept is None else dumps(kept)
    client.eval(_MOVE, len(keys), *keys, sample_id, value, score, len(leave))


def main(argv: list[str] | None = None) -> int:
    """``python -m shared.dataset.sample_index rebuild|manifest``, with REDIS_URL and STORAGE_URL."""
    from shared.celery_config import ssl_options
    from shared.settings import Settings
    from shared.storage import open_store

    parser = argparse.ArgumentParser(
        prog="python -m shared.dataset.sample_index", description=__doc__
    )
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
