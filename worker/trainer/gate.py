"""The gate a fine-tuned candidate must pass before it is promoted.

The candidate and its parent are scored on the same holdout: the users' held-out samples
(from other people than the round trains on, where the data allows), MNIST test digits
and a fixed set of drawings that are not digits. The users' samples lead: a candidate
passes when it reads them at least as well as its parent; MNIST is a guard rail, a stated
tolerance in accuracy and in loss, per model; and refusals are another: the candidate may
neither refuse many more digits nor accept many more negatives than its parent, so a round
cannot learn to refuse everything (or nothing). Each model is scored as it would serve:
with a threshold chosen for its lineage's false-reject rate on digits it never trained
on, and a refused digit counts as wrong. Both are scored through the LiteRT file the
predict worker serves (int8 weights, ``worker.trainer.conversion``), not the Keras model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from shared import answers
from worker.trainer.arrays import no_images, no_labels


class Reader(Protocol):
    """A model as served (``worker.lite_model.LiteModel``): uint8 (n, 28, 28) in,
    (n, 11) probabilities out."""

    def predict(self, pixels: np.ndarray) -> np.ndarray: ...


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
    #: MNIST holdout digits refused as "not a digit" may grow by at most this (half a point).
    max_refused_digits_rise: float = 0.005
    #: Fixed negatives refused may fall by at most this (five points).
    max_refused_negatives_drop: float = 0.05
    #: Accuracy on real-pen digits (writers the shipped models learned, other than those
    #: replayed) may fall by at most this: a round must not forget the pens it replays.
    #: Ten rounds of tests/worker/trainer/test_learning.py's new population lowered it by
    #: at most 0.8 points (FNN) and 0.4 (CNN); the models before real pens read 4.0 and
    #: 3.5 points fewer of them (95.0 and 94.9 %). 2 points sits between the two.
    max_pens_drop: float = 0.02
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
    """What both parent and candidate are scored on; images uint8 (n, 28, 28).

    ``user_y`` holds classes (a digit, or ``answers.NOT_DIGIT``); ``negatives`` are fixed
    drawings that are not digits; ``threshold_x`` the digits each model's threshold is
    chosen on.
    """

    mnist_x: np.ndarray
    mnist_y: np.ndarray
    user_x: np.ndarray
    user_y: np.ndarray
    negatives: np.ndarray
    threshold_x: np.ndarray
    #: Real-pen digits and their labels; empty when the replay set has none.
    pens_x: np.ndarray = field(default_factory=no_images)
    pens_y: np.ndarray = field(default_factory=no_labels)


@dataclass(frozen=True)
class Scores:
    """One model on the holdout; ``user`` is None while no user sample is held out."""

    mnist: float
    mnist_loss: float
    user: float | None
    reject_threshold: float = answers.DEFAULT_THRESHOLD
    digits_refused: float = 0.0
    negatives_refused: float = 0.0
    #: Accuracy on the holdout's real-pen digits; None when it has none.
    pens: float | None = None


def outputs(model: Reader, x: np.ndarray) -> np.ndarray:
    if len(x) == 0:  # an interpreter cannot be sized for an empty batch
        return np.zeros((0, answers.DIGITS + 1), np.float32)
    return np.asarray(model.predict(x))


def accuracy_and_loss(
    model: Reader, x: np.ndarray, y: np.ndarray, threshold: float = 1.0
) -> tuple[float, float]:
    """Accuracy (a refusal at ``threshold`` is wrong unless the class is "not a digit") and
    mean cross-entropy of the true classes."""
    probabilities = outputs(model, x)
    return _accuracy(probabilities, y, threshold), _loss(probabilities, y)


def _accuracy(probabilities: np.ndarray, y: np.ndarray, threshold: float) -> float:
    return float(np.mean(answers.predicted_labels(probabilities, threshold) == y))


def _loss(probabilities: np.ndarray, y: np.ndarray) -> float:
    truth = np.clip(probabilities[np.arange(len(y)), y], 1e-7, 1.0)
    return float(-np.mean(np.log(truth)))


def score(model: Reader, holdout: Holdout, rate: float = answers.FALSE_REJECT_RATE) -> Scores:
    """The model as it would serve: its threshold refuses ``rate`` of the threshold digits."""
    threshold = answers.choose_threshold(
        answers.not_digit_scores(outputs(model, holdout.threshold_x)), rate
    )
    mnist_out = outputs(model, holdout.mnist_x)  # read once: accuracy, loss and refusals
    mnist_predicted = answers.predicted_labels(mnist_out, threshold)
    user = None
    if len(holdout.user_y):
        user = _accuracy(outputs(model, holdout.user_x), holdout.user_y, threshold)
    negatives = answers.not_digit_scores(outputs(model, holdout.negatives)) >= threshold
    pens = None
    if len(holdout.pens_y):
        pens = _accuracy(outputs(model, holdout.pens_x), holdout.pens_y, threshold)
    return Scores(
        float(np.mean(mnist_predicted == holdout.mnist_y)),
        _loss(mnist_out, holdout.mnist_y),
        user,
        threshold,
        float(np.mean(mnist_predicted == answers.NOT_DIGIT)),
        float(negatives.mean()),
        pens,
    )


def gate_failures(parent: Scores, candidate: Scores, agreement: float, rule: Rule) -> list[str]:
    """The rules the candidate breaks (none: it passes)."""
    failures = []
    if agreement < rule.min_label_agreement:
        failures.append("label_agreement")
    if parent.user is not None and (candidate.user is None or candidate.user < parent.user):
        failures.append("user_accuracy")
    if candidate.mnist < parent.mnist - rule.max_mnist_drop:
        failures.append("mnist_accuracy")
    if candidate.mnist_loss > parent.mnist_loss * rule.max_mnist_loss_ratio + rule.mnist_loss_floor:
        failures.append("mnist_loss")
    if candidate.digits_refused > parent.digits_refused + rule.max_refused_digits_rise:
        failures.append("digits_refused")
    if candidate.negatives_refused < parent.negatives_refused - rule.max_refused_negatives_drop:
        failures.append("negatives_refused")
    if parent.pens is not None and (candidate.pens or 0.0) < parent.pens - rule.max_pens_drop:
        failures.append("pens_accuracy")
    return failures


def passes_gate(parent: Scores, candidate: Scores, agreement: float, rule: Rule) -> bool:
    """The rule: labels plausible, users' digits not worse, MNIST and refusals within tolerance."""
    return not gate_failures(parent, candidate, agreement, rule)
