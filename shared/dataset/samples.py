"""Labelled samples in the object store: ``samples/<id>.png`` and ``samples/<id>.json``."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from typing import TypedDict, cast

import numpy as np

from shared.errors import InvalidRequest, NotFound, ObjectNotFound
from shared.imaging import png_bytes
from shared.registry import now_iso
from shared.storage import Store

SOURCES = ("collect", "feedback")
_ID = re.compile(r"[0-9a-f]{32}")


class Reading(TypedDict):
    """What one model read in a drawing a feedback is about."""

    digit: int
    version: int


class SampleMeta(TypedDict, total=False):
    """A sample's metadata, ``samples/<id>.json``: what ``new_meta`` makes, and what
    moderation and collectors' revocations add later. Every field but ``id`` is written
    by ``new_meta`` or one of those; ``id`` is added by ``write_meta`` and so is in what
    ``read_meta`` returns."""

    id: str
    #: A digit 0-9, or None: "not a digit".
    label: int | None
    #: One of SOURCES.
    source: str
    #: Only consented drawings are stored; the training set asks anyway.
    consent: bool
    created_at: str
    #: The sender's client id (``web.client_ids``): kept in the store, never listed.
    client: str
    #: What each model read (feedback only), by model name.
    predictions: dict[str, Reading]
    #: The trusted collector who sent it (``shared.dataset.collectors``).
    collector: str
    #: A revoked collector's name: still theirs, no longer trusted.
    revoked_collector: str
    #: The SHA-256 of the secret its sender may delete it with (never listed).
    delete_token_sha256: str
    #: Hidden by a moderator (``shared.dataset.moderation``).
    hidden: bool


def check_id(sample_id: str) -> str:
    """Ids are made by web (uuid4 hex); anything else never reaches a store key."""
    if not isinstance(sample_id, str) or not _ID.fullmatch(sample_id):
        raise InvalidRequest("id must be 32 lowercase hex digits")
    return sample_id


def image_key(sample_id: str) -> str:
    return f"samples/{check_id(sample_id)}.png"


def meta_key(sample_id: str) -> str:
    return f"samples/{check_id(sample_id)}.json"


def new_meta(
    label: int | None,
    source: str,
    client: str,
    predictions: dict[str, Reading] | None = None,
    collector: str | None = None,
    delete_token_sha256: str | None = None,
) -> SampleMeta:
    """The metadata stored beside a sample's image; only consented drawings become samples.

    ``collector`` names the trusted collector who sent it (``shared.dataset.collectors``);
    ``delete_token_sha256`` lets the person who sent it delete it (never listed).
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}")
    meta: SampleMeta = {
        "label": label,
        "source": source,
        "consent": True,
        "created_at": now_iso(),
        "client": client,
    }
    if predictions is not None:
        meta["predictions"] = predictions
    if collector:
        meta["collector"] = collector
    if delete_token_sha256:
        meta["delete_token_sha256"] = delete_token_sha256
    return meta


def deletion_token() -> tuple[str, str]:
    """A secret the person who sent a sample can delete it with, and its SHA-256 (kept)."""
    token = secrets.token_urlsafe(24)
    return token, hashlib.sha256(token.encode()).hexdigest()


def token_matches(meta: SampleMeta, token: str) -> bool:
    """Whether ``token`` is the sample's deletion secret (compared in constant time)."""
    kept = meta.get("delete_token_sha256")
    given = hashlib.sha256(token.encode()).hexdigest()
    return isinstance(kept, str) and hmac.compare_digest(kept, given)


def write_sample(store: Store, sample_id: str, pixels: np.ndarray, meta: SampleMeta) -> None:
    """Image first, metadata last: a sample counts once its JSON exists.

    Both keys derive from the id, so a redelivered job rewrites the same objects.
    """
    store.put_bytes(image_key(sample_id), png_bytes(pixels), "image/png")
    write_meta(store, sample_id, meta)


def write_meta(store: Store, sample_id: str, meta: SampleMeta) -> None:
    """Replace a sample's metadata in one write (moderation rewrites it too)."""
    body: SampleMeta = {"id": sample_id, **meta}
    store.put_bytes(
        meta_key(sample_id), json.dumps(body, sort_keys=True).encode(), "application/json"
    )


def read_meta(store: Store, sample_id: str) -> SampleMeta:
    return cast(SampleMeta, dict(json.loads(store.get_bytes(meta_key(sample_id)))))


def stored_meta(store: Store, sample_id: str) -> SampleMeta:
    """A stored sample's metadata; NotFound (404) when there is none, InvalidRequest for an
    id web never makes."""
    try:
        return read_meta(store, check_id(sample_id))
    except ObjectNotFound:
        raise NotFound(f"no sample {sample_id}") from None


def without(meta: SampleMeta, *fields: str) -> SampleMeta:
    """A copy of ``meta`` without ``fields`` (``id`` before a rewrite, ``hidden`` to show it)."""
    return cast(SampleMeta, {k: v for k, v in meta.items() if k not in fields})


def sample_ids(store: Store) -> list[str]:
    """Ids of complete samples (those whose metadata exists)."""
    ids = []
    for key in store.list_keys("samples/"):
        name = key[len("samples/") :]
        if name.endswith(".json") and _ID.fullmatch(name[: -len(".json")]):
            ids.append(name[: -len(".json")])
    return ids
