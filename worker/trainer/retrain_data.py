"""What a full retrain learns from: MNIST's training digits, every labelled user sample
repeated, and drawings that are not digits, with the shipped models' recipe.

``build_retrain_data`` lays the rows out in that order (``RetrainData``); the recipe's
constants are ``training.train_model``'s defaults, as the shipped models were trained.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from shared import answers
from worker.trainer.mnist import REPLAY_FILE, Mnist, source_name
from worker.trainer.negatives import make_negatives
from worker.trainer.training import split_validation
from worker.trainer.training_mix import NEGATIVES_PER_DIGIT
from worker.trainer.user_samples import UserSamples

#: Copies of each user sample per epoch, each augmented differently, as in a fine-tune:
#: a few hundred samples beside 60,000 MNIST digits would otherwise barely count.
USER_REPEATS = 3
#: The shipped models' recipe (``training.train_model``'s defaults).
BATCH_SIZE = 128
LEARNING_RATE = 1e-3
AUGMENT_FRACTION = 0.7
VALIDATION_FRACTION = 0.1
PATIENCE = 4


@dataclass(frozen=True)
class RetrainData:
    """What every model of a retrain learns from, in this order: MNIST's training digits,
    each user sample ``repeats`` times in a row, then drawings that are not digits."""

    x: np.ndarray
    y: np.ndarray
    #: Where the MNIST digits came from: split, source, how many of how many.
    mnist: dict[str, Any]
    user: UserSamples
    repeats: int
    negatives: int

    def fit_rows(self, seed: int) -> np.ndarray:
        """Which rows a model trained with ``seed`` fits on (the rest validate it)."""
        rows = np.arange(len(self.x))
        fit = split_validation(rows, rows, VALIDATION_FRACTION, seed)[0]
        chosen = np.zeros(len(rows), dtype=bool)
        chosen[fit] = True
        return chosen

    def steps_per_epoch(self) -> int:
        return -(-int(self.fit_rows(0).sum()) // BATCH_SIZE)

    def user_seen(self, fit: np.ndarray) -> np.ndarray:
        """Per user sample: whether at least one of its copies is among the fitted rows."""
        start, n_user = self.mnist["digits"], len(self.user.train_y)
        copies = fit[start : start + n_user * self.repeats]
        return np.asarray(copies.reshape(n_user, self.repeats).any(axis=1))


def mnist_source(mnist_path: str) -> str:
    """Where ``load_base_data`` reads MNIST from, for the record: file names, no folders."""
    if mnist_path:
        return source_name(mnist_path)
    return f"{REPLAY_FILE} (the replay set shipped beside the weights)"


def build_retrain_data(
    base: Mnist, user: UserSamples, source: str, mnist_limit: int | None, repeats: int
) -> RetrainData:
    """MNIST's training digits (the first ``mnist_limit``), the user samples, negatives."""
    if len(user.train_y) == 0:
        raise ValueError("no labelled user samples to learn from")
    count = len(base.x_train) if mnist_limit is None else min(mnist_limit, len(base.x_train))
    # The shipped models' share: 12,000 negatives beside MNIST's 60,000 digits.
    n_negatives = int(count * NEGATIVES_PER_DIGIT)
    negatives = make_negatives(n_negatives, "training")[0] if n_negatives else None
    parts_x = [base.x_train[:count], np.repeat(user.train_x, repeats, axis=0)]
    parts_y = [base.y_train[:count], np.repeat(user.train_y, repeats)]
    if negatives is not None:
        parts_x.append(negatives)
        parts_y.append(np.full(len(negatives), answers.NOT_DIGIT, np.int64))
    mnist = {
        "split": "train",
        "source": source,
        "digits": count,
        "of": len(base.x_train),
        "selection": "all" if count == len(base.x_train) else f"the first {count}",
    }
    return RetrainData(
        np.concatenate(parts_x), np.concatenate(parts_y), mnist, user, repeats, n_negatives
    )
