"""Trusted collectors: people an admin gave a token, whose samples skip the per-client cap.

A collector is ``collectors/<name>.json`` in the store (the truth) holding the SHA-256 of
its token, never the token itself; Redis keeps a copy for the per-request lookup and is
refilled from the store after a wipe. The gate still judges everything they send.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from typing import Any

import redis

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
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
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


def public(collector: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in collector.items() if k != "token_sha256"}


def issue(client: redis.Redis, store: Store, name: str) -> tuple[dict[str, Any], str]:
    """A new collector and its token, which is shown this once and stored only hashed."""
    if store.exists(_key(name)):
        raise Conflict(f"a collector named {name} exists already")
    token = "dc_" + secrets.token_urlsafe(24)
    collector = {"name": name, "created_at": now_iso(), "revoked_at": None,
                 "token_sha256": token_hash(token)}  # fmt: skip
    store.put_bytes(_key(name), json.dumps(collector).encode(), "application/json")
    client.hset(BY_TOKEN_KEY, collector["token_sha256"], name)
    client.sadd(NAMES_KEY, name)
    return public(collector), token


def revoke(client: redis.Redis, store: Store, name: str) -> dict[str, Any]:
    """The token stops working at once; what the collector sent stays theirs."""
    collector = read(store, name)
    if collector.get("revoked_at") is None:
        collector["revoked_at"] = now_iso()
        store.put_bytes(_key(name), json.dumps(collector).encode(), "application/json")
    client.hdel(BY_TOKEN_KEY, collector["token_sha256"])
    return public(collector)


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
