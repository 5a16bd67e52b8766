"""A canvas of scattered specks cannot freeze a web process (issue 36, item 1).

A 9 KB PNG of 2 % random pixels is over a thousand separate strokes; grouping them
started over after each merge and took 40 s of a gevent process's CPU (a 316x316 canvas
decodes in the request's greenlet), and a 1680x279 one kept a decode thread for minutes.
Now a canvas of more strokes than a number has is refused (422 ``too_many_strokes``) after
work linear in its pixels, and grouping no longer starts over. Through a real gunicorn web
process (gevent, as the Procfile runs it) on loopback: each bomb is answered within a few
seconds, and beside a stream of them a cheap request still answers within a second.

The new grouping must make the same groups as the old one: Hypothesis compares them on
random boxes, with the old algorithm kept here as the reference.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from scipy import ndimage

from shared import stroke_grouping
from shared.errors import TooManyStrokes
from shared.imaging import ink_canvas_png
from shared.stroke_grouping import MAX_STROKES, Group, belong_together
from tests import processes
from tests.helpers import data_url

#: The canvases of the report: the draw pad's size (decoded inline) and the widest
#: accepted at full resolution (decoded on a thread).
BOMBS = [(316, 316), (1680, 279)]
#: Every bomb is refused within this many seconds; a cheap request answers within one.
BOMB_WITHIN = 3.0
CHEAP_WITHIN = 1.0
#: Senders posting bombs back to back (as many as the process has decode slots), and for
#: how long; the cheap requests are sent this often meanwhile.
SENDERS = 4
STREAM_SECONDS = 8.0
CHEAP_EVERY = 0.1
JSON = {"Content-Type": "application/json"}


def specks(width: int, height: int, seed: int = 0, share: float = 0.02) -> str:
    """A canvas with ``share`` of its pixels inked at random, as a data URL."""
    rng = np.random.default_rng(seed)
    ink = (rng.random((height, width)) < share).astype(np.uint8) * 255
    return data_url(ink_canvas_png(Image.fromarray(ink)))


@pytest.fixture(scope="module")
def web(stack_env, redis_databases, tmp_path_factory) -> Iterator[processes.Service]:
    env = dict(
        stack_env,
        REDIS_URL=redis_databases(),  # no worker reads it: nothing here is ever queued
        WEB_CONCURRENCY="1",
        LOG_LEVEL="WARNING",
    )
    service = processes.start_web(env, tmp_path_factory.mktemp("web") / "web.log")
    workers = set(processes.process_tree(service.proc.pid))
    yield service
    workers |= set(processes.process_tree(service.proc.pid))
    service.stop()
    # A worker stuck on a bomb (the code before issue 36) ignores SIGTERM and outlives its
    # master: end it, by the id we saw it run with, rather than leave it burning a core.
    for pid in workers - {service.proc.pid}:
        with contextlib.suppress(OSError):  # gone already
            if b"gunicorn" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)


def gunicorn_worker(web: processes.Service) -> int:
    return next(pid for pid in processes.process_tree(web.proc.pid) if pid != web.proc.pid)


@pytest.mark.parametrize(("width", "height"), BOMBS, ids=["316x316-inline", "1680x279-thread"])
def test_a_speck_bomb_is_refused_within_seconds(web, width, height):
    image = specks(width, height)
    with httpx.Client(timeout=3 * BOMB_WITHIN) as client:
        started = time.monotonic()
        answer = client.post(f"{web.url}/api/predictions", json={"image": image})
        took = time.monotonic() - started
    assert answer.status_code == 422, answer.text[:300]
    error = answer.json()["error"]
    assert error["code"] == "too_many_strokes" and str(MAX_STROKES) in error["message"]
    assert took < BOMB_WITHIN, f"refused after {took:.1f} s"


def send_bombs(
    web: processes.Service, bodies: list[bytes], first: int, stop: threading.Event
) -> list[tuple[int, str, float]]:
    """Post ``bodies`` in turn, from ``first``, until ``stop``: each answer's status, error
    code and seconds (status 0 and the exception's name for no answer)."""
    refusals: list[tuple[int, str, float]] = []
    with httpx.Client(timeout=3 * BOMB_WITHIN) as client:
        for sent in range(first, first + 10_000):
            if stop.is_set():
                break
            started = time.monotonic()
            try:
                answer = client.post(
                    f"{web.url}/api/predictions", content=bodies[sent % len(bodies)], headers=JSON
                )
                code = answer.json().get("error", {}).get("code", "")
                refusals.append((answer.status_code, code, time.monotonic() - started))
            except (httpx.HTTPError, ValueError) as exc:
                refusals.append((0, type(exc).__name__, time.monotonic() - started))
    return refusals


def get_cheap(web: processes.Service, seconds: float) -> list[tuple[int, float]]:
    """GET a static file every CHEAP_EVERY for ``seconds``: each status and seconds taken."""
    cheap: list[tuple[int, float]] = []
    with httpx.Client(timeout=5 * CHEAP_WITHIN) as client:
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            started = time.monotonic()
            try:
                status = client.get(f"{web.url}/static/favicon.svg").status_code
            except httpx.HTTPError:
                status = 0
            cheap.append((status, time.monotonic() - started))
            time.sleep(CHEAP_EVERY)
    return cheap


def test_beside_a_stream_of_bombs_cheap_requests_answer_within_a_second(web):
    worker = gunicorn_worker(web)
    bodies = [
        json.dumps({"image": specks(width, height, seed)}).encode()
        for seed in range(3)
        for width, height in BOMBS
    ]
    stop = threading.Event()
    with ThreadPoolExecutor(SENDERS) as pool:
        senders = [pool.submit(send_bombs, web, bodies, k, stop) for k in range(SENDERS)]
        try:
            cheap = get_cheap(web, STREAM_SECONDS)
        finally:
            stop.set()
        refusals = [refusal for sender in senders for refusal in sender.result()]

    late = [
        (status, round(took, 2)) for status, took in cheap if status != 200 or took > CHEAP_WITHIN
    ]
    assert not late, f"{len(late)} of {len(cheap)} cheap requests failed or were late: {late[:10]}"
    wrong = [r for r in refusals if r[:2] != (422, "too_many_strokes") or r[2] > BOMB_WITHIN]
    assert not wrong, f"{len(wrong)} of {len(refusals)} bombs: {wrong[:10]}"
    assert len(refusals) >= 10 * SENDERS, f"only {len(refusals)} bombs sent"
    assert gunicorn_worker(web) == worker, "gunicorn replaced its worker"


def old_group_strokes(strokes: list[Group]) -> list[Group]:
    """Grouping before issue 36: compare every pair, and start over after each merge."""
    groups = sorted(strokes, key=lambda g: g.x0)
    merged = True
    while merged:
        merged = False
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                if belong_together(groups[i], groups[j]):
                    a, b = groups[i], groups[j]
                    groups[i] = Group(
                        min(a.x0, b.x0), min(a.y0, b.y0), max(a.x1, b.x1), max(a.y1, b.y1),
                        a.labels + b.labels,
                    )  # fmt: skip
                    del groups[j]
                    merged = True
                    break
            if merged:
                break
    return groups


@st.composite
def strokes(draw: st.DrawFn) -> list[Group]:
    """A few boxes on a small canvas, crowded enough that merges often change later ones:
    narrow and wide, short and tall (the stems and arms of open 4s)."""
    side = draw(st.integers(8, 120))
    boxes = []
    for label in range(1, draw(st.integers(0, 16)) + 1):
        x0, y0 = draw(st.integers(0, side)), draw(st.integers(0, side))
        width = draw(st.integers(1, draw(st.sampled_from([side // 4 + 1, side]))))
        height = draw(st.integers(1, draw(st.sampled_from([side // 3 + 1, side]))))
        boxes.append(Group(x0, y0, x0 + width, y0 + height, [label]))
    return boxes


@settings(max_examples=1000, deadline=None)
@given(strokes())
def test_grouping_makes_the_groups_it_made_before_issue_36(given_strokes):
    expected = old_group_strokes([Group(**vars(g)) for g in given_strokes])
    assert stroke_grouping.group_strokes(given_strokes) == expected


def old_strokes_without_specks(labels: np.ndarray, count: int) -> list[Group]:
    """Speck removal before issue 36: a Python object per stroke, specks or not."""
    slices = ndimage.find_objects(labels)
    areas = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    found = [
        Group(s[1].start, s[0].start, s[1].stop, s[0].stop, [i + 1]) for i, s in enumerate(slices)
    ]
    tallest = max(max(g.width, g.height) for g in found)
    largest = float(areas.max())
    return [
        g
        for g, area in zip(found, areas, strict=True)
        if max(g.width, g.height) >= stroke_grouping.SPECK_EXTENT * tallest
        or area >= stroke_grouping.SPECK_AREA * largest
    ]


@settings(max_examples=300, deadline=None)
@given(
    st.integers(4, 60),
    st.integers(4, 60),
    st.floats(0.01, 0.6),
    st.integers(0, 2**32 - 1),
)
def test_specks_are_dropped_as_before_and_too_many_strokes_refused(height, width, share, seed):
    ink = np.random.default_rng(seed).random((height, width)) < share
    labels, count = ndimage.label(ink, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return
    expected = old_strokes_without_specks(labels, count)
    if len(expected) > MAX_STROKES:
        with pytest.raises(TooManyStrokes):
            stroke_grouping.strokes_without_specks(labels, count)
    else:
        assert stroke_grouping.strokes_without_specks(labels, count) == expected
