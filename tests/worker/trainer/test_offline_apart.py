"""The offline tools stay apart: the running trainer and predict apps load none of them.

``worker.trainer.tools`` (train the shipped models, evaluate, the model card, the learning
curve, experiments) runs from the command line only. Each app is imported as its worker
loads it, in a fresh interpreter with the environment a worker needs; importing connects
to nothing, so Redis may point at a port where nobody listens. That the predict app loads
no TensorFlow through its Celery app is also checked with real services
(``tests/web/test_api.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ADMIN_TOKEN, ROOT
from tests.processes import free_port

TOOLS = "worker.trainer.tools"


def modules_loaded_by(apps: list[str], storage: Path) -> list[str]:
    """Every module a fresh interpreter has loaded after importing ``apps``."""
    env = dict(
        os.environ,
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        STORAGE_URL=str(storage),
        ADMIN_TOKEN=ADMIN_TOKEN,
    )
    code = (
        "import importlib, json, sys\n"
        f"for app in {apps!r}:\n"
        "    importlib.import_module(app)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout.splitlines()[-1]))


def within(modules: list[str], package: str) -> list[str]:
    return [m for m in modules if m == package or m.startswith(package + ".")]


@pytest.mark.slow
def test_the_running_trainer_loads_none_of_the_offline_tools(tmp_path):
    loaded = modules_loaded_by(["worker.trainer.celery", "worker.trainer.tasks"], tmp_path)
    assert "worker.trainer.retraining" in loaded  # the probe did load the trainer's tasks
    assert not within(loaded, TOOLS)


def test_the_predict_app_loads_neither_the_trainer_nor_tensorflow(tmp_path):
    loaded = modules_loaded_by(["worker.predict.celery", "worker.predict.tasks"], tmp_path)
    assert "worker.predict.inference" in loaded  # the probe did load the worker's models code
    assert not within(loaded, "worker.trainer")  # the offline tools with it
    assert not [m for m in loaded if m.split(".")[0] in {"tensorflow", "keras"}]
