"""At most ``WEB_CONNECTIONS_PER_ADDRESS`` open connections from one client address in
one web process; one more is answered 503 at once and closed.

Gunicorn's gevent process holds ``WEB_CONNECTIONS`` connections (1,000). Its deadlines
bound how long a slow client holds one (2 s for the headers, web/gunicorn_conf.py; 10 s
for the body, web/body_deadline.py), not how many: 2,100 sockets from one host trickling
their bodies held every connection of both processes of a dyno, and every other client
waited in the kernel's backlog for up to 10 s (issue 36). Here each process counts the
connections open per address and answers one over the cap before reading a byte of it:
it costs an accept and a write, not a greenlet held for seconds. IPv6 is counted per /64,
which one subscriber gets whole; an IPv4-mapped address as its IPv4 one.

The count is keyed on the socket's peer, so it applies only where clients reach gunicorn
directly (``TRUSTED_PROXY_HOPS=0``: ``make run``, compose). Behind a proxy every
connection comes from the proxy: the cap is off and the front limits connections
(Heroku's router holds the clients' connections itself; docs/security.md).

Installed by ``post_worker_init`` (web/gunicorn_conf.py): it wraps the worker's
``handle``, which gevent's StreamServer runs in a new greenlet for each connection.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import socket
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from shared.settings import Settings

log = logging.getLogger(__name__)

#: Seconds between two log lines about refused connections (one process, one attack).
LOG_EVERY = 60.0

Handle = Callable[[Any, socket.socket, Any], Any]

_BODY = json.dumps(
    {
        "error": {
            "code": "too_many_connections",
            "message": "this address holds too many open connections to the server; "
            "close some and try again",
        }
    }
).encode()
#: The whole answer to a connection over the cap, sent without reading its request.
REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(_BODY) + _BODY
)


def cap_of(settings: Settings) -> int:
    """Connections one address may hold in a process; 0 when not capped (behind a proxy
    the peer is the proxy, not a client)."""
    return 0 if settings.trusted_proxy_hops else settings.web_connections_per_address


def address_key(addr: Any) -> str | None:
    """What the cap counts a connection against: its IPv4 address or its IPv6 /64; None
    for what has no IP address (a Unix socket)."""
    if not isinstance(addr, tuple) or not addr or not isinstance(addr[0], str):
        return None
    try:
        ip = ipaddress.ip_address(addr[0].split("%", 1)[0])  # an IPv6 zone, if any
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class ConnectionGuard:
    """A worker's ``handle(listener, client, addr)``, refusing an address over ``limit``.

    One process, one event loop: the counts change only between greenlet switches."""

    def __init__(self, handle: Handle, limit: int) -> None:
        self._handle = handle
        self.limit = limit
        self.open: dict[str, int] = {}
        self._refused = 0
        self._refused_from: set[str] = set()
        self._logged_at = -math.inf

    def __call__(self, listener: Any, client: socket.socket, addr: Any) -> Any:
        key = address_key(addr)
        if key is None:
            return self._handle(listener, client, addr)
        count = self.open.get(key, 0)
        if count >= self.limit:
            self._refuse(client, key)
            return None
        self.open[key] = count + 1
        try:
            return self._handle(listener, client, addr)
        finally:
            if self.open[key] > 1:
                self.open[key] -= 1
            else:
                del self.open[key]

    def _refuse(self, client: socket.socket, key: str) -> None:
        refuse(client)
        self._refused += 1
        self._refused_from.add(key)
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY:
            log.warning(
                "refused %d connection(s) from %d address(es) over WEB_CONNECTIONS_PER_ADDRESS"
                "=%d since the last such line (at most one a minute)",
                self._refused,
                len(self._refused_from),
                self.limit,
            )
            self._refused, self._refused_from, self._logged_at = 0, set(), now


def refuse(client: socket.socket) -> None:
    """The 503, without waiting on the client: what it has sent is read first (what was
    unread at close would turn the close into a reset, and could lose the answer)."""
    try:
        client.setblocking(False)
        with suppress(BlockingIOError):
            client.recv(65536)
        client.send(REFUSAL)
        client.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    finally:
        client.close()


def install(worker: Any, settings: Settings) -> ConnectionGuard | None:
    """Wrap a gevent worker's ``handle`` in a guard when connections are capped."""
    limit = cap_of(settings)
    if not limit:
        log.info(
            "connections per address not capped (TRUSTED_PROXY_HOPS=%d, "
            "WEB_CONNECTIONS_PER_ADDRESS=%d): the front must limit them",
            settings.trusted_proxy_hops,
            settings.web_connections_per_address,
        )
        return None
    guard = ConnectionGuard(worker.handle, limit)
    worker.handle = guard
    return guard
