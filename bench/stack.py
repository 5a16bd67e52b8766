"""Start and measure the processes under test: valkey, web, workers, trainer, baselines.

Every process is started by the bench on a free loopback port and stopped by its pid.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests import processes

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
    for proc in processes.process_tree(pid):
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
    return gunicorn("web:create_app()", port, env, log, ["--config", "web/gunicorn_conf.py"])


def start_baseline(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    """The synchronous baseline, with NumPy's BLAS in one thread as web has it
    (``web/gunicorn_conf.py``): it runs the same group counter on every canvas."""
    extra = ["--workers", "2", "--worker-class", "gthread", "--threads", "4"]
    extra += ["--env", "OPENBLAS_NUM_THREADS=1"]
    return gunicorn("bench.baseline_app:create_app()", port, env, log, extra)


def start_classic(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    """The classic demo (``bench/classic_app.py``), served as the baseline is."""
    extra = ["--workers", "2", "--worker-class", "gthread", "--threads", "4"]
    extra += ["--env", "OPENBLAS_NUM_THREADS=1"]
    return gunicorn("bench.classic_app:create_app()", port, env, log, extra)


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
    hostname = f"{name}@bench-{os.getpid()}-{processes.free_port()}"
    app = processes.celery_app_for(queues)
    args = [sys.executable, "-m", "celery", "-A", app, "worker", "-Q", queues,
            "-P", pool, "-c", str(concurrency), "-n", hostname, "--loglevel=INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat"]  # fmt: skip
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
        processes.stop(proc, timeout=20)


def wait_prediction(client: httpx.Client, base: str, status_url: str, timeout: float) -> None:
    """Long-poll ``status_url`` until its job is done; raise if it failed or never ends."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"{base}{status_url}", params={"wait": 5}).json()
        if body["status"] == "done":
            return
        if body["status"] == "failed":
            raise RuntimeError(f"first prediction failed: {body}")
    raise TimeoutError("no first prediction")


@dataclass
class Stack:
    """The processes under test, the environment they share and the ports they answer on."""

    work: Path
    env: dict[str, str]
    web_port: int
    base_port: int
    classic_port: int
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.base_port}"

    @property
    def classic_url(self) -> str:
        return f"http://127.0.0.1:{self.classic_port}"

    def memory(self, name: str) -> dict[str, Any]:
        return memory_mb(self.procs[name].pid)

    def end(self, name: str) -> None:
        """Stop the process started under ``name``."""
        stop(self.procs.pop(name))

    def end_all(self) -> None:
        for name in ("trainer", "worker", "classic", "baseline", "web", "valkey"):
            if name in self.procs:
                self.end(name)

    def start_web(self) -> subprocess.Popen:
        self.procs["web"] = start_web(self.env, self.web_port, self.work / "web.log")
        return self.procs["web"]

    def start_baseline(self) -> subprocess.Popen:
        self.procs["baseline"] = start_baseline(
            self.env, self.base_port, self.work / "baseline.log"
        )
        return self.procs["baseline"]

    def start_classic(self) -> subprocess.Popen:
        self.procs["classic"] = start_classic(
            self.env, self.classic_port, self.work / "classic.log"
        )
        return self.procs["classic"]

    def start_worker(self, image: str, pool: str, concurrency: int, log: str) -> float:
        """Enqueue a job, start the predict worker, and time process start → that job done."""
        with httpx.Client(timeout=30) as client:
            answer = client.post(f"{self.web_url}/api/predictions", json={"image": image})
            answer.raise_for_status()
            started = time.perf_counter()
            self.procs["worker"] = celery_worker(
                self.env, "predict,samples", "predict", pool, concurrency, self.work / log
            )
            wait_prediction(client, self.web_url, answer.json()["status_url"], 60)
            return time.perf_counter() - started


@contextmanager
def running(work: Path, mnist: str) -> Iterator[Stack]:
    """Valkey started and the environment of the rest; every process stopped on the way out."""
    valkey = processes.start_valkey(work / "valkey")
    web_port = processes.free_port()
    env = dict(
        os.environ,
        REDIS_URL=valkey.url,
        STORAGE_URL=str(work / "store"),
        WEIGHTS_DIR=str(ROOT / "models"),
        RATE_LIMITS_ENABLED="false",
        ADMIN_TOKEN=secrets.token_hex(16),
        FINE_TUNE_EVERY="1000000",
        MNIST_PATH=mnist,
        WEB_CONCURRENCY="2",
        # Every simulated client comes from 127.0.0.1: no cap on one address's connections.
        WEB_CONNECTIONS_PER_ADDRESS="0",
        BIND_HOST="127.0.0.1",
        PORT=str(web_port),
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    stack = Stack(
        work,
        env,
        web_port,
        base_port=processes.free_port(),
        classic_port=processes.free_port(),
        procs={"valkey": valkey.proc},
    )
    try:
        yield stack
    finally:
        stack.end_all()
