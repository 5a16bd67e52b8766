"""A sample's way into the dataset: the save job's logic, and the samples worker's upkeep.

``save`` writes a labelled drawing as moderation left it (a deleted sample is not written
again, a hidden one stays hidden, a revoked collector's is not trusted), or parks the job
in the backlog when the store refuses it (``shared.dataset.sample_backlog``); then
``after_stored`` indexes it, copies the index to the manifest every MANIFEST_EVERY
samples, and counts it. ``tend`` is the worker's periodic share: the backlog drained,
then what deletions leave behind (``shared.dataset.forgetting.upkeep``).

Saving is idempotent: every key derives from the sample id and the index takes a sample
once, so a redelivered job (or a second worker draining the same entry) rewrites the same
objects and counts nothing twice. What needs the models or the Celery app stays in the
worker, which passes it in as ``Hooks``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Required, TypedDict

import numpy as np
import redis

from shared import metrics
from shared.dataset import collectors, forgetting, moderation_records, sample_backlog, sample_index
from shared.dataset.samples import SOURCES, SampleMeta, write_sample
from shared.errors import DigitsError
from shared.imaging import decode_pixels
from shared.storage import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hooks:
    """What follows a stored sample outside the dataset (``worker.predict.tasks``)."""

    #: First, for a collected sample no moderator hid: it scores the live challengers
    #: before it ever enters training (counted once per sample id).
    race: Callable[[str, np.ndarray, SampleMeta], None]
    #: Last: the sample is new to the fine-tunes, and may start one.
    note_new: Callable[[str], None]


class Saved(TypedDict, total=False):
    """What became of a save job: stored, parked in the ``backlog``, or ``deleted`` already."""

    id: Required[str]
    backlog: bool
    deleted: bool


def save(
    client: redis.Redis, store: Store, sample_id: str, pixels: str, meta: SampleMeta, hooks: Hooks
) -> Saved:
    """Store a labelled sample and what follows; a store that refuses it does not lose it:
    the job waits in the backlog (Redis, no TTL) until the store takes it.

    A malformed job (DigitsError) is refused, and a Redis failure raised, for the task's
    retries.
    """
    image = decode_pixels(pixels)
    try:
        stored = store_unless_deleted(store, sample_id, image, meta)
    except DigitsError:  # a malformed job is refused, not parked for ever
        raise
    except Exception:
        log.warning("the store refused sample %s; kept in the backlog", sample_id, exc_info=True)
        sample_backlog.push(client, sample_id, pixels, meta)
        metrics.add(client, metrics.Tally().count("samples_backlogged"))
        return {"id": sample_id, "backlog": True}
    if stored is None:
        return {"id": sample_id, "deleted": True}
    after_stored(client, store, sample_id, image, stored, hooks)
    return {"id": sample_id}


def store_unless_deleted(
    store: Store, sample_id: str, image: np.ndarray, meta: SampleMeta
) -> SampleMeta | None:
    """Write the sample as moderation left it; the metadata written, or None if deleted.

    A save job can run after a moderator acted on its sample (a redelivery, or a job
    parked in the backlog): a deleted sample must not come back, a hidden one stays hidden,
    and one whose collector was revoked meanwhile is not trusted.
    """
    state = moderation_records.read_record(store, sample_id).get("state")
    if state == "deleted":
        log.info("sample %s was deleted; its late save job is dropped", sample_id)
        return None
    if state == "hidden":
        meta = {**meta, "hidden": True}
    if meta.get("collector") and not collectors.is_trusted(store, str(meta["collector"])):
        meta = collectors.untrusted(meta)  # revoked since it was sent
    write_sample(store, sample_id, image, meta)
    return meta


def after_stored(
    client: redis.Redis,
    store: Store,
    sample_id: str,
    image: np.ndarray,
    meta: SampleMeta,
    hooks: Hooks,
) -> None:
    """What follows a stored sample: its race pair, the index (and every MANIFEST_EVERY
    samples the manifest), the count, then the fine-tunes' count."""
    if meta.get("source") == "collect" and not meta.get("hidden"):
        hooks.race(sample_id, image, meta)
    if sample_index.add(client, sample_id, meta):
        forgetting.maybe_write_manifest(client, store)
        source = meta.get("source")
        tally = metrics.Tally().count(
            "samples_stored", source=source if source in SOURCES else "other"
        )
        metrics.add(client, tally)
    log.info(
        "stored sample %s label=%s source=%s", sample_id, meta.get("label"), meta.get("source")
    )
    hooks.note_new(sample_id)


def drain_backlog(client: redis.Redis, store: Store, hooks: Hooks) -> int:
    """Try the backlog's oldest samples again; how many the store took."""
    taken = 0
    for raw, entry in sample_backlog.oldest(client):
        image = decode_pixels(entry["pixels"])
        try:
            stored = store_unless_deleted(store, entry["id"], image, entry["meta"])
        except Exception:  # still down: keep it, and stop this pass
            log.warning(
                "the store still refuses samples; %s waiting", sample_backlog.waiting(client)
            )
            break
        if stored is not None:
            after_stored(client, store, entry["id"], image, stored, hooks)
            taken += 1
        sample_backlog.done(client, raw)  # last: a failure above leaves it to retry
    return taken


def tend(client: redis.Redis, store: Store, hooks: Hooks) -> None:
    """The samples worker's periodic share: retry the parked samples, then clear what
    deletions left behind. A failure of either (Redis or the store down) waits for the
    next time."""
    try:
        if drain_backlog(client, store, hooks):
            log.info("stored samples from the backlog")
    except Exception:  # Redis down: try again next time
        log.warning("draining the sample backlog failed", exc_info=True)
    try:
        if done := forgetting.upkeep(client, store):
            log.info("dataset upkeep: %s", done)
    except Exception:  # the store or Redis is down: next time
        log.warning("the dataset upkeep failed", exc_info=True)
