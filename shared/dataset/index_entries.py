"""What the sample index keeps of each sample, and the sorted sets that list it.

Every key is under ``digits:index:`` (the layout: ``shared.dataset.sample_index``). A sample is
in one sorted set per filter of a page that it matches, so any filter is answered by one
set: each combination of its label, its source, its collector (if it has one) and one
model version that answered it (if any), named by ``set_name``: ``all``, ``label:3``,
``label:3|source:feedback``, ``collector:ada|version:cnn:2``, ... A hidden sample is in
the same sets with ``hidden|`` in front (``hidden`` alone for every hidden one) and in
none of the visible ones.

Beside the entries, pages never read ``training``: what the trainer needs of each sample
beyond its entry, the client id above all, which the entries leave out.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import redis

from shared.dataset.samples import SampleMeta
from shared.errors import NotFound

PREFIX = "digits:index:"
META_KEY = PREFIX + "meta"
#: Sample id -> ``training_entry``: read by the trainer only (``shared.dataset.training_set``).
TRAINING_KEY = PREFIX + "training"
#: The fields of a sample's metadata the training set is decided by besides ``hidden`` and
#: ``collector``, which the entry holds: copied as they are, so the rule reads the same.
TRAINING_FIELDS = ("label", "consent", "client")
#: Entries one step of ``scan`` reads.
SCAN_CHUNK = 1000
#: Every sorted set of the index starts so (a rebuild empties exactly these and META_KEY).
SETS_PREFIX = PREFIX + "z:"
#: Labels as filters: the digits, and "none" for samples labelled "not a digit".
LABELS: tuple[str, ...] = (*(str(d) for d in range(10)), "none")


def zkey(name: str) -> str:
    return SETS_PREFIX + name


def label_name(label: Any) -> str:
    return "none" if label is None else str(label)


def set_name(
    label: str | None = None,
    source: str | None = None,
    collector: str | None = None,
    version: tuple[str, Any] | None = None,
    hidden: bool = False,
) -> str:
    """The name of the set of the samples with all of these (None: any), e.g.
    ``label:3|source:feedback``; ``label`` is a label's name (``3``, ``none``)."""
    chosen = (("label", label), ("source", source), ("collector", collector))
    parts = [f"{dimension}:{value}" for dimension, value in chosen if value is not None]
    if version is not None:
        parts.append(f"version:{version[0]}:{version[1]}")
    if hidden:
        parts.insert(0, "hidden")
    return "|".join(parts) or "all"


def sets_of(kept: dict[str, Any]) -> list[str]:
    """Every sorted set a sample is listed in: one per filter it matches (4 for an
    anonymous collected drawing, 8 for a collector's, 12 for feedback both models answered)."""
    label, source = label_name(kept.get("label")), str(kept.get("source"))
    collector = kept.get("collector") or None
    versions = [None, *sorted((kept.get("versions") or {}).items())]
    names = []
    for by_label, by_source, by_collector in itertools.product((False, True), repeat=3):
        if by_collector and collector is None:
            continue
        names += [
            set_name(
                label if by_label else None,
                source if by_source else None,
                collector if by_collector else None,
                version,
                bool(kept.get("hidden")),
            )
            for version in versions
        ]
    return [zkey(name) for name in names]


def timestamp(created_at: str) -> float:
    """Creation time as the sets' score; an unreadable time sorts first rather than failing."""
    try:
        return datetime.fromisoformat(created_at.replace("Z", "+00:00")).timestamp()
    except (AttributeError, ValueError):
        return 0.0


def entry(meta: SampleMeta) -> dict[str, Any]:
    """What the index keeps of a sample's metadata: enough to list, filter and export it.

    Not the client fingerprint: the index is read by pages, the store keeps the rest.
    """
    kept: dict[str, Any] = {
        "label": meta.get("label"),
        "source": meta.get("source"),
        "created_at": meta.get("created_at", ""),
    }
    if collector := meta.get("collector") or meta.get("revoked_collector"):  # revoked: still theirs
        kept["collector"] = collector
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


def training_entry(meta: SampleMeta) -> dict[str, Any]:
    """What the trainer reads of a sample beside its entry: the label as sent, consent, and
    the sender's client id (the holdout is made of whole people, the cap counts per client)."""
    fields: Mapping[str, object] = meta
    return {field: fields[field] for field in TRAINING_FIELDS if field in fields}


def scan(
    client: redis.Redis, size: int = SCAN_CHUNK
) -> Iterator[tuple[str, dict[str, Any], dict[str, Any] | None]]:
    """Every entry, with what the trainer reads of it (None where that is not written):
    one HSCAN step and one HMGET per ``size`` entries, one chunk in memory at once. HSCAN
    may return an id twice."""
    chunk: dict[str, Any] = {}
    for sample_id, raw in client.hscan_iter(META_KEY, count=size):
        chunk[text(sample_id)] = raw
        if len(chunk) >= size:
            yield from _with_training(client, chunk)
            chunk = {}
    if chunk:
        yield from _with_training(client, chunk)


def _with_training(
    client: redis.Redis, chunk: dict[str, Any]
) -> Iterator[tuple[str, dict[str, Any], dict[str, Any] | None]]:
    ids = list(chunk)
    for sample_id, side in zip(ids, client.hmget(TRAINING_KEY, ids), strict=True):
        yield sample_id, json.loads(chunk[sample_id]), None if side is None else json.loads(side)


def dumps(kept: dict[str, Any]) -> str:
    return json.dumps(kept, separators=(",", ":"), sort_keys=True)


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else value


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
