"""The gate a fine-tuned candidate must pass before it is promoted.

The candidate and its parent are scored on the same holdout: MNIST test digits plus the
users' held-out samples. It passes when it reads the users' samples at least as well as
its parent and MNIST stays within a stated tolerance, in accuracy and in loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from worker.trainer.mnist import to_inputs

#: The largest accuracy drop on the MNIST holdout a candidate may show: 0.2 points.
MAX_MNIST_DROP = 0.002
#: Cross-entropy on the MNIST holdout may grow by at most this factor (plus a small
#: floor): wrong labels erode confidence in the true digit long before the top answer
#: flips, so accuracy alone lets a poisoned candidate through.
MAX_MNIST_LOSS_RATIO = 1.25
MNIST_LOSS_FLOOR = 0.005
#: A round whose labels the current models contradict this often is refused: honest
#: users (even with a new style) agree with a 99 % model far more often than that.
MIN_LABEL_AGREEMENT = 0.2
#: The rule as recorded in each version's metrics.
RULE: dict[str, Any] = {
    "max_mnist_drop": MAX_MNIST_DROP,
    "max_mnist_loss_ratio": MAX_MNIST_LOSS_RATIO,
    "user": "accuracy must not get worse",
    "min_label_agreement": MIN_LABEL_AGREEMENT,
}


@dataclass(frozen=True)
class Holdout:
    """The digits both parent and candidate are scored on; uint8 (n, 28, 28) and labels."""

    mnist_x: np.ndarray
    mnist_y: np.ndarray
    user_x: np.ndarray
    user_y: np.ndarray


@dataclass(frozen=True)
class Scores:
    """One model on the holdout; ``user`` is None while no user sample is held out."""

    mnist: float
    mnist_loss: float
    user: float | None


def accuracy_and_loss(model: keras.Model, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Accuracy and mean cross-entropy of the true labels."""
    probabilities = model.predict(to_inputs(x), batch_size=512, verbose=0)
    truth = np.clip(probabilities[np.arange(len(y)), y], 1e-7, 1.0)
    return float(np.mean(np.argmax(probabilities, axis=1) == y)), float(-np.mean(np.log(truth)))


def score(model: keras.Model, holdout: Holdout) -> Scores:
    mnist, mnist_loss = accuracy_and_loss(model, holdout.mnist_x, holdout.mnist_y)
    user = None
    if len(holdout.user_y):
        user = accuracy_and_loss(model, holdout.user_x, holdout.user_y)[0]
    return Scores(mnist, mnist_loss, user)


def passes_gate(parent: Scores, candidate: Scores, agreement: float) -> bool:
    """The rule: labels plausible, MNIST kept within tolerance, users' digits not worse."""
    if agreement < MIN_LABEL_AGREEMENT:
        return False
    if candidate.mnist < parent.mnist - MAX_MNIST_DROP:
        return False
    if candidate.mnist_loss > parent.mnist_loss * MAX_MNIST_LOSS_RATIO + MNIST_LOSS_FLOOR:
        return False
    return parent.user is None or (candidate.user is not None and candidate.user >= parent.user)
