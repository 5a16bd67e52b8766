"""The test harness's own helpers (tests/ports.py, tests/processes.py): what the service
tests rest on."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from shared.storage import open_store
from tests import ports, processes
from tests.helpers import BUCKET


def test_service_ports_are_distinct_and_below_the_ephemeral_range() -> None:
    """Outgoing connections take local ports from the ephemeral range: a service's port
    chosen there can be taken before the service binds it (tests/ports.py)."""
    low = ports.ephemeral_ports()[0]
    chosen = [ports.free_port() for _ in range(200)]
    assert len(set(chosen)) == len(chosen)
    if low - ports.PORTS_FROM >= 1000:
        assert all(ports.PORTS_FROM <= port < low for port in chosen)


def test_weed_starts_again_on_other_ports_when_one_was_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        first = iter([port])  # the first port weed is given is already in use
        monkeypatch.setattr(processes, "free_port", lambda: next(first, None) or ports.free_port())
        service = processes.start_seaweedfs(tmp_path / "weed", BUCKET)
    try:
        assert str(port) not in service.extra.values()
        store = open_store(f"s3://{BUCKET}/harness", service.url)
        store.put_bytes("probe", b"stored")
        assert store.get_bytes("probe") == b"stored"
    finally:
        service.stop()
