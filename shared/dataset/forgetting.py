"""What a deleted sample must also leave: export archives and the dataset manifest.

A deletion takes the sample out of the index and the store (``web.dataset``); copies of
it may remain in two places, which this module clears:

- export archives in the store (``exports/``). Each archive's key starts with the moment
  its export began (Redis's clock, microseconds), so the store alone says which archives
  may hold a drawing deleted since, and which are past ``ARCHIVE_SECONDS``: the sweep
  deletes both, web refuses to serve them, and an export that saw a deletion while it ran
  starts again;
- the manifest (``shared.dataset.sample_index.MANIFEST_KEY``), which a deletion marks stale; the
  samples worker rewrites it within seconds (``upkeep``), never web's request.
"""

from __future__ import annotations

import logging
from typing import Any

import redis

from shared.dataset import sample_index
from shared.storage import Store

log = logging.getLogger(__name__)

#: An export's archive is kept this long, then deleted (the page says so).
ARCHIVE_SECONDS = 24 * 3600
ARCHIVE_PREFIX = "exports/"
#: The Redis time (microseconds) of the newest deletion.
DELETED_AT_KEY = "digits:samples:deleted_at"
#: Set when the manifest may name a deleted sample; the samples worker rewrites it.
MANIFEST_STALE_KEY = "digits:index:manifest_stale"
#: Held while one process writes the manifest, so an older copy never lands last.
MANIFEST_LOCK_KEY = "digits:index:manifest_lock"
MANIFEST_LOCK_SECONDS = 600
#: The sweep of archives runs at most this often per deployment.
SWEEP_KEY = "digits:exports:swept"
SWEEP_EVERY = 60

# Keep the newest deletion time (a slower process must not move it back).
_NOTE_DELETION = """
local now = redis.call('time')
local at = tonumber(now[1]) * 1000000 + tonumber(now[2])
local kept = tonumber(redis.call('get', KEYS[1]) or '0')
if at > kept then redis.call('set', KEYS[1], at) end
return at
"""


def now(client: redis.Redis) -> int:
    """Redis's clock in microseconds: one clock for web and every worker."""
    seconds, micros = client.time()
    return int(seconds) * 1_000_000 + int(micros)


def last_deletion(client: redis.Redis) -> int:
    return int(client.get(DELETED_AT_KEY) or 0)


def note_deletion(client: redis.Redis) -> int:
    """Record that a sample just left the index: archives begun before now may hold it."""
    at = int(client.eval(_NOTE_DELETION, 1, DELETED_AT_KEY))
    client.set(MANIFEST_STALE_KEY, "1")
    return at


def archive_key(job_id: str, kind: str, started: int) -> str:
    return f"{ARCHIVE_PREFIX}{started}-{job_id}.{kind}"


def archive_started(key: str) -> int | None:
    """When the export of an archive began, from its key; None for a key of another form."""
    name = key[len(ARCHIVE_PREFIX) :] if key.startswith(ARCHIVE_PREFIX) else ""
    started, dash, _ = name.partition("-")
    return int(started) if dash and started.isdigit() else None


def archive_state(client: redis.Redis, started: int | None) -> str | None:
    """Why an archive begun at ``started`` may not be served: "deleted", "expired", or None."""
    return _state(started, last_deletion(client), now(client))


def _state(started: int | None, deleted_at: int, at: int) -> str | None:
    if started is None:  # an archive (or a job) from before archives expired
        return "expired"
    if started <= deleted_at:
        return "deleted"
    if started + ARCHIVE_SECONDS * 1_000_000 <= at:
        return "expired"
    return None


def sweep_archives(client: redis.Redis, store: Store) -> int:
    """Delete every archive that may hold a deleted drawing, is past its time, or is of an
    older form (made before archives expired); how many."""
    deleted_at, at = last_deletion(client), now(client)
    gone = 0
    for key in list(store.list_keys(ARCHIVE_PREFIX)):
        if _state(archive_started(key), deleted_at, at) is not None:
            store.delete(key)
            gone += 1
    return gone


def forget_archives(client: redis.Redis, store: Store) -> None:
    """After a deletion: delete the archives now if the store lets us, else the sweep will."""
    try:
        sweep_archives(client, store)
    except Exception:
        log.warning("archives not swept after a deletion; the worker's sweep will", exc_info=True)


def write_manifest(client: redis.Redis, store: Store) -> int | None:
    """Write the manifest unless another process is writing it (then mark it stale, so it
    is written again after); how many entries, or None."""
    if not client.set(MANIFEST_LOCK_KEY, "1", nx=True, ex=MANIFEST_LOCK_SECONDS):
        client.set(MANIFEST_STALE_KEY, "1")
        return None
    try:
        stale = client.delete(MANIFEST_STALE_KEY)  # a deletion from now on marks it again
        try:
            return sample_index.write_manifest(client, store)
        except Exception:
            if stale:  # not written: it still names what was deleted
                client.set(MANIFEST_STALE_KEY, "1")
            raise
    finally:
        client.delete(MANIFEST_LOCK_KEY)


def maybe_write_manifest(client: redis.Redis, store: Store) -> None:
    """Every MANIFEST_EVERY indexed samples, copy the index to the store for fast rebuilds."""
    if int(client.hlen(sample_index.META_KEY)) % sample_index.MANIFEST_EVERY == 0:
        count = write_manifest(client, store)  # None: another process is writing it
        log.info("wrote the dataset manifest: %s samples", count)


def upkeep(client: redis.Redis, store: Store) -> dict[str, Any]:
    """The samples worker's periodic share: a stale manifest rewritten, archives swept."""
    done: dict[str, Any] = {}
    if client.exists(MANIFEST_STALE_KEY) and sample_index.is_built(client):
        if store.exists(sample_index.MANIFEST_KEY):
            done["manifest"] = write_manifest(client, store)
        else:  # none written yet (fewer samples than MANIFEST_EVERY): nothing to clean
            client.delete(MANIFEST_STALE_KEY)
    if client.set(SWEEP_KEY, "1", nx=True, ex=SWEEP_EVERY):
        done["archives_deleted"] = sweep_archives(client, store)
    return done
