"""A client's id: an HMAC of its network, for rate limits and per-client caps.

Not a bare hash of the address: IPv4 has 2^32 of them, so anyone could reverse a hash.
The secret is ``CLIENT_ID_SECRET`` or, when unset, one random secret made once and kept
in Redis, so every web process (and a restarted one) gives an address the same id.

One client is an IPv6 /64 (whoever has one address of it has all 2^64) and an IPv4
address whole (see ``network_of``). Behind TRUSTED_PROXY_HOPS proxies the address is the
one the nearest proxy appended to X-Forwarded-For; a request without that entry reached
web past the proxy, where anyone may write the header: such requests are logged and
counted for ``/healthz`` (``proxy_check``), as the deployment is then open to forged ids.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
import threading
import time

import redis
from flask import Flask, request

from shared.settings import Settings
from web.services import Services, current_services

log = logging.getLogger(__name__)

SECRET_KEY = "digits:client-id-secret"
_secrets: dict[int, bytes] = {}
#: The prefix that makes one client. IPv6: a /64, the smallest subnet a provider hands a
#: home or a host. IPv4: /32, the address itself: addresses are scarce and one is already
#: a whole home or office behind NAT, while a /24 would join strangers of one provider.
IPV6_PREFIX, IPV4_PREFIX = 64, 32
#: Requests that reached web without the trusted proxy's entry: their count and when the
#: last came (a hash, kept a day after the last one).
BYPASS_KEY = "digits:proxy-bypassed"
BYPASS_KEEP = 24 * 3600
#: A process adds its count to BYPASS_KEY at most this often: a flood of direct requests
#: costs no Redis write each.
BYPASS_WRITE_EVERY = 5.0


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


def network_of(address: str) -> str:
    """The part of ``address`` that names a client: its IPv6 /64, or the IPv4 address.

    A whole address (IPv4 at /32, or mapped into IPv6) is written as before, so its id
    stays what it was before /64s were keyed; anything not an address, unchanged.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = IPV4_PREFIX if ip.version == 4 else IPV6_PREFIX
    network = ipaddress.ip_network(f"{ip}/{prefix}", strict=False)
    return str(ip) if network.num_addresses == 1 else str(network)


def client_id_of(services: Services, address: str) -> str:
    """The id of ``address``'s network: 16 hex digits, stable, not reversible without the secret."""
    network = network_of(address).encode()
    return hmac.new(client_secret(services), network, hashlib.sha256).hexdigest()[:16]


def client_id() -> str:
    """This request's client: the socket's peer, or the address the trusted proxies saw."""
    return client_id_of(current_services(), request.remote_addr or "unknown")


def limit_key() -> str:
    """The rate limiter's key (``web.limits``' ``key_func``): the client's network, so the
    addresses of one IPv6 /64 share one limit as they share one id."""
    return network_of(request.remote_addr or "127.0.0.1")


# ---- requests that bypass the trusted proxy ----------------------------------------------


class _Bypasses:
    """This process's count of direct requests not yet added to BYPASS_KEY."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending = 0
        self.written_at = 0.0


_bypasses: dict[int, _Bypasses] = {}


def init_app(app: Flask, settings: Settings) -> None:
    """With trusted proxies, say at start what that requires, and watch for requests
    that come without the proxy's X-Forwarded-For entry."""
    hops = settings.trusted_proxy_hops
    if not hops:
        return
    log.warning(
        "TRUSTED_PROXY_HOPS=%d: each client's address (its id, rate limits, per-client caps) "
        "is taken from X-Forwarded-For; web must be reachable only through %s, or anyone "
        "may claim any address. Requests without the proxy's entry are counted on /healthz.",
        hops,
        "that proxy" if hops == 1 else f"those {hops} proxies",
    )
    _bypasses[id(app.extensions["digits"])] = _Bypasses()
    app.before_request(_note_bypass)


def bypassed(forwarded_for: str | None, hops: int) -> bool:
    """Whether a request came past the proxies: fewer X-Forwarded-For entries than hops."""
    return len([e for e in (forwarded_for or "").split(",") if e.strip()]) < hops


def _note_bypass() -> None:
    """before_request: count this request if it bypassed the proxy (written in batches).

    Not ``/healthz``: a platform's probes (a load balancer's, a container's) call web
    directly, and only clients' requests show who can reach it.
    """
    services = current_services()
    hops = services.settings.trusted_proxy_hops
    if request.path == "/healthz" or not bypassed(request.headers.get("X-Forwarded-For"), hops):
        return
    counter = _bypasses.get(id(services))
    if counter is None:
        return
    with counter.lock:
        counter.pending += 1
        if time.monotonic() - counter.written_at < BYPASS_WRITE_EVERY:
            return
        pending, counter.pending, counter.written_at = counter.pending, 0, time.monotonic()
    log.warning(
        "%d request(s) reached web without the trusted proxy's X-Forwarded-For entry "
        "(the last from %s): clients can reach web directly and forge their address",
        pending,
        request.remote_addr,
    )
    try:
        pipe = services.redis.pipeline(transaction=False)
        pipe.hincrby(BYPASS_KEY, "requests", pending)
        pipe.hset(BYPASS_KEY, "last", repr(time.time()))
        pipe.expire(BYPASS_KEY, BYPASS_KEEP)
        pipe.execute()
    except redis.RedisError:  # down or full: the next request tries again
        with counter.lock:
            counter.pending += pending


def proxy_check(services: Services) -> str:
    """For ``/healthz``: ``ok``, or a warning when requests came past the trusted proxy
    within the last day (the proxy is not the only way in: ids can be forged)."""
    hops = services.settings.trusted_proxy_hops
    if not hops:
        return "ok: no trusted proxy (TRUSTED_PROXY_HOPS=0), X-Forwarded-For is ignored"
    try:
        seen = services.redis.hgetall(BYPASS_KEY)
    except redis.RedisError as exc:
        return f"unknown: {type(exc).__name__}"
    if not seen:
        return "ok"
    count = int(seen.get(b"requests", 0))  # type: ignore[union-attr]
    ago = time.time() - float(seen.get(b"last", 0))  # type: ignore[union-attr]
    return (
        f"warning: {count} request(s) reached web without the trusted proxy's X-Forwarded-For "
        f"entry, the last {ago:.0f} s ago; with TRUSTED_PROXY_HOPS={hops} anyone reaching web "
        "directly can forge client ids: let only the proxy reach it"
    )
