"""The learning curve measures a version as it serves: a refused drawing is an error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from shared import answers, registry
from shared.storage import LocalStore
from tests.helpers import ROOT, SAMPLE
from worker.lite_model import LiteModel
from worker.trainer.tools.learning_curve import accuracy


def test_a_drawing_the_version_refuses_counts_as_wrong(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    registry.ensure_initial_versions(store, ROOT / "models")
    with np.load(SAMPLE) as data:
        x, y = data["x_test"][:100], data["y_test"][:100].astype(np.int64)
    assert accuracy(store, "cnn", 1, x, y) > 0.9
    # The same weights with a threshold that refuses half the digits read half at most.
    outputs = LiteModel.from_path(ROOT / "models" / "cnn.tflite").predict(x)
    median = float(np.median(answers.not_digit_scores(outputs)))
    key = registry.version_key("cnn", 1, "metrics.json")
    metrics = registry.read_metrics(store, "cnn", 1)
    metrics["card"]["reject_threshold"] = median
    store.put_bytes(key, json.dumps(metrics).encode())
    kept = (answers.not_digit_scores(outputs) < median) & (outputs.argmax(axis=1) == y)
    assert accuracy(store, "cnn", 1, x, y) == float(kept.mean()) <= 0.5
