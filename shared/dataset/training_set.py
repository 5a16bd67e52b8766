"""Which samples may be trained on: one rule, and the index it is read from.

A sample is trainable when it has a label (a digit 0-9, or None: "not a digit", learned as
``answers.NOT_DIGIT``), its sender agreed to share it, and no moderator hid it
(``training_class``). A trusted collector's samples are exempt from the per-client cap
unless the collector was revoked (``collector_of``).

The trainer reads it from the sample index (``shared.dataset.sample_index``): each entry
says what is hidden and who collected it, and a hash beside the entries, which pages
never read, keeps the label as sent, consent and the sender's client id: no sample is
listed nor its metadata read from the store. The store stays the truth: while the index is not built
(Redis was emptied, or its layout changed and a worker is rebuilding it), when Redis does
not answer, or with no Redis at all (the offline tools, tests), the same rule reads each
sample's metadata from the store instead.
"""

from __future__ import annotations

import logging
from collections.abc import Container, Iterator
from dataclasses import dataclass
from typing import Any, cast

import redis

from shared import answers
from shared.dataset import collectors, index_entries, index_manifest, samples
from shared.dataset.samples import SampleMeta
from shared.errors import ObjectNotFound
from shared.storage import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingSample:
    """A sample the models may learn from."""

    id: str
    #: What the models learn it as: its digit, or ``answers.NOT_DIGIT``.
    label: int
    #: Who sent it ("" if unknown): the holdout is made of whole people, the cap counts them.
    client: str
    #: The trusted collector that sent it, exempt from the per-client cap; "" if anonymous.
    collector: str


def training_label(meta: SampleMeta) -> int | None:
    """A sample's class: its digit, ``answers.NOT_DIGIT`` for "not a digit", else None."""
    if "label" not in meta:
        return None
    label = meta["label"]
    if label is None:
        return answers.NOT_DIGIT
    if isinstance(label, int) and not isinstance(label, bool) and 0 <= label < answers.DIGITS:
        return label
    return None


def training_class(meta: SampleMeta) -> int | None:
    """The class a sample is trained as, or None when it may not be trained on: labelled
    (a digit or "not a digit"), shared with consent, and not hidden by a moderator."""
    label = training_label(meta)
    if label is None or not meta.get("consent", False) or meta.get("hidden"):
        return None
    return label


def collector_of(meta: SampleMeta, revoked: Container[str] = ()) -> str:
    """The trusted collector that sent a sample, or "" for an anonymous one (or a revoked
    collector's: their samples count against their client like anyone's)."""
    collector = meta.get("collector")
    return collector if isinstance(collector, str) and collector not in revoked else ""


def trainable(store: Store, index: redis.Redis | None = None) -> list[TrainingSample]:
    """Every sample that may be trained on, in id order: read from ``index`` when it is
    built, else from the store."""
    revoked = collectors.revoked_names(store)
    found = []
    for sample_id, meta in sorted(_metas(store, index).items()):
        label = training_class(meta)
        if label is not None:
            client = str(meta.get("client", ""))
            found.append(TrainingSample(sample_id, label, client, collector_of(meta, revoked)))
    return found


def _metas(store: Store, index: redis.Redis | None) -> dict[str, SampleMeta]:
    if index is not None:
        try:
            if index_manifest.is_built(index):
                return _indexed_metas(store, index)
            log.info("the sample index is not built yet: the training set is read from the store")
        except redis.RedisError:
            log.warning("the sample index did not answer: the training set is read from the store")
    return dict(_stored_metas(store, samples.sample_ids(store)))


def _indexed_metas(store: Store, index: redis.Redis) -> dict[str, SampleMeta]:
    """What the rule reads of each indexed sample, put together from its entry and what
    the trainer reads beside it; a sample without the latter is read from the store."""
    found: dict[str, SampleMeta] = {}
    unread = []
    for sample_id, kept, training in index_entries.scan(index):
        if training is None:  # indexed by a worker of the older layout, during a deploy
            unread.append(sample_id)
        else:
            found[sample_id] = _meta(kept, training)
    found.update(_stored_metas(store, unread))
    return found


def _meta(kept: dict[str, Any], training: dict[str, Any]) -> SampleMeta:
    meta = cast(SampleMeta, dict(training))
    if "collector" in kept:
        meta["collector"] = kept["collector"]
    if kept.get("hidden"):
        meta["hidden"] = True
    return meta


def _stored_metas(store: Store, ids: list[str]) -> Iterator[tuple[str, SampleMeta]]:
    for sample_id in ids:
        try:
            yield sample_id, samples.read_meta(store, sample_id)
        except ObjectNotFound:  # deleted since it was listed
            continue
