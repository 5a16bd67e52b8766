"""Accuracy as the model card and the metrics files report it: overall, per digit, and the
confusion matrix with a last column for "not a digit" (a refused digit is an error)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from shared import answers


def share(flags: Sequence[bool] | np.ndarray) -> float:
    """The share of true flags, to 4 places (0 when there are none): the tools' figures."""
    return round(float(np.mean(flags)), 4) if len(flags) else 0.0


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Rows are true digits, columns predicted digits and, last, "not a digit" (refused)."""
    matrix = np.zeros((answers.DIGITS, answers.DIGITS + 1), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels), np.asarray(predicted)), 1)
    return matrix


def accuracy_report(labels: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """Overall and per-digit accuracy plus the confusion matrix, as JSON-ready values."""
    matrix = confusion_matrix(labels, predicted)
    totals = matrix.sum(axis=1)
    per_digit = {
        str(d): round(float(matrix[d, d] / totals[d]), 5) if totals[d] else None for d in range(10)
    }
    return {
        "accuracy": round(float((np.asarray(labels) == predicted).mean()), 5),
        "per_digit_accuracy": per_digit,
        "confusion_matrix": matrix.tolist(),
    }
