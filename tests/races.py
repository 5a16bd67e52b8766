"""Challenger races on a stack of their own (test_challenger, test_race_evidence)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from shared import prediction_records, registry
from shared.storage import LocalStore
from tests import processes
from tests.helpers import ROOT, predict, web
from tests.processes import wait_for

#: How long a race's decision may take to be recorded once its last label is in.
DECIDED_WITHIN = 30


def address(index: int) -> str:
    """The address of client number ``index`` behind the trusted proxy: the first octets
    differ, so no two share a client id whatever prefix ids are keyed by."""
    return f"{11 + index % 89}.{index // 89 % 256}.7.1"


def publish_copy(store, name: str, files: dict[str, bytes], metrics: dict) -> int:
    """A new complete version of ``name`` made of ``files``; its number."""
    version = registry.next_version(store, name)
    registry.publish_version(store, name, version, files, metrics)
    return version


def bad_model_bytes() -> bytes:
    """A network that was never trained: it reads digits at chance (needs the train extra)."""
    import keras

    from worker.trainer.builders import build_fnn
    from worker.trainer.conversion import to_tflite

    keras.utils.set_random_seed(3)
    return to_tflite(build_fnn(hidden_units=16))


class RaceStack:
    """Web (in-process), a predict worker and a store of their own, with small races, on
    ``redis_url`` (a database of its own: the ``redis_database`` fixture)."""

    def __init__(self, stack_env, redis_url: str, tmp_path: Path, **extra: str) -> None:
        self.env = dict(
            stack_env,
            REDIS_URL=redis_url,
            STORAGE_URL=str(tmp_path / "store"),
            CHALLENGER_PAIRS="20",
            MODEL_CHECK_INTERVAL="0.2",
            **extra,
        )
        self.tmp_path = tmp_path
        self.store = LocalStore(tmp_path / "store")
        self.current = registry.ensure_initial_versions(self.store, ROOT / "models")
        self.worker = self.start_worker("a")
        self.app = web(self.env)
        self.client = self.app.test_client()
        self.redis = self.app.extensions["digits"].redis

    def start_worker(self, tag: str) -> processes.Service:
        return processes.start_celery_worker(
            self.env, "predict,samples", self.tmp_path / f"worker-{tag}.log", f"race-{tag}",
            concurrency=2, redis_url=self.env["REDIS_URL"], pool="threads",
        )  # fmt: skip

    def files(self, name: str, version: int) -> dict[str, bytes]:
        key = registry.version_key
        return {f: self.store.get_bytes(key(name, version, f)) for f in registry.ARTIFACTS}

    def predict(self, digit: np.ndarray) -> dict:
        return predict(self.client, digit)

    def feedback(self, job_id: str, label: int, client: int = 0, consent: bool = True) -> int:
        """A label from client number ``client``; consented unless told (a consented label
        stores its drawing, and only it races)."""
        sent = self.client.post(
            f"/api/predictions/{job_id}/feedback",
            json={"label": label, "consent": consent},
            headers={"X-Forwarded-For": address(client)},
        )
        return sent.status_code

    def challenger(self, name: str) -> dict | None:
        return self.client.get("/api/models").get_json()["models"][name]["challenger"]

    def wait_shadow(self, name: str, version: int, digit: np.ndarray) -> None:
        """Until the worker has loaded the challenger (it checks every 0.2 s)."""

        def shadowed() -> bool:
            done = self.predict(digit)
            outcome = json.loads(prediction_records.read(self.redis, done["id"])["outcome"])
            return outcome["result"].get("shadow", {}).get(name, {}).get("version") == version

        wait_for(shadowed, 30, "the challenger's shadow answers")

    def wait_decision(self, name: str, version: int) -> dict[str, Any]:
        """The decision on the race of ``name``'s ``version`` as ``/api/models`` lists it,
        waited for (within DECIDED_WITHIN) rather than read at once: nothing promises it is
        recorded before the answer to the label that decided it (a settling another process
        holds, or one that failed, is left to others)."""

        def recorded() -> dict[str, Any] | None:
            history = self.client.get("/api/models").get_json()["challenger_history"]
            return next((r for r in history if (r["model"], r["version"]) == (name, version)), None)

        return wait_for(recorded, DECIDED_WITHIN, f"the decision on {name} v{version}")

    def close(self) -> None:
        """Stop its worker (the ``redis_database`` fixture empties its database)."""
        self.worker.stop()


def label_traffic(stack: RaceStack, digits, labels, count: int, first_client: int = 0) -> None:
    """``count`` predictions, each answered with its true label by a client of its own
    (numbers from ``first_client`` on)."""
    for index, (digit, label) in enumerate(list(zip(digits, labels, strict=True))[:count]):
        done = stack.predict(digit)
        assert stack.feedback(done["id"], int(label), first_client + index) == 202
