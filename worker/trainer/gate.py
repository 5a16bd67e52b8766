"""The gate a fine-tuned candidate must pass before it is promoted.

The candidate and its parent are scored on the same holdout: the users' held-out samples
(from other people than the round trains on, where the data allows) and MNIST test
digits. The users' samples lead: a candidate passes when it reads them at least as well
as its parent; MNIST is a guard rail, a stated tolerance in accuracy and in loss, per model.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from worker.trainer.mnist import to_inputs


@dataclass(frozen=True)
class Rule:
    """The gate of one model: users' digits must not read worse; MNIST is a guard rail."""

    #: The largest accuracy drop on the MNIST holdout a candidate may show (0.003 = 0.3 points).
    max_mnist_drop: float = 0.003
    #: Cross-entropy on the MNIST holdout may grow by at most this factor (plus a small
    #: floor): wrong labels erode confidence in the true digit long before the top answer
    #: flips, so accuracy alone lets a poisoned candidate through.
    max_mnist_loss_ratio: float = 1.25
    mnist_loss_floor: float = 0.005
    #: A round whose labels the current model contradicts this often is refused: honest
    #: users (even with a new style) agree with a 99 % model far more often than that.
    min_label_agreement: float = 0.2
    user: str = "accuracy on held-out users' samples must not get worse"


#: The rule of each model, recorded with every version it judged. 0.3 points of the gate's
#: 2,000 MNIST digits is six digits, and the same round run again on the same samples moved
#: the CNN's MNIST accuracy anywhere from -0.05 to -0.35 points and its loss x1.09 to x1.66
#: (runs measured): rails that tight rejected good candidates at random, so the CNN's are
#: 0.4 points and x1.5. The FNN errs on about three times as many MNIST digits (1.4 %
#: against 0.45 %), so the same drop is a smaller share of its errors: half a point, x1.4.
#: The candidate that first showed the CNN could not learn lost 0.75 points at x2.5.
RULES: dict[str, Rule] = {
    "fnn": Rule(max_mnist_drop=0.005, max_mnist_loss_ratio=1.4),
    "cnn": Rule(max_mnist_drop=0.004, max_mnist_loss_ratio=1.5),
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


def passes_gate(parent: Scores, candidate: Scores, agreement: float, rule: Rule) -> bool:
    """The rule: labels plausible, users' digits not worse, MNIST kept within tolerance."""
    if agreement < rule.min_label_agreement:
        return False
    if parent.user is not None and (candidate.user is None or candidate.user < parent.user):
        return False
    if candidate.mnist < parent.mnist - rule.max_mnist_drop:
        return False
    limit = parent.mnist_loss * rule.max_mnist_loss_ratio + rule.mnist_loss_floor
    return candidate.mnist_loss <= limit
