"""The stack started the way Heroku and honcho start it: each Procfile line a process.

Each line runs through ``/bin/sh -c`` with the environment, in its own process group
(a dyno), against the tests' own valkey and SeaweedFS S3. Two ``worker`` dynos share
the predict queue; at the end every dyno gets SIGTERM, as Heroku sends it, and must be
gone within 30 s.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import httpx
import pytest
from celery import Celery

from shared import names
from shared.imaging import render_canvas_png
from tests.helpers import BUCKET, ROOT, data_url, procfile
from tests.ports import free_port
from tests.processes import wait_until

pytestmark = pytest.mark.slow

ARTIFACTS = ROOT / "tests" / "artifacts"
#: Heroku sends SIGTERM, then SIGKILL 30 s later.
SHUTDOWN_LIMIT = 30.0
#: Heroku's R10: the web dyno must bind $PORT within 60 s.
BOOT_LIMIT = 60.0
#: The dynos this test runs: each Procfile process once, and the worker twice.
DYNOS = ("web.1", "worker.1", "worker.2", "trainer.1")


@dataclass
class Dyno:
    """One Procfile line running as ``/bin/sh -c`` in its own process group."""

    name: str
    proc: subprocess.Popen
    log: Path
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def start(cls, name: str, command: str, env: dict[str, str], logdir: Path) -> Dyno:
        log = logdir / f"{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                ["/bin/sh", "-c", command],
                cwd=ROOT,
                env={**env, "DYNO": name},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(name, proc, log)

    def alive(self) -> bool:
        """Any process of this dyno (the shell or what it started) still running."""
        self.proc.poll()
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def signal(self, signum: int) -> None:
        # Heroku signals every process in the dyno, as a signal to the process group does.
        try:
            os.killpg(self.proc.pid, signum)
        except ProcessLookupError:
            pass

    def rss_mb(self) -> float:
        """Resident memory of every process in the dyno, summed (shared pages count twice)."""
        total_kb = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == self.proc.pid:  # the process group
                    status = (stat.parent / "status").read_text()
                    total_kb += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
            except (OSError, AttributeError, IndexError):
                continue  # gone meanwhile, or a kernel thread
        return total_kb / 1024

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Stack:
    url: str
    env: dict[str, str]
    dynos: dict[str, Dyno]
    figures: dict[str, float]

    def celery(self) -> Celery:
        return Celery(broker=self.env["REDIS_URL"], backend=self.env["REDIS_URL"])

    def worker_names(self, probe: Celery) -> dict[str, str]:
        """Dyno name to Celery node name, for the worker dynos that answer a ping."""
        found = {}
        for reply in probe.control.ping(timeout=0.5):
            for node in reply:
                found[node.split("@", 1)[0]] = node
        return found


def record(figures: dict[str, float]) -> None:
    """Measured figures for the README and the report (tests/artifacts is not committed)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "procfile_stack.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**previous, **figures}, indent=2, sort_keys=True) + "\n")


@pytest.fixture(scope="module")
def stack(
    stack_env: dict[str, str], redis_databases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """Every Procfile process as a dyno, on a Redis database and S3 prefix of its own."""
    logdir = tmp_path_factory.mktemp("dynos")
    port = free_port()
    # A database of its own: the session's other worker processes must not take these jobs
    # (kombu prefixes broadcast channels with the database number too).
    redis_url = redis_databases()
    env = {
        **stack_env,
        "REDIS_URL": redis_url,
        "STORAGE_URL": f"s3://{BUCKET}/procfile-{uuid.uuid4().hex[:8]}",
        "PORT": str(port),
        "BIND_HOST": "127.0.0.1",
        "WEB_CONCURRENCY": "2",
        "WORKER_CONCURRENCY": "1",
        # The commands are found on PATH, as on a dyno: this interpreter's scripts first.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), stack_env.get("PATH", "")]),
    }
    commands = procfile()
    dynos: dict[str, Dyno] = {}
    figures: dict[str, float] = {}
    started = time.monotonic()
    try:
        for dyno in DYNOS:
            dynos[dyno] = Dyno.start(dyno, commands[dyno.split(".")[0]], env, logdir)
        url = f"http://127.0.0.1:{port}"
        web = dynos["web.1"]

        def web_answers() -> bool:
            return httpx.get(url + "/healthz", timeout=2).status_code in {200, 503}

        wait_until(web_answers, BOOT_LIMIT, "web dyno", web.proc)
        figures["web_boot_s"] = round(time.monotonic() - started, 2)
        probe = Celery(broker=redis_url, backend=redis_url)
        workers = [name for name in DYNOS if not name.startswith("web")]
        try:
            stack = Stack(url, env, dynos, figures)
            wait_until(
                lambda: set(workers) <= set(stack.worker_names(probe)),
                BOOT_LIMIT,
                "worker and trainer dynos",
            )
        finally:
            probe.close()
        figures["all_dynos_boot_s"] = round(time.monotonic() - started, 2)
        yield stack
    finally:
        for dyno in dynos.values():
            dyno.signal(signal.SIGTERM)
        deadline = time.monotonic() + SHUTDOWN_LIMIT + 5
        for dyno in dynos.values():
            while dyno.alive() and time.monotonic() < deadline:
                time.sleep(0.1)
            if dyno.alive():
                dyno.signal(signal.SIGKILL)
            try:
                dyno.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        record(figures)


def wait_done(client: httpx.Client, status_url: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = client.get(status_url, params={"wait": 5})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        if body["status"] in {"done", "failed"}:
            return body
    raise AssertionError(f"{status_url} not finished in {timeout} s")


def root_warning(line: str) -> bool:
    """Celery's warning about running as root, printed before its logging is set up.

    Only seen where tests run as root; dynos and the compose image never do.
    """
    return os.geteuid() == 0 and "_warn_or_raise_security_error" in line


def test_web_binds_port_and_every_dyno_boots_within_60_seconds(stack: Stack) -> None:
    assert stack.figures["web_boot_s"] < BOOT_LIMIT
    assert stack.figures["all_dynos_boot_s"] < BOOT_LIMIT
    health = httpx.get(stack.url + "/healthz", timeout=5)
    assert health.status_code == 200, health.text
    assert health.json()["checks"]["redis"] == "ok"
    assert health.json()["checks"]["store"] == "ok"


def test_prediction_and_sample_go_through_the_procfile_stack(
    stack: Stack, mnist_sample: dict, seaweedfs
) -> None:
    digit = mnist_sample["x_test"][0]
    image = data_url(render_canvas_png(digit))
    with httpx.Client(base_url=stack.url, timeout=10) as client:
        answer = client.post("/api/predictions", json={"image": image})
        assert answer.status_code == 202, answer.text
        done = wait_done(client, answer.json()["status_url"])
        assert done["status"] == "done", done
        for name in names.MODEL_NAMES:
            assert 0 <= done["result"][name]["digit"] <= 9
            assert abs(sum(done["result"][name]["probabilities"]) - 1) < 1e-3

        saved = client.post("/api/samples", json={"image": image, "label": 7})
        assert saved.status_code == 202, saved.text
        sample_id = saved.json()["id"]

    bucket, _, prefix = stack.env["STORAGE_URL"][len("s3://") :].partition("/")
    s3 = boto3.client("s3", endpoint_url=seaweedfs.url, region_name="us-east-1")
    keys = {f"{prefix}/samples/{sample_id}.png", f"{prefix}/samples/{sample_id}.json"}

    def stored() -> bool:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/samples/")
        return keys <= {item["Key"] for item in listed.get("Contents", [])}

    wait_until(stored, 20, "sample in S3")
    meta = json.loads(
        s3.get_object(Bucket=bucket, Key=f"{prefix}/samples/{sample_id}.json")["Body"].read()
    )
    assert meta["label"] == 7


def test_two_worker_dynos_share_the_predict_queue(stack: Stack, mnist_sample: dict) -> None:
    images = [data_url(render_canvas_png(digit)) for digit in mnist_sample["x_test"][:12]]
    with httpx.Client(base_url=stack.url, timeout=10) as client:
        status_urls = []
        for _ in range(3):
            for image in images:
                answer = client.post("/api/predictions", json={"image": image})
                assert answer.status_code == 202, answer.text
                status_urls.append(answer.json()["status_url"])
        for status_url in status_urls:
            assert wait_done(client, status_url)["status"] == "done"

    probe = stack.celery()
    try:
        nodes = stack.worker_names(probe)
        stats = probe.control.inspect(
            destination=[nodes["worker.1"], nodes["worker.2"]], timeout=2
        ).stats()
    finally:
        probe.close()
    # Each dyno ran batch messages; a message carries one prediction or several.
    answered = {node: stats[node]["total"].get(names.PREDICT_BATCH, 0) for node in stats}
    assert len(answered) == 2, stats
    assert all(count > 0 for count in answered.values()), answered


def test_web_and_worker_dynos_fit_in_512_mb(stack: Stack) -> None:
    """After the jobs above, with the models loaded: a 512 MB dyno has room to spare."""
    for name, dyno in stack.dynos.items():
        stack.figures[f"rss_{name}_mb"] = round(dyno.rss_mb(), 1)
    for name in ("web.1", "worker.1", "worker.2"):
        assert stack.figures[f"rss_{name}_mb"] < 512, stack.figures


def test_every_dyno_stops_within_30_seconds_of_sigterm(stack: Stack) -> None:
    sent = time.monotonic()
    for dyno in stack.dynos.values():
        dyno.signal(signal.SIGTERM)
    stopped: dict[str, float] = {}
    while len(stopped) < len(stack.dynos) and time.monotonic() - sent < SHUTDOWN_LIMIT:
        for name, dyno in stack.dynos.items():
            if name not in stopped and not dyno.alive():
                stopped[name] = round(time.monotonic() - sent, 2)
        time.sleep(0.1)
    stack.figures.update({f"shutdown_{name}_s": seconds for name, seconds in stopped.items()})
    late = sorted(set(stack.dynos) - set(stopped))
    assert not late, {name: stack.dynos[name].text()[-2000:] for name in late}
    # One line per event on stdout: no indented traceback or banner lines.
    for name, dyno in stack.dynos.items():
        continued = [
            line
            for line in dyno.text().splitlines()
            if line.startswith((" ", "\t")) and not root_warning(line)
        ]
        assert not continued, (name, continued[:5])
