"""Loopback ports for the services tests start: free now, never the same twice in a session,
and below the kernel's ephemeral range when there is room."""

from __future__ import annotations

import random
import socket
from pathlib import Path

#: Services get ports from here up to the kernel's ephemeral range.
PORTS_FROM = 20000
_ports = random.Random()
_handed_out: set[int] = set()  # never the same port twice in one test session


def ephemeral_ports() -> tuple[int, int]:
    """The range the kernel takes outgoing connections' local ports from."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_port() -> int:
    """A loopback port free now, below the ephemeral range when there is room.

    A port the kernel hands out for port 0 comes from the ephemeral range, where any
    outgoing connection may take it before the service binds it: ``weed mini`` binds its
    last listeners a second after it starts, and one of them once lost its port so.
    """
    low = ephemeral_ports()[0]
    for _ in range(100 if low - PORTS_FROM >= 1000 else 0):
        port = _ports.randrange(PORTS_FROM, low)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
