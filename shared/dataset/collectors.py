"""Trusted collectors: people an admin gave a token, whose samples skip the per-client cap.

A collector is ``collectors/<name>.json`` in the store (the truth) holding the SHA-256 of
its token, never the token itself; Redis keeps a copy for the per-request lookup and is
refilled from the store after a wipe. The gate still judges everything they send.

Revoking one ends the trust in what they sent before too: each of their samples' metadata
moves the name from ``collector`` (what the trainer exempts from the cap) to
``revoked_collector``, so the samples stay attributed to them but count against their
client like anyone's. A save that lands after the revocation is written so too.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis

from shared.dataset import sample_index, samples
from shared.dataset.sample_index import Filter
from shared.dataset.samples import SampleMeta
from shared.errors import (
    Conflict,
    InvalidCollectorToken,
    InvalidRequest,
    NotFound,
    ObjectNotFound,
)
from shared.registry import now_iso
from shared.storage import Store

PREFIX = "collectors/"
BY_TOKEN_KEY = "digits:collectors:tokens"
LOADED_KEY = "digits:collectors:loaded"
#: Every collector's name, revoked ones too: the stats attribute samples to them.
NAMES_KEY = "digits:collectors:names"
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
#: Where a revoked collector's name moves in the metadata of the samples they sent.
REVOKED_FIELD = "revoked_collector"
#: Store reads and writes in flight while a collector's samples are rewritten.
REWRITERS = 8


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidRequest(
            "name must be 1-32 characters: lowercase letters, digits, - and _, "
            "starting with a letter or digit"
        )
    return name


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _key(name: str) -> str:
    return f"{PREFIX}{check_name(name)}.json"


def read(store: Store, name: str) -> dict[str, Any]:
    try:
        return dict(json.loads(store.get_bytes(_key(name))))
    except ObjectNotFound:
        raise NotFound(f"no collector {name}") from None


def list_all(store: Store) -> list[dict[str, Any]]:
    """Every collector ever issued, revoked ones too (their samples stay attributed)."""
    found = [json.loads(store.get_bytes(key)) for key in store.list_keys(PREFIX)]
    return sorted(found, key=lambda c: c["name"])


def revoked_names(store: Store) -> set[str]:
    """The collectors whose trust was revoked (the training set exempts none of their samples)."""
    return {c["name"] for c in list_all(store) if c.get("revoked_at")}


def public(collector: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in collector.items() if k != "token_sha256"}


def issue(client: redis.Redis, store: Store, name: str) -> tuple[dict[str, Any], str]:
    """A new collector and its token, which is shown this once and stored only hashed."""
    if store.exists(_key(name)):
        raise Conflict(f"a collector named {name} exists already")
    token = "dc_" + secrets.token_urlsafe(24)
    collector = {
        "name": name,
        "created_at": now_iso(),
        "revoked_at": None,
        "token_sha256": token_hash(token),
    }
    store.put_bytes(_key(name), json.dumps(collector).encode(), "application/json")
    client.hset(BY_TOKEN_KEY, collector["token_sha256"], name)
    client.sadd(NAMES_KEY, name)
    return public(collector), token


def revoke(client: redis.Redis, store: Store, name: str) -> dict[str, Any]:
    """The token stops working at once; what the collector sent stays theirs, untrusted.

    Repeating it finishes what an interrupted one left (every step is idempotent).
    """
    collector = read(store, name)
    if collector.get("revoked_at") is None:
        collector["revoked_at"] = now_iso()
        store.put_bytes(_key(name), json.dumps(collector).encode(), "application/json")
    client.hdel(BY_TOKEN_KEY, collector["token_sha256"])
    return {**public(collector), "samples_untrusted": untrust_samples(client, store, name)}


def is_trusted(store: Store, name: str) -> bool:
    """Whether the collector exists and is not revoked (read from the store, the truth)."""
    try:
        return read(store, name).get("revoked_at") is None
    except NotFound:
        return False


def untrusted(meta: SampleMeta) -> SampleMeta:
    """A sample's metadata once its collector is revoked: attributed, no longer exempt."""
    name = meta.get("collector")
    if not name:
        return meta
    return {**samples.without(meta, "collector"), "revoked_collector": name}


def sample_ids(client: redis.Redis, name: str) -> list[str]:
    """Every indexed sample the collector sent, hidden ones too."""
    found = sample_index.iterate(client, Filter(collector=name))
    hidden = sample_index.iterate(client, Filter(collector=name, hidden=True))
    return [entry["id"] for entries in (found, hidden) for entry in entries]


def untrust_samples(client: redis.Redis, store: Store, name: str) -> int:
    """Rewrite the collector's stored samples as ``untrusted``; how many were rewritten."""

    def rewrite(sample_id: str) -> bool:
        try:
            meta = samples.read_meta(store, sample_id)
        except ObjectNotFound:  # deleted meanwhile
            return False
        if meta.get("collector") != name:
            return False
        samples.write_meta(store, sample_id, untrusted(samples.without(meta, "id")))
        return True

    with ThreadPoolExecutor(REWRITERS) as pool:
        return sum(pool.map(rewrite, sample_ids(client, name)))


def load(client: redis.Redis, store: Store) -> None:
    """Refill the lookups from the store once after Redis lost them (not on every miss)."""
    if not client.set(LOADED_KEY, "1", nx=True):
        return
    every = list_all(store)
    live = {c["token_sha256"]: c["name"] for c in every if not c.get("revoked_at")}
    if live:
        client.hset(BY_TOKEN_KEY, mapping=live)
    if every:
        client.sadd(NAMES_KEY, *(c["name"] for c in every))


def name_of(client: redis.Redis, store: Store, token: str) -> str:
    """The collector a token belongs to; 401 for a token that is unknown or revoked."""
    load(client, store)
    name = client.hget(BY_TOKEN_KEY, token_hash(token))
    if name is None:
        raise InvalidCollectorToken("the collector token is unknown or was revoked")
    return name.decode() if isinstance(name, bytes) else str(name)
