"""Many connections from one address cannot stall the web (issue 36, item 7).

A real gunicorn web as compose runs it (2 gevent processes of 1,000 connections each,
clients reaching gunicorn directly: ``TRUSTED_PROXY_HOPS=0``) on a real valkey. 2,100
sockets from 127.0.0.1 each send a POST's headers and then trickle its body, a byte every
half second, reopening what the server closes: before issue 36 they held every
connection of both processes and a new request waited in the kernel's backlog for up to
``BODY_TIMEOUT`` (10 s). Meanwhile a browser elsewhere (127.0.0.2: all of 127/8 is
loopback on Linux) must be answered within 2 s. Each process lets one address hold
``WEB_CONNECTIONS_PER_ADDRESS`` connections and answers the rest 503 at once.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import httpx
import pytest

from shared.settings import Settings
from tests import processes
from web.connection_guard import address_key, cap_of

ATTACKERS = 2_100
#: Seconds between two bytes of a trickling body, and between two reopening rounds.
TRICKLE = 0.5
#: Most sockets the attack reopens a round: it keeps trying, bounded for this machine.
REOPEN = 300
#: A request from another address answers within this many seconds during the attack.
ANSWER_WITHIN = 2.0
#: Seconds of probing while the attack goes on.
PROBE_FOR = 6.0
BROWSER = "127.0.0.2"
HEAD = (
    b"POST /api/predictions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
)

Start = Callable[..., processes.Service]


@pytest.fixture()
def enough_files() -> Iterator[None]:
    """Room for the attack's sockets in this process and in the web it starts (rlimits
    are inherited): the soft limit raised toward the hard one, put back after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = ATTACKERS + REOPEN + 512
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {needed}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, needed), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture()
def start_web(valkey, tmp_path) -> Iterator[Start]:
    """Start gunicorn web processes as compose runs them, each stopped at the end."""
    started: list[processes.Service] = []

    def start(**env: str) -> processes.Service:
        full = {
            **os.environ,
            "REDIS_URL": valkey.url,
            "STORAGE_URL": str(tmp_path / "store"),
            "TRUSTED_PROXY_HOPS": "0",
            "RATE_LIMITS_ENABLED": "false",
            "LOG_LEVEL": "WARNING",
            **env,
        }
        started.append(processes.start_web(full, tmp_path / f"web-{len(started)}.log"))
        return started[-1]

    yield start
    for service in started:
        service.stop()


class Attack:
    """``count`` sockets from 127.0.0.1 trickling a body; what the server closes is counted
    (with the first bytes it sent) and opened again, at most REOPEN a round."""

    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.sockets: list[socket.socket] = []
        self.closed_by_server = 0
        self.answers: list[bytes] = []
        self.done = threading.Event()
        self.reopening = True
        self._missing = count
        self._thread = threading.Thread(target=self._run)

    def __enter__(self) -> Attack:
        try:
            self._open(self._missing)
        except BaseException:
            self.__exit__()
            raise
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        if self._thread.is_alive():
            self._thread.join(30)
        for sock in self.sockets:
            sock.close()

    def _open(self, count: int) -> None:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            sock.sendall(HEAD)
            sock.setblocking(False)
            self.sockets.append(sock)
            self._missing -= 1

    def _run(self) -> None:
        while not self.done.wait(TRICKLE):
            self.sockets = [sock for sock in self.sockets if self._trickle(sock)]
            if self.reopening:
                self._open(min(self._missing, REOPEN))

    def held(self) -> int:
        """Sockets the server still holds open, once the attack stops reopening."""
        self.reopening = False
        time.sleep(3 * TRICKLE)
        return len(self.sockets)

    def _trickle(self, sock: socket.socket) -> bool:
        """One more byte; False (and the socket closed) when the server closed it."""
        try:
            answer = sock.recv(256)
        except BlockingIOError:
            try:
                sock.send(b" ")
                return True
            except BlockingIOError:
                return True
            except OSError:
                answer = b""
        except OSError:
            answer = b""
        self.closed_by_server += 1
        self._missing += 1
        self.answers.append(answer)
        sock.close()
        return False


def probe(url: str) -> float:
    """Seconds a new connection from BROWSER takes to get the home page (inf: no answer)."""
    transport = httpx.HTTPTransport(local_address=BROWSER)
    started = time.monotonic()
    try:
        with httpx.Client(transport=transport, timeout=2 * ANSWER_WITHIN) as client:
            assert client.get(f"{url}/").status_code == 200
    except httpx.TimeoutException:
        return float("inf")
    return time.monotonic() - started


def test_two_thousand_trickling_sockets_from_one_address_do_not_stall_others(
    enough_files, start_web, record_property
):
    web = start_web(WEB_CONCURRENCY="2", WEB_CONNECTIONS="1000")
    assert probe(web.url) < ANSWER_WITHIN  # started, page cached
    port = int(web.url.rsplit(":", 1)[1])
    waits: list[float] = []
    with Attack(port, ATTACKERS) as attack:
        ends = time.monotonic() + PROBE_FOR
        while time.monotonic() < ends:
            waits.append(probe(web.url))
            time.sleep(0.25)
        held = attack.held()
    figures = (
        f"browser waits {[round(wait, 2) for wait in waits]} s; the attack held {held} "
        f"sockets, the server closed {attack.closed_by_server}"
    )
    record_property("slowloris", figures)
    assert max(waits) < ANSWER_WITHIN, figures
    # The address's share: WEB_CONNECTIONS_PER_ADDRESS (100) in each of the 2 processes.
    assert held <= 2 * 100, figures
    refused = [answer for answer in attack.answers if answer]
    assert refused and all(answer.startswith(b"HTTP/1.1 503 ") for answer in refused)


def connect_from(address: str, url: str) -> socket.socket:
    port = int(url.rsplit(":", 1)[1])
    return socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(address, 0))


def get_home(sock: socket.socket) -> bytes:
    sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    return sock.recv(64)


def first_answer(sock: socket.socket) -> bytes:
    """The server's refusal, which comes unasked; else its answer to a GET of the page."""
    sock.settimeout(0.5)
    try:
        unasked = sock.recv(64)
    except TimeoutError:
        unasked = b""
    sock.settimeout(5)
    return unasked or get_home(sock)


@pytest.mark.parametrize("hops", ["0", "1"])
def test_past_the_cap_an_address_is_answered_503_unless_a_proxy_is_the_peer(start_web, hops):
    web = start_web(WEB_CONCURRENCY="1", WEB_CONNECTIONS_PER_ADDRESS="3", TRUSTED_PROXY_HOPS=hops)
    # Three idle connections (gunicorn drops them after `keepalive`, 2 s: time enough).
    held = [connect_from("127.0.0.3", web.url) for _ in range(3)]
    try:
        with connect_from("127.0.0.3", web.url) as fourth, connect_from(BROWSER, web.url) as other:
            assert get_home(other).startswith(b"HTTP/1.1 200 ")
            answer = first_answer(fourth)
            if hops == "1":  # every peer is the proxy: the front limits connections
                assert answer.startswith(b"HTTP/1.1 200 "), answer
                return
            assert answer.startswith(b"HTTP/1.1 503 "), answer
            fourth.settimeout(5)
            while chunk := fourth.recv(4096):
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        assert b"\r\nRetry-After: 1\r\n" in head
        assert json.loads(body)["error"]["code"] == "too_many_connections"
        held.pop().close()  # one fewer: the address is served again
        time.sleep(0.2)
        with connect_from("127.0.0.3", web.url) as again:
            assert get_home(again).startswith(b"HTTP/1.1 200 ")
    finally:
        for sock in held:
            sock.close()


@pytest.mark.parametrize(
    ("addr", "key"),
    [
        (("203.0.113.7", 5000), "203.0.113.7"),
        (("::ffff:203.0.113.7", 5000, 0, 0), "203.0.113.7"),
        (("2001:db8:1:2:aaaa::1", 5000, 0, 0), "2001:db8:1:2::/64"),
        (("2001:db8:1:2:ffff::9", 5000, 0, 0), "2001:db8:1:2::/64"),
        (("fe80::1%eth0", 5000, 0, 2), "fe80::/64"),
        ("/run/web.sock", None),
        ((), None),
    ],
)
def test_an_ipv6_client_is_counted_by_its_64(addr, key):
    assert address_key(addr) == key


def test_a_proxy_in_front_turns_the_cap_off():
    settings = Settings.from_env({"REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert cap_of(settings) == settings.web_connections_per_address == 100
    assert cap_of(replace(settings, trusted_proxy_hops=1)) == 0
    assert cap_of(replace(settings, web_connections_per_address=0)) == 0
