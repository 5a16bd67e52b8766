"""Moderation in one place: hide a sample, show it again, delete it; a collector's all at once.

"Hidden" is kept in three places, and each action writes all three, in this order: the
sample's metadata in the store (the truth, which a rebuild reads), the moderation record
(why; what a save job that arrives late obeys: ``shared.dataset.intake``), then the index
(listings, counts, exports and the training set read it). A deletion is recorded first,
then the sample leaves the index, the pending fine-tune set, the store and the export
archives; the manifest follows within seconds (``shared.dataset.forgetting``).
Web's moderation endpoints are thin calls to these functions.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TypedDict

import redis

from shared import fine_tune_jobs
from shared.dataset import collectors, forgetting, sample_index, samples
from shared.dataset.moderation_records import ModerationRecord, record
from shared.dataset.sample_index import Filter
from shared.errors import NotFound
from shared.storage import Store

#: Samples moderated at once when a collector's are hidden together (four store calls each).
BULK_MODERATORS = 8


class Hidden(TypedDict):
    id: str
    hidden: bool
    moderation: ModerationRecord


class Deleted(TypedDict):
    id: str
    deleted: bool
    moderation: ModerationRecord


class CollectorHidden(TypedDict):
    collector: str
    hidden: bool
    #: How many of the collector's samples were moderated (not those deleted meanwhile).
    samples: int


def hide(client: redis.Redis, store: Store, sample_id: str, reason: str) -> Hidden:
    """Hide a sample from listings, exports and training, and say why; NotFound if it is
    not stored."""
    return _set_hidden(client, store, sample_id, True, reason)


def unhide(client: redis.Redis, store: Store, sample_id: str, reason: str) -> Hidden:
    """Show a hidden sample again, and say why."""
    return _set_hidden(client, store, sample_id, False, reason)


def _set_hidden(
    client: redis.Redis, store: Store, sample_id: str, hidden: bool, reason: str
) -> Hidden:
    meta = samples.without(samples.stored_meta(store, sample_id), "id", "hidden")
    if hidden:
        meta["hidden"] = True
    samples.write_meta(store, sample_id, meta)
    kept = record(store, sample_id, "hide" if hidden else "unhide", reason)
    try:
        sample_index.set_hidden(client, sample_id, hidden)
    except NotFound:  # stored but not indexed yet: index it as it now is
        sample_index.add(client, sample_id, meta)
    return {"id": sample_id, "hidden": hidden, "moderation": kept}


def delete(client: redis.Redis, store: Store, sample_id: str, reason: str) -> Deleted:
    """Remove a sample for good: recorded first, then out of the index, the pending set and
    the store, then out of the export archives. NotFound if it is not stored."""
    samples.stored_meta(store, sample_id)
    kept = record(store, sample_id, "delete", reason)
    sample_index.remove(client, sample_id)
    forgetting.note_deletion(client)  # after the index: later exports lack it
    fine_tune_jobs.forget_pending(client, sample_id)
    store.delete(samples.meta_key(sample_id))  # the sample stops existing here
    store.delete(samples.image_key(sample_id))
    forgetting.forget_archives(client, store)
    return {"id": sample_id, "deleted": True, "moderation": kept}


def moderate_collector(
    client: redis.Redis, store: Store, name: str, hidden: bool, reason: str
) -> CollectorHidden:
    """Hide every sample a collector sent (or show them all again), each with its record;
    NotFound for a collector never issued."""
    collectors.read(store, name)
    chosen = Filter(collector=name, hidden=not hidden)
    ids = [entry["id"] for entry in sample_index.iterate(client, chosen)]

    def moderate(sample_id: str) -> bool:
        try:
            _set_hidden(client, store, sample_id, hidden, reason)
        except NotFound:  # deleted meanwhile
            return False
        return True

    with ThreadPoolExecutor(BULK_MODERATORS) as pool:
        done = sum(pool.map(moderate, ids))
    return {"collector": name, "hidden": hidden, "samples": done}
