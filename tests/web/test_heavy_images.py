"""Heavy images cannot take a web process's memory (issue 19, item 4).

Through a real gunicorn web process (gevent, as the Procfile runs it) on a real valkey: an
image over the side or the pixel cap is refused from its PNG header, before a pixel is
decoded; past ``MAX_DECODES`` decodes in flight a request is answered 503 ``busy`` with
``Retry-After``; and sent the heaviest images a client can, the process's peak RSS grows by
at most ``MAX_DECODES`` decodes of the largest image accepted.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import redis

from shared.imaging import render_canvas_png
from shared.settings import Settings
from tests import processes
from tests.helpers import data_url, png_header_only

#: Peak memory of one decode of the largest image accepted (a 1024x1024 canvas: measured
#: 19-20 MB), with a margin; and what a flood of requests costs besides (bodies, JSON).
DECODE_MB = 25
FLOOD_MB = 20
#: Requests sent at once in a flood.
AT_ONCE = 16
#: The side cap before issue 19: a drawing this big took 70 MB and 0.1-0.4 s to decode.
HEAVY_SIDE = 2048

Web = Callable[[int], processes.Service]


@pytest.fixture(scope="module")
def start_web(stack_env, redis_databases, tmp_path_factory) -> Iterator[Web]:
    """Start gunicorn web processes with a given MAX_DECODES, each stopped at the end, on a
    Redis database no worker reads: predictions are accepted (202) and never run."""
    started: list[processes.Service] = []
    env = dict(
        stack_env,
        REDIS_URL=redis_databases(),
        WEB_CONCURRENCY="1",
        LOG_LEVEL="WARNING",
    )

    def start(max_decodes: int) -> processes.Service:
        log = tmp_path_factory.mktemp("web") / "web.log"
        # A short wait for a slot: the flood below is turned away rather than queued.
        limits = {"MAX_DECODES": str(max_decodes), "DECODE_WAIT": "0.25"}
        started.append(processes.start_web({**env, **limits}, log))
        return started[-1]

    yield start
    for service in started:
        service.stop()
    redis.Redis.from_url(env["REDIS_URL"]).flushdb()


@pytest.fixture(scope="module")
def one_slot(start_web: Web) -> processes.Service:
    return start_web(1)


@pytest.fixture(scope="module")
def settings(stack_env) -> Settings:
    return Settings.from_env(stack_env)


@pytest.fixture(scope="module")
def largest(mnist_sample, settings) -> list[str]:
    """Drawings of the largest size accepted: a square of MAX_IMAGE_PIXELS."""
    side = math.isqrt(settings.max_image_pixels)
    return [drawing(digit, side) for digit in mnist_sample["x_test"][:8]]


def drawing(digit: np.ndarray, side: int) -> str:
    return data_url(render_canvas_png(digit, canvas_side=side, digit_height=side * 7 // 10))


def post(client: httpx.Client, web: processes.Service, image: str) -> httpx.Response:
    return client.post(f"{web.url}/api/predictions", json={"image": image})


def flood(web: processes.Service, images: list[str]) -> list[httpx.Response]:
    """Post every image at once, each on its own connection, its body encoded beforehand."""
    bodies = [json.dumps({"image": image}).encode() for image in images]
    ready = threading.Barrier(len(bodies))
    headers = {"Content-Type": "application/json"}

    def send(body: bytes) -> httpx.Response:
        ready.wait(30)
        return client.post(f"{web.url}/api/predictions", content=body, headers=headers)

    limits = httpx.Limits(max_connections=len(bodies))
    with httpx.Client(timeout=60, limits=limits) as client, ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(send, bodies))


def memory_mb(pid: int, field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (the peak so far) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for {pid}")


def gunicorn_worker(web: processes.Service) -> int:
    return next(pid for pid in processes.process_tree(web.proc.pid) if pid != web.proc.pid)


def assert_error(answer: httpx.Response, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text[:300]
    assert answer.json()["error"]["code"] == code and answer.json()["error"]["message"]


def test_an_image_over_the_side_or_pixel_cap_is_413_from_its_header(
    one_slot, settings, mnist_sample
):
    over_pixels = math.isqrt(settings.max_image_pixels) + 1  # each side within the side cap
    assert over_pixels <= settings.max_image_side
    with httpx.Client(timeout=30) as client:
        # A header and no pixels: had it been decoded it would fail as corrupt (400).
        for width, height in [(settings.max_image_side + 1, 8), (over_pixels, over_pixels)]:
            answer = post(client, one_slot, data_url(png_header_only(width, height)))
            assert_error(answer, 413, "image_too_large")
        # A real drawing, refused sooner than its decode would take.
        heavy = drawing(mnist_sample["x_test"][0], HEAVY_SIDE)
        started = time.monotonic()
        answer = post(client, one_slot, heavy)
        assert_error(answer, 413, "image_too_large")
        assert time.monotonic() - started < 1.0


def test_decodes_past_max_decodes_are_answered_503_busy_with_retry_after(one_slot, largest):
    answers = flood(one_slot, largest * 4)
    statuses = sorted(answer.status_code for answer in answers)
    assert set(statuses) == {202, 503}, statuses
    for answer in answers:
        if answer.status_code == 503:
            assert_error(answer, 503, "busy")
            assert answer.headers["Retry-After"] == "1"
    # Once the flood has passed, the slot is free again.
    with httpx.Client(timeout=30) as client:
        assert post(client, one_slot, largest[0]).status_code == 202


@pytest.mark.parametrize("max_decodes", [1, 4])
def test_web_memory_grows_by_at_most_max_decodes_largest_images(
    start_web, max_decodes, largest, mnist_sample
):
    web = start_web(max_decodes)
    pid = gunicorn_worker(web)
    small = data_url(render_canvas_png(mnist_sample["x_test"][0]))
    with httpx.Client(timeout=30) as client:
        for _ in range(5):  # the same code path, once: imports, caches, pools
            assert post(client, web, small).status_code == 202
    before = memory_mb(pid, "VmRSS")
    # The heaviest a client can send: the largest accepted, and what the earlier web took.
    oversized = drawing(mnist_sample["x_test"][0], HEAVY_SIDE)
    statuses = []
    for _ in range(3):
        answers = flood(web, largest[: AT_ONCE // 2] + [oversized] * (AT_ONCE // 2))
        statuses += [answer.status_code for answer in answers]
    growth = memory_mb(pid, "VmHWM") - before
    assert growth < max_decodes * DECODE_MB + FLOOD_MB, (
        f"peak RSS {before:.0f} MB + {growth:.0f} MB; answers {sorted(statuses)}"
    )
    assert statuses.count(413) == 3 * AT_ONCE // 2 and 202 in statuses, statuses


def test_under_gevent_a_small_canvas_decodes_in_its_greenlet_and_a_large_one_on_a_thread():
    """The page's 280x280 pad decodes inline (the hop to a thread cost more than the
    decode); anything larger still runs on a pool thread, off the process's event loop.
    A stroke reading (``run_inline``) stays in the greenlet: the stroke caps bound it."""
    import subprocess
    import sys

    script = """
from gevent import monkey
monkey.patch_all()
import threading
from web.decode_slots import INLINE_PIXELS, DecodeSlots
slots = DecodeSlots(2)
here = threading.get_ident()
print(slots.run(280 * 280, threading.get_ident) == here,
      slots.run(INLINE_PIXELS + 1, threading.get_ident) == here,
      slots.run_inline(threading.get_ident) == here)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["True", "False", "True"], done.stdout + done.stderr
