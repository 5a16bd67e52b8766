"""What a full retrain learns from: MNIST's training digits, every labelled user sample
repeated, the replay set's real-pen digits and drawings that are not digits, with the
shipped models' recipe.

The pens are learned, not only MNIST, so a retrain keeps reading real pens as the shipped
models do and can face the gate's pens rail as a fine-tune does.

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
from worker.trainer.training_mix import NEGATIVES_PER_DIGIT, PENS_PER_DIGIT
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
    each user sample ``repeats`` times in a row, the real-pen digits (``pen_rows`` rows
    cycling through ``pens`` digits), then drawings that are not digits."""

    x: np.ndarray
    y: np.ndarray
    #: Where the MNIST digits came from: split, source, how many of how many.
    mnist: dict[str, Any]
    user: UserSamples
    repeats: int
    negatives: int
    #: The replay set's real-pen digits learned (none when it has none), and their rows:
    #: row ``i`` of the pens is pen digit ``i % pens``.
    pens: int = 0
    pen_rows: int = 0

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

    def pens_fitted(self, fit: np.ndarray) -> np.ndarray:
        """Per real-pen row: whether it is among the fitted rows (they follow the users')."""
        start = self.mnist["digits"] + len(self.user.train_y) * self.repeats
        return fit[start : start + self.pen_rows]

    def pens_seen(self, fit: np.ndarray) -> int:
        """How many real-pen digits have at least one of their rows among the fitted rows."""
        rows = np.flatnonzero(self.pens_fitted(fit))
        return len(np.unique(rows % self.pens)) if self.pens else 0


def mnist_source(mnist_path: str) -> str:
    """Where ``load_base_data`` reads MNIST from, for the record: file names, no folders."""
    if mnist_path:
        return source_name(mnist_path)
    return f"{REPLAY_FILE} (the replay set shipped beside the weights)"


def pen_rows(pens: tuple[np.ndarray, np.ndarray] | None, rows: int) -> np.ndarray:
    """Which pen digit fills each of ``rows`` rows: cycling through them in order, so each
    appears equally often (give or take one); none when there are no pens."""
    n_pens = 0 if pens is None else len(pens[1])
    return np.resize(np.arange(n_pens), rows if n_pens else 0)


def build_retrain_data(
    base: Mnist,
    user: UserSamples,
    source: str,
    mnist_limit: int | None,
    repeats: int,
    pens: tuple[np.ndarray, np.ndarray] | None = None,
) -> RetrainData:
    """MNIST's training digits (the first ``mnist_limit``), the user samples, the real-pen
    digits ``pens`` (``PENS_PER_DIGIT`` rows an MNIST digit, as a fine-tune replays them),
    negatives."""
    if len(user.train_y) == 0:
        raise ValueError("no labelled user samples to learn from")
    count = len(base.x_train) if mnist_limit is None else min(mnist_limit, len(base.x_train))
    # The shipped models' share: 12,000 negatives beside MNIST's 60,000 digits.
    n_negatives = int(count * NEGATIVES_PER_DIGIT)
    negatives = make_negatives(n_negatives, "training")[0] if n_negatives else None
    parts_x = [base.x_train[:count], np.repeat(user.train_x, repeats, axis=0)]
    parts_y = [base.y_train[:count], np.repeat(user.train_y, repeats)]
    rows = pen_rows(pens, round(count * PENS_PER_DIGIT))
    if pens is not None and len(rows):
        parts_x.append(pens[0][rows])
        parts_y.append(np.asarray(pens[1], np.int64)[rows])
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
    n_pens = len(np.unique(rows))
    x, y = np.concatenate(parts_x), np.concatenate(parts_y)
    return RetrainData(x, y, mnist, user, repeats, n_negatives, n_pens, len(rows))
