"""The workers' container health check, ``python -m worker.healthcheck``, answers in time.

``celery inspect ping`` waited forever under the app's one-connection pool (issue 35):
the check must say yes or no within its timeout against a real worker started from the
Procfile's line, a node no worker has, a Redis that is down and one that never answers.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery

from shared.celery_config import BROKER_POOL_LIMIT, make_celery
from shared.settings import Settings
from tests import ports, processes
from tests.helpers import ROOT, procfile
from worker import healthcheck

#: The check's timeout in these tests, and what a hang check allows on top of it: the
#: interpreter's start, the check's grace and a loaded machine's slack.
TIMEOUT = 3.0
SLACK = 10.0


def run_check(env: dict[str, str], *args: str, bound: float = TIMEOUT + SLACK):
    """``python -m worker.healthcheck ARGS``; a TimeoutExpired past ``bound`` is a hang."""
    return subprocess.run(
        [sys.executable, "-m", "worker.healthcheck", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=bound,
    )


@pytest.fixture(scope="module")
def health_env(redis_databases, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A worker's environment as compose gives it: no DYNO, so the node is ``worker@%h``; on
    a database no other test's worker reads (kombu prefixes the broadcast channels with it)."""
    env = {key: value for key, value in os.environ.items() if key != "DYNO"}
    env.update(
        REDIS_URL=redis_databases(),
        STORAGE_URL=str(tmp_path_factory.mktemp("health-store")),
        WEIGHTS_DIR=str(ROOT / "models"),
        WORKER_CONCURRENCY="1",
        PYTHONUNBUFFERED="1",
        # The Procfile's commands are found on PATH, as on a dyno: this interpreter's first.
        PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    )
    return env


@pytest.fixture(scope="module")
def procfile_worker(
    health_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The Procfile's ``worker`` line in a process group of its own; yields its node name."""
    node = f"worker@{socket.gethostname()}"
    log = tmp_path_factory.mktemp("health-logs") / "worker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", procfile()["worker"]],
            cwd=ROOT,
            env=health_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    probe = Celery(broker=health_env["REDIS_URL"])  # Celery's default pool: ten connections
    try:
        processes.wait_until(
            lambda: any(node in reply for reply in probe.control.ping([node], timeout=0.5)),
            60,
            f"Procfile worker {node} (log: {log})",
            proc,
        )
        yield node
    finally:
        probe.close()
        stop_group(proc)


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the group we started (the shell and the worker), SIGKILL it if it stays."""
    for signum, wait in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, signum)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue


def test_a_running_predict_worker_answers(procfile_worker: str, health_env: dict[str, str]) -> None:
    # The default node is the Procfile's without DYNO: worker@ this host's name.
    result = run_check(health_env, "predict", "--timeout", str(TIMEOUT), bound=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{procfile_worker}: answered"


@pytest.mark.parametrize("node", ["worker@%h", f"worker@{socket.gethostname()}"])
def test_the_node_is_spelled_as_the_worker_s_dash_n(
    procfile_worker: str, health_env: dict[str, str], node: str
) -> None:
    """Compose can pass the worker's own ``-n`` value: ``%h`` expands as Celery expands it."""
    result = run_check(health_env, "predict", "--node", node, bound=TIMEOUT)
    assert result.returncode == 0, result.stderr


def test_checks_answer_in_turn_under_the_app_s_one_connection_pool(
    procfile_worker: str, health_env: dict[str, str]
) -> None:
    """With the app's pool of one, which ``celery inspect ping`` waits on forever: each
    check brings its own connection and gives the pool's back, so the next one answers too."""
    app = make_celery(Settings.from_env(health_env), "digits-predict")
    assert app.conf.broker_pool_limit == BROKER_POOL_LIMIT == 1
    try:
        for _ in range(3):
            assert healthcheck.check(app, procfile_worker, TIMEOUT) is None
    finally:
        app.close()


def test_a_node_no_worker_has_fails_within_the_timeout(
    procfile_worker: str, health_env: dict[str, str]
) -> None:
    result = run_check(health_env, "predict", "--node", "nobody@%h", "--timeout", str(TIMEOUT))
    assert result.returncode == 1
    assert result.stderr == f"nobody@{socket.gethostname()}: no answer within {TIMEOUT:g} s\n"


def test_no_trainer_running_fails_within_the_timeout(health_env: dict[str, str]) -> None:
    # No trainer reads this database: its default node, trainer@ this host, is silent.
    result = run_check(health_env, "trainer", "--timeout", str(TIMEOUT))
    assert result.returncode == 1
    assert result.stderr.startswith(f"trainer@{socket.gethostname()}: no answer")


def test_redis_down_fails_at_once(health_env: dict[str, str]) -> None:
    """A refused connection is the answer: the check does not sit out its timeout."""
    env = dict(health_env, REDIS_URL=f"redis://127.0.0.1:{ports.free_port()}/0")
    result = run_check(env, "predict", "--timeout", "60", bound=SLACK)
    assert result.returncode == 1
    assert "broker unreachable" in result.stderr and "refused" in result.stderr
    assert result.stderr.count("\n") == 1  # one line for `docker inspect`


def test_a_broker_that_never_answers_fails_within_the_timeout(
    health_env: dict[str, str],
) -> None:
    """A port that accepts connections (the kernel's backlog) and never says a word."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        env = dict(health_env, REDIS_URL=f"redis://127.0.0.1:{port}/0")
        result = run_check(env, "predict", "--timeout", "1")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr


@pytest.mark.slow
def test_the_trainer_answers(
    trainer: processes.Service, stack_env: dict[str, str], health_env: dict[str, str]
) -> None:
    """The session's trainer (TensorFlow loaded) answers the check, which loads none."""
    env = dict(health_env, REDIS_URL=stack_env["REDIS_URL"])
    result = run_check(env, "trainer", "--node", trainer.url, "--timeout", str(TIMEOUT))
    assert result.returncode == 0, result.stderr


#: Runs ``python -m worker.healthcheck ARGS`` as ``-m`` does, then prints what it imported.
RUN_AND_LIST_MODULES = """
import json, runpy, sys
try:
    runpy.run_module("worker.healthcheck", run_name="__main__", alter_sys=True)
except SystemExit as exit:
    print(json.dumps({"status": exit.code, "modules": sorted(sys.modules)}))
"""


def test_the_trainer_check_imports_neither_tensorflow_nor_the_apps(
    health_env: dict[str, str],
) -> None:
    # Pinging a real Redis, so the modules of the whole ping are in the list.
    args = ["trainer", "--node", "nobody@%h", "--timeout", "0.5"]
    result = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST_MODULES, *args],
        cwd=ROOT,
        env=health_env,
        capture_output=True,
        text=True,
        timeout=SLACK,
    )
    ran = json.loads(result.stdout.splitlines()[-1])
    assert ran["status"] == 1, result.stderr
    assert "kombu.pidbox" in ran["modules"]  # the probe did reach the ping
    apps = ("worker.trainer", "worker.predict")
    assert not {
        module
        for module in ran["modules"]
        if module.split(".")[0] in {"tensorflow", "keras", "web"}
        or any(module == app or module.startswith(app + ".") for app in apps)
    }
