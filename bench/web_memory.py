"""Web memory after bursts of large images: does a gunicorn process give it back?

``python -m bench.web_memory``: starts valkey and web (gunicorn, gevent, as the Procfile
runs it) on loopback, with a Redis database no worker reads (predictions are accepted and
never run: only the web's own work is measured) and a local-directory store; then

- warms each process up as ordinary use would (canvas-pad drawings, a large image at a
  time) and reads each gunicorn worker's RSS from /proc: the baseline;
- sends ``--rounds`` bursts of ``--at-once`` of the largest images accepted (a
  ``MAX_IMAGE_PIXELS`` square), each on its own connection, all at once;
- reads the RSS again at once and after ``--settle`` seconds of quiet, and the peak (VmHWM).

A 512 MB dyno holds ``WEB_CONCURRENCY`` (2) such processes: what a burst leaves behind is
what the next one starts from.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from shared.imaging import render_canvas_png
from shared.settings import Settings
from tests import processes
from tests.helpers import SAMPLE, data_url

#: A Redis database no worker reads.
IDLE_DB = 9


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="bursts of large images")
    parser.add_argument("--at-once", type=int, default=16, help="images sent at once")
    parser.add_argument("--processes", type=int, default=2, help="WEB_CONCURRENCY")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds of quiet after")
    return parser.parse_args()


def largest_images(count: int) -> list[str]:
    """``count`` drawings of the largest size accepted: a square of MAX_IMAGE_PIXELS."""
    side = math.isqrt(Settings.from_env({"REDIS_URL": "redis://x"}).max_image_pixels)
    with np.load(SAMPLE) as data:
        digits = data["x_test"][:count]
    return [
        data_url(render_canvas_png(digit, canvas_side=side, digit_height=side * 7 // 10))
        for digit in digits
    ]


def small_image() -> str:
    with np.load(SAMPLE) as data:
        return data_url(render_canvas_png(data["x_test"][0]))


def status_kb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return float(line.split()[1])
    raise LookupError(f"no {field} for process {pid}")


def workers(web: processes.Service) -> list[int]:
    """The gunicorn worker processes (the master forks them; it decodes nothing)."""
    return [pid for pid in processes.process_tree(web.proc.pid) if pid != web.proc.pid]


def rss_mb(pids: list[int], field: str = "VmRSS") -> dict[int, float]:
    return {pid: round(status_kb(pid, field) / 1024, 1) for pid in pids}


def burst(url: str, images: list[str]) -> list[int]:
    """Post every image at once, each on its own connection; the statuses."""
    bodies = [json.dumps({"image": image}).encode() for image in images]
    ready = threading.Barrier(len(bodies))
    headers = {"Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=len(bodies))
    with httpx.Client(timeout=60, limits=limits) as client:

        def send(body: bytes) -> int:
            ready.wait(30)
            return client.post(f"{url}/api/predictions", content=body, headers=headers).status_code

        with ThreadPoolExecutor(len(bodies)) as pool:
            return list(pool.map(send, bodies))


def warm_up(url: str, pids: list[int], image: str, large: str) -> None:
    """Ordinary use before the baseline: canvas-pad drawings, and large images one at a
    time (imports, caches, the decode threads), on new connections so that every
    process serves some."""
    for body in [image] * (10 * len(pids)) + [large] * (2 * len(pids)):
        burst(url, [body])


def measure(web: processes.Service, rounds: int, at_once: int, settle: float) -> dict[str, Any]:
    """Each worker's RSS (MB) at the baseline, right after the bursts, after ``settle`` s
    of quiet, and its peak; and the whole server's (the master too), as a dyno counts it."""
    pids = workers(web)
    images = largest_images(at_once)
    warm_up(web.url, pids, small_image(), images[0])
    time.sleep(1.0)
    before, server_before = rss_mb(pids), total_mb(web)
    statuses: list[int] = []
    started = time.monotonic()
    for _ in range(rounds):
        statuses += burst(web.url, images)
    seconds = time.monotonic() - started
    after = rss_mb(pids)
    time.sleep(settle)
    settled = rss_mb(pids)
    return {
        "rounds": rounds,
        "at_once": at_once,
        "seconds": round(seconds, 1),
        "statuses": {str(s): statuses.count(s) for s in sorted(set(statuses))},
        "before_mb": before,
        "after_mb": after,
        "settled_mb": settled,
        "peak_mb": rss_mb(pids, "VmHWM"),
        "growth_mb": {pid: round(settled[pid] - before[pid], 1) for pid in pids},
        "server_before_mb": server_before,
        "server_settled_mb": total_mb(web),
    }


def total_mb(web: processes.Service) -> float:
    """RSS of the master and its workers together."""
    return round(sum(rss_mb(processes.process_tree(web.proc.pid)).values()), 1)


def start(
    workdir: Path, web_processes: int, extra: dict[str, str] | None = None
) -> tuple[processes.Service, processes.Service]:
    """valkey and web on loopback; both to be stopped by the caller."""
    valkey = processes.start_valkey(workdir / "valkey")
    env = {
        **os.environ,
        "REDIS_URL": valkey.url.rsplit("/", 1)[0] + f"/{IDLE_DB}",
        "STORAGE_URL": str(workdir / "store"),
        "RATE_LIMITS_ENABLED": "false",
        "WEB_CONCURRENCY": str(web_processes),
        "LOG_LEVEL": "WARNING",
        **(extra or {}),
    }
    try:
        web = processes.start_web(env, workdir / "web.log")
    except BaseException:
        valkey.stop()
        raise
    return valkey, web


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="digits-web-memory-") as tmp:
        valkey, web = start(Path(tmp), args.processes)
        try:
            result = measure(web, args.rounds, args.at_once, args.settle)
        finally:
            web.stop()
            valkey.stop()
    print(json.dumps(result, indent=2), flush=True)


if __name__ == "__main__":
    main()
