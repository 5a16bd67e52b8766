"""The figures a shipped model's metrics file records beside its training: the "not a digit"
threshold chosen on validation digits and negatives, the served ``.tflite`` file's MNIST test
figures, the number parts it learned from, and the versions that made it."""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from shared import answers
from worker.lite_model import LiteModel
from worker.trainer.mnist import Mnist
from worker.trainer.tools.accuracy import accuracy_report
from worker.trainer.tools.number_parts import SEED as PARTS_SEED
from worker.trainer.training import validation_set


def versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "ai_edge_litert": metadata.version("ai-edge-litert"),
    }


#: Share of held-out-like negatives each model should refuse (the targets of issue 16).
NEGATIVE_TARGETS = {"fnn": 0.90, "cnn": 0.95}


def rejection_figures(
    model: LiteModel, x_val: np.ndarray, y_val: np.ndarray, negative_target: float
) -> dict[str, Any]:
    """The threshold, chosen on validation digits and negatives, and what it does there.

    The lowest false-reject rate of ``answers.FALSE_REJECT_RATES`` at which the validation
    negatives are refused at least ``negative_target`` of the time (else the highest
    rate): every digit refused is a person told their digit is not one, so refuse no more
    than the negatives need.
    """
    outputs = model.predict(x_val)
    scores = answers.not_digit_scores(outputs)
    digits = y_val < answers.NOT_DIGIT
    for rate in answers.FALSE_REJECT_RATES:
        threshold = answers.choose_threshold(scores[digits], rate)
        if np.mean(scores[~digits] >= threshold) >= negative_target:
            break
    return {
        "reject_threshold": threshold,
        "false_reject_rate_target": rate,
        "negatives_refused_target": negative_target,
        "validation": {
            "digits": int(digits.sum()),
            "negatives": int((~digits).sum()),
            "digits_refused": round(float(np.mean(scores[digits] >= threshold)), 5),
            "negatives_refused": round(float(np.mean(scores[~digits] >= threshold)), 5),
        },
    }


def measure_test(model: LiteModel, data: Mnist, threshold: float) -> dict[str, Any]:
    """MNIST test figures of the served model: a refused digit counts as an error."""
    predicted = answers.predicted_labels(model.predict(data.x_test), threshold)
    report = accuracy_report(data.y_test, predicted)
    return {
        "test_accuracy_tflite": report["accuracy"],
        "test_digits_refused": round(float(np.mean(predicted == answers.NOT_DIGIT)), 5),
        "per_digit_accuracy": report["per_digit_accuracy"],
        "confusion_matrix": report["confusion_matrix"],
    }


def parts_record(parts: tuple[np.ndarray, np.ndarray], numbers: int) -> dict[str, Any]:
    """What the metrics say of the number parts a model learned from."""
    return {
        "numbers": numbers,
        "images": int(len(parts[1])),
        "not_digit": int(np.sum(parts[1] == answers.NOT_DIGIT)),
        "recipe": f"worker.trainer.tools.number_parts, seed {PARTS_SEED}",
    }


def served_figures(
    name: str, tflite_path: Path, data: Mnist, x: np.ndarray, y: np.ndarray, seed: int
) -> dict[str, Any]:
    """The ``.tflite`` file's threshold (chosen on the validation split of ``x``, ``y``)
    and its MNIST test figures: what the predict worker serves is what is measured."""
    lite = LiteModel.from_path(tflite_path)
    rejection = rejection_figures(lite, *validation_set(x, y, seed), NEGATIVE_TARGETS[name])
    return {**measure_test(lite, data, rejection["reject_threshold"]), **rejection}
