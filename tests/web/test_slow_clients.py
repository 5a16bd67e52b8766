"""Slow clients cannot hold the web's capacity (issue 19, item 2).

A real gunicorn web process (gevent, as the Procfile runs it) with a real valkey and a
real predict worker. 64 connections on loopback send their request a byte at a time: half
trickle the request line and headers, half send their headers at once and trickle the
body. Meanwhile normal predictions must answer within a second, and the server must drop
every trickler within its deadline: gunicorn's ``keepalive`` for the headers, the app's
``BODY_TIMEOUT`` for a body (a 408).
"""

from __future__ import annotations

import json
import os
import runpy
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from unittest import mock

import httpx
import pytest

from shared.imaging import render_canvas_png
from tests import processes
from tests.helpers import ROOT, data_url
from web.body_deadline import BODY_TIMEOUT

TRICKLERS = 64
#: Seconds between two bytes of a trickler.
TRICKLE = 0.25
#: Slack on a deadline: the server's timers, our own ticks, a shared machine.
SLACK = 2.0
#: A normal prediction answers within this many seconds while the tricklers trickle.
ANSWER_WITHIN = 1.0


@dataclass
class Trickler:
    """One connection sending ``rest`` a byte every TRICKLE seconds."""

    connection: socket.socket
    rest: bytes
    sent: int = 0
    answer: bytes = b""
    closed_after: float | None = None


@pytest.fixture()
def web(stack_env, predict_worker, tmp_path) -> Iterator[processes.Service]:
    env = dict(stack_env, WEB_CONCURRENCY="1", LOG_LEVEL="WARNING")
    service = processes.start_web(env, tmp_path / "web.log")
    yield service
    service.stop()


def header_timeout(env: dict[str, str]) -> float:
    """The seconds gunicorn gives a request line and headers: its ``keepalive`` (default 2)."""
    with mock.patch.dict(os.environ, env):
        config = runpy.run_path(str(ROOT / "web" / "gunicorn_conf.py"))
    return float(config.get("keepalive", 2))


def trickle(port: int, requests: list[tuple[bytes, bytes]], give_up_after: float) -> list[Trickler]:
    """Open a connection per (sent at once, then trickled) request and trickle them all
    until the server has closed each, or for ``give_up_after`` seconds."""
    started = time.monotonic()
    tricklers = []
    for at_once, rest in requests:
        connection = socket.create_connection(("127.0.0.1", port))
        connection.sendall(at_once)
        connection.setblocking(False)
        tricklers.append(Trickler(connection, rest))
    while time.monotonic() - started < give_up_after:
        waiting = [t for t in tricklers if t.closed_after is None]
        if not waiting:
            break
        for trickler in waiting:
            step(trickler, time.monotonic() - started)
        time.sleep(TRICKLE)
    for trickler in tricklers:
        trickler.connection.close()
    return tricklers


def step(trickler: Trickler, elapsed: float) -> None:
    """Read what the server sent (nothing: it closed), then send one more byte."""
    try:
        while data := trickler.connection.recv(4096):
            trickler.answer += data
        trickler.closed_after = elapsed
        return
    except BlockingIOError:
        pass
    except OSError:  # reset by the server
        trickler.closed_after = elapsed
        return
    if trickler.sent < len(trickler.rest):
        try:
            trickler.sent += trickler.connection.send(trickler.rest[trickler.sent :][:1])
        except BlockingIOError:
            pass
        except OSError:
            trickler.closed_after = elapsed


def test_trickling_clients_are_dropped_while_predictions_still_answer(web, stack_env, mnist_sample):
    image = data_url(render_canvas_png(mnist_sample["x_test"][0]))
    body = json.dumps({"image": image}).encode()
    head = (
        "POST /api/predictions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    headers_limit, body_limit = header_timeout(stack_env), BODY_TIMEOUT
    durations: list[float] = []
    statuses: list[int] = []
    done = threading.Event()

    def predict_until_done() -> None:
        with httpx.Client(base_url=web.url, timeout=10) as client:
            while not done.is_set():
                started = time.monotonic()
                answer = client.post(
                    "/api/predictions", json={"image": image}, headers={"Prefer": "wait=5"}
                )
                durations.append(time.monotonic() - started)
                statuses.append(answer.status_code)
                time.sleep(0.2)

    with httpx.Client(base_url=web.url, timeout=30) as client:  # models loaded, caches warm
        first = client.post(
            "/api/predictions", json={"image": image}, headers={"Prefer": "wait=10"}
        )
        assert first.status_code == 200, first.text
    predictor = threading.Thread(target=predict_until_done)
    predictor.start()
    try:
        # Half trickle their request line and headers, half their body.
        requests = [(b"", head + body), (head, body)] * (TRICKLERS // 2)
        port = int(web.url.rsplit(":", 1)[1])
        tricklers = trickle(port, requests, headers_limit + body_limit + 10)
    finally:
        done.set()
        predictor.join(15)
    assert statuses and set(statuses) == {200}, statuses
    assert max(durations) < ANSWER_WITHIN, sorted(durations)[-5:]
    header_tricklers, body_tricklers = tricklers[0::2], tricklers[1::2]
    for trickler in header_tricklers:
        assert trickler.closed_after is not None, "a header trickler was never dropped"
        assert trickler.closed_after < headers_limit + SLACK, trickler.closed_after
        assert trickler.sent < len(head)
    for trickler in body_tricklers:
        assert trickler.closed_after is not None, "a body trickler was never dropped"
        assert trickler.closed_after < body_limit + SLACK, trickler.closed_after
        assert trickler.answer.startswith(b"HTTP/1.1 408 "), trickler.answer[:80]
