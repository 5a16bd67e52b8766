"""Closed-loop HTTP load from separate client processes (loopback only, bounded).

Each client is a thread with its own ``httpx.Client`` (keep-alive), spread over a few
processes so the client is not one GIL. A client repeats, until the run's deadline
or its request cap: POST /api/predictions with ``Prefer: wait=10``, which answers the
finished record (200) in one round trip, and only after a 202 GET ``status_url?wait=5``
until the job is done (the async stack); or one plain POST that answers the result
(the baselines).

A drawing is a request body (``{"image": <PNG data URL>, "strokes": [...]}`` as the page
sends it, ``bench.page_drawings``) or a PNG data URL alone, sent as ``{"image": url}``.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

#: A job that is not done this long after its POST counts as lost.
JOB_DEADLINE = 45.0
#: RFC 7240: the server holds the POST up to this long and answers 200 when done in time.
PREFER_WAIT = {"Prefer": "wait=10"}

#: What a client sends: a request body, or a PNG data URL to send as ``{"image": url}``.
Drawing = str | dict[str, Any]


@dataclass
class ClientTally:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    lost: int = 0
    accepted: int = 0
    #: Predictions not finished within ``Prefer: wait`` (202), so long-polled.
    polled: int = 0
    error_samples: list[str] = field(default_factory=list)
    finished_at: float = 0.0

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(what[:200])


def body_of(drawing: Drawing) -> dict[str, Any]:
    return drawing if isinstance(drawing, dict) else {"image": drawing}


def one_async(client: httpx.Client, base: str, body: dict[str, Any], tally: ClientTally) -> None:
    """One prediction in one round trip; long-poll its ``status_url`` only after a 202."""
    started = time.perf_counter()
    answer = client.post(f"{base}/api/predictions", json=body, headers=PREFER_WAIT)
    if answer.status_code not in {200, 202}:
        tally.error(f"POST {answer.status_code}: {answer.text}")
        return
    tally.accepted += 1
    if answer.status_code == 200:
        if not finished(answer.json(), started, tally):
            tally.error(f"POST 200 before the end: {answer.text}")
        return
    tally.polled += 1
    long_poll(client, base, answer.json()["status_url"], started, tally)


def long_poll(
    client: httpx.Client, base: str, status_url: str, started: float, tally: ClientTally
) -> None:
    """GET ``status_url?wait=5`` until the job ends, or count it lost after JOB_DEADLINE."""
    while True:
        if time.perf_counter() - started > JOB_DEADLINE:
            tally.lost += 1
            return
        reply = client.get(f"{base}{status_url}", params={"wait": 5})
        if reply.status_code != 200:
            tally.error(f"GET {reply.status_code}: {reply.text}")
            if reply.status_code == 404:
                tally.lost += 1
                return
            continue
        if finished(reply.json(), started, tally):
            return


def finished(body: dict[str, Any], started: float, tally: ClientTally) -> bool:
    """Count a done or failed job (an expired one is lost); False while it is not over."""
    if body["status"] == "done":
        tally.latencies_ms.append((time.perf_counter() - started) * 1000)
    elif body["status"] == "failed":
        if body.get("error", {}).get("code") == "timed_out":
            tally.lost += 1
        else:
            tally.error(f"failed: {body.get('error')}")
    else:
        return False
    return True


def one_sync(client: httpx.Client, base: str, body: dict[str, Any], tally: ClientTally) -> None:
    started = time.perf_counter()
    answer = client.post(f"{base}/api/predictions", json=body)
    if answer.status_code != 200 or answer.json().get("status") != "done":
        tally.error(f"POST {answer.status_code}: {answer.text}")
        return
    tally.accepted += 1
    tally.latencies_ms.append((time.perf_counter() - started) * 1000)


def client_loop(
    mode: str,
    base: str,
    bodies: list[dict[str, Any]],
    start_at: float,
    stop_at: float,
    cap: int,
    seed: int,
) -> ClientTally:
    tally = ClientTally()
    one = one_async if mode == "async" else one_sync
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    with httpx.Client(timeout=httpx.Timeout(30.0), limits=limits) as client:
        time.sleep(max(0.0, start_at - time.time()))
        index = seed
        while time.time() < stop_at and index - seed < cap:
            try:
                one(client, base, bodies[index % len(bodies)], tally)
            except Exception as exc:  # a refused or reset connection is an error, not a crash
                tally.error(f"{type(exc).__name__}: {exc}")
            index += 1
    tally.finished_at = time.time()
    return tally


def process_main(
    mode: str,
    base: str,
    bodies: list[dict[str, Any]],
    clients: int,
    first_seed: int,
    start_at: float,
    stop_at: float,
    cap: int,
    out: Any,
) -> None:
    tallies: list[ClientTally] = [ClientTally() for _ in range(clients)]

    def run(i: int) -> None:
        tallies[i] = client_loop(mode, base, bodies, start_at, stop_at, cap, first_seed + i * 7919)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put([t.__dict__ for t in tallies])


def run_load(
    mode: str,
    base: str,
    drawings: Sequence[Drawing],
    clients: int,
    duration: float,
    processes: int = 2,
    cap_per_client: int = 100_000,
) -> dict[str, Any]:
    """Closed-loop load for ``duration`` seconds; latency percentiles, throughput, errors."""
    processes = max(1, min(processes, clients))
    bodies = [body_of(drawing) for drawing in drawings]
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    start_at = time.time() + 0.5 + 0.02 * clients  # every process has its clients ready by then
    stop_at = start_at + duration
    procs = []
    for p in range(processes):
        share = clients // processes + (1 if p < clients % processes else 0)
        proc = ctx.Process(
            target=process_main,
            args=(mode, base, bodies, share, p * 100_003, start_at, stop_at, cap_per_client, queue),
            daemon=True,
        )
        proc.start()
        procs.append(proc)
    tallies: list[dict[str, Any]] = []
    deadline = stop_at + JOB_DEADLINE + 35
    for _ in procs:
        tallies += queue.get(timeout=max(1.0, deadline - time.time()))
    for proc in procs:
        proc.join(5)
        if proc.is_alive():
            proc.kill()
    row = {"mode": mode, "clients": clients, "client_processes": processes}
    return row | summary(tallies, start_at, stop_at)


def warm(mode: str, base: str, drawings: Sequence[Drawing]) -> None:
    """A short run at 1 client, then at 8: connections made, caches and models loaded."""
    run_load(mode, base, drawings, clients=1, duration=0.5, processes=1, cap_per_client=30)
    run_load(mode, base, drawings, clients=8, duration=0.5, processes=2, cap_per_client=10)


def summary(tallies: list[dict[str, Any]], start_at: float, stop_at: float) -> dict[str, Any]:
    """Wall time, counts, throughput and latency percentiles over every client's tally."""
    latencies = np.asarray([ms for t in tallies for ms in t["latencies_ms"]])
    ended = max((t["finished_at"] for t in tallies), default=stop_at)
    wall = max(ended - start_at, 1e-9)
    done = int(latencies.size)

    def pct(q: float) -> float | None:
        return float(np.percentile(latencies, q)) if done else None

    return {
        "duration_s": round(wall, 3),
        "done": done,
        "accepted": sum(t["accepted"] for t in tallies),
        "errors": sum(t["errors"] for t in tallies),
        "lost": sum(t["lost"] for t in tallies),
        "polled": sum(t["polled"] for t in tallies),
        "error_samples": [s for t in tallies for s in t["error_samples"]][:5],
        "throughput_per_s": done / wall,
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "mean_ms": float(latencies.mean()) if done else None,
        "max_ms": float(latencies.max()) if done else None,
    }
