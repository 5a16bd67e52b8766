"""A fine-tune on a stack of the test's own, started and seen training, for tests that then
kill or stop its trainer or its Redis (test_faults, test_fine_tune_interrupted)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
import redis
from flask import Flask
from flask.testing import FlaskClient

from shared import fine_tune_jobs, names, registry
from shared.dataset import samples
from shared.storage import Store
from tests import processes
from tests.helpers import ADMIN, Workers, web
from tests.processes import wait_for

#: New samples written before the fine-tune: enough for it to train on.
SAMPLES = 40


def thick(digits: np.ndarray) -> np.ndarray:
    """``digits`` with their ink doubled: a hand unlike MNIST's, for the fine-tune to learn."""
    return np.clip(digits.astype(np.int32) * 2, 0, 255).astype(np.uint8)


@dataclass
class Training:
    """Web (in-process), the trainer it started and the fine-tune's status URL."""

    app: Flask
    client: FlaskClient
    trainer: processes.Service
    status_url: str

    @property
    def store(self) -> Store:
        return self.app.extensions["digits"].store

    @property
    def redis(self) -> redis.Redis:
        return self.app.extensions["digits"].redis


def start_training(
    env: dict[str, str], workers: Workers, mnist_sample: dict[str, np.ndarray]
) -> Training:
    """Web, a trainer and new samples; a fine-tune started and seen training."""
    app = web(env)
    client = app.test_client()
    store = app.extensions["digits"].store
    x, y = mnist_sample["x_train"][:SAMPLES], mnist_sample["y_train"][:SAMPLES]
    for digit, label in zip(thick(x), y, strict=True):
        meta = {"label": int(label), "source": "collect", "consent": True, "client": "a"}
        samples.write_sample(store, uuid.uuid4().hex, digit, meta)
    trainer = workers.start(env, names.QUEUE_TRAIN, "trainer")
    wait_for(lambda: registry.read_manifest(store), 30, "shipped weights published")
    answer = client.post("/api/fine-tunes", headers=ADMIN)
    assert answer.status_code == 202, answer.get_json()
    status_url = answer.headers["Location"]

    def training() -> bool:
        job = client.get(status_url).get_json()
        assert job["status"] in {"queued", "running"}, job
        return job["status"] == "running" and job.get("step", 0) > 0

    wait_for(training, 120, "the fine-tune training")
    return Training(app, client, trainer, status_url)


def finished(client: FlaskClient, status_url: str) -> dict[str, Any] | None:
    """The fine-tune's job once it has an outcome, else None (for ``wait_for``)."""
    job = client.get(status_url).get_json()
    return job if job["status"] in fine_tune_jobs.FINISHED else None
