"""Start and measure the processes under test: valkey, web, workers, trainer, baseline.

Every process is started by the bench on a free loopback port and stopped by its pid.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests import services

ROOT = Path(__file__).resolve().parent.parent


def _kb(path: Path, field: str) -> float | None:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def memory_mb(pid: int) -> dict[str, Any]:
    """RSS of a process tree (total and largest process) and PSS, which counts shared pages once."""
    rss, pss = [], []
    for proc in services.process_tree(pid):
        value = _kb(Path(f"/proc/{proc}/status"), "VmRSS")
        if value is None:
            continue
        rss.append(value)
        pss.append(_kb(Path(f"/proc/{proc}/smaps_rollup"), "Pss") or 0.0)
    return {
        "rss_total": round(sum(rss), 1),
        "rss_largest": round(max(rss, default=0.0), 1),
        "pss_total": round(sum(pss), 1),
        "processes": len(rss),
    }


def gunicorn(
    app: str, port: int, env: dict[str, str], log: Path, extra: list[str] | None = None
) -> subprocess.Popen:
    args = [sys.executable, "-m", "gunicorn", *(extra or []), "--bind", f"127.0.0.1:{port}",
            "--access-logfile", "/dev/null", "--error-logfile", str(log), app]  # fmt: skip
    return subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def start_web(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    return gunicorn("web:create_app()", port, env, log, ["--config", "python:web.gunicorn_conf"])


def start_baseline(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    extra = ["--workers", "2", "--worker-class", "gthread", "--threads", "4"]
    return gunicorn("bench.baseline_app:create_app()", port, env, log, extra)


def first_answer(url: str, proc: subprocess.Popen, timeout: float = 60) -> float:
    """Seconds until ``url`` answers with any HTTP status."""
    started = time.perf_counter()
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=2)
            return time.perf_counter() - started
        except httpx.TransportError:
            time.sleep(0.01)
    raise TimeoutError(f"{url} did not answer in {timeout} s")


def celery_worker(
    env: dict[str, str], queues: str, name: str, pool: str, concurrency: int, log: Path
) -> subprocess.Popen:
    """A ``celery worker`` as the Procfile runs it; not waited for (cold start is measured)."""
    hostname = f"{name}@bench-{os.getpid()}-{services.free_port()}"
    args = [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker", "-Q", queues,
            "-P", pool, "-c", str(concurrency), "-n", hostname, "--loglevel=INFO",
            "--without-gossip", "--without-mingle"]  # fmt: skip
    with open(log, "ab") as out:
        return subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_log(log: Path, text: str, proc: subprocess.Popen, timeout: float) -> float:
    """Seconds until ``text`` appears in the log (for example celery's "ready.")."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}; see {log}")
        if log.exists() and text in log.read_text(errors="replace"):
            return time.perf_counter() - started
        time.sleep(0.05)
    raise TimeoutError(f"{text!r} not in {log} after {timeout} s")


def stop(proc: subprocess.Popen | None) -> None:
    if proc is not None:
        services.stop(proc, timeout=20)
