"""Flower, as compose runs it: its pages answer and SIGTERM stops it within a grace period."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests import ports, processes
from tests.helpers import ROOT

#: Docker's and Heroku's grace before SIGKILL is 30 s (compose sets 30 s): well within it.
STOP_WITHIN = 10.0


def flower_command() -> list[str]:
    """Compose's Flower command, on a free loopback port."""
    command = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["flower"][
        "command"
    ]
    assert command[:4] == ["celery", "-A", "worker.monitor", "flower"], command
    return [str(Path(sys.executable).parent / "celery"), *command[1:4]]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.mark.slow
def test_flower_answers_its_workers_page_and_stops_on_sigterm(
    stack_env: dict[str, str], predict_worker: processes.Service, tmp_path: Path
) -> None:
    port = ports.free_port()
    args = flower_command() + [f"--port={port}", "--address=127.0.0.1"]
    with open(tmp_path / "flower.log", "wb") as log:
        proc = subprocess.Popen(args, env=stack_env, cwd=ROOT, stdout=log, stderr=log)
    try:
        base = f"http://127.0.0.1:{port}"
        processes.wait_until(lambda: answers(f"{base}/healthcheck"), 60, "Flower", proc)
        # The workers page asks every worker over the broker: with the apps' one-connection
        # pool this call (and the exit after it) waited forever.
        assert answers(f"{base}/workers?refresh=1")
        proc.terminate()
        assert proc.wait(STOP_WITHIN) == 0
    finally:
        processes.stop(proc, timeout=1)
