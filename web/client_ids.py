"""A client's id: an HMAC of its address, for rate limits and per-client caps.

Not a bare hash of the address: IPv4 has 2^32 of them, so anyone could reverse a hash.
The secret is ``CLIENT_ID_SECRET`` or, when unset, one random secret made once and kept
in Redis, so every web process (and a restarted one) gives an address the same id.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import request

from web.services import Services, current_services

SECRET_KEY = "digits:client-id-secret"
_secrets: dict[int, bytes] = {}


def client_secret(services: Services) -> bytes:
    """The HMAC key; read (or made) once per process, on the first request that needs it."""
    known = _secrets.get(id(services))
    if known is not None:
        return known
    if services.settings.client_id_secret:
        secret = services.settings.client_id_secret.encode()
    else:
        services.redis.set(SECRET_KEY, secrets.token_hex(32), nx=True)
        stored = services.redis.get(SECRET_KEY)
        secret = stored if isinstance(stored, bytes) else str(stored).encode()
    _secrets[id(services)] = secret
    return secret


def client_id_of(services: Services, address: str) -> str:
    """The id of ``address``: 16 hex digits, stable, not reversible without the secret."""
    return hmac.new(client_secret(services), address.encode(), hashlib.sha256).hexdigest()[:16]


def client_id() -> str:
    """This request's client: the socket's peer, or the address the trusted proxies saw."""
    return client_id_of(current_services(), request.remote_addr or "unknown")
