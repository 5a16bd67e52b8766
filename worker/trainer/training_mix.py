"""What a fine-tune round trains each model on, and how: its recipe and its training mix.

The mix is the users' samples, repeated, beside a replay of what the model learned first:
MNIST digits, real-pen digits when the replay set has them, and drawings that are not
digits, so a round learns the users' hand without forgetting the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shared import answers
from worker.trainer.mnist import Mnist
from worker.trainer.user_samples import UserSamples

BATCH_SIZE = 64


@dataclass(frozen=True)
class Recipe:
    """How a candidate is trained from its parent; chosen per model by recorded experiments."""

    epochs: int = 3
    learning_rate: float = 3e-5
    #: Base digits replayed per user sample, so the model keeps what it knew.
    replay_per_sample: int = 8
    #: Copies of each user sample per epoch (each augmented differently).
    user_repeats: int = 3
    augment_fraction: float = 0.5
    #: Replayed digits learn the parent's probabilities (distillation), not their labels:
    #: the candidate keeps the parent's whole answer on MNIST, not only its top digit.
    distill: bool = False
    #: "all" layers train, or only the "head" (the dense layers after the convolutions).
    train: str = "all"
    #: How far the candidate's weights move from the parent's towards the tuned ones (1 =
    #: all the way): averaging the two keeps much of the gain and more of what the parent
    #: knew (Wortsman et al. 2022, "Robust fine-tuning of zero-shot models").
    weight_interpolation: float = 1.0


#: The recipe of each model (see MODEL_CARD.md for the experiments that chose them).
_DISTILLED = Recipe(distill=True, learning_rate=3e-4, epochs=5, weight_interpolation=0.6)
RECIPES: dict[str, Recipe] = {"fnn": _DISTILLED, "cnn": _DISTILLED}


@dataclass(frozen=True)
class TrainingMix:
    """What a model trains on in a round: repeated user digits, then replayed base digits."""

    x: np.ndarray
    y: np.ndarray
    user_samples: int
    #: Replayed MNIST digits, then real-pen digits and negatives (the end of ``x``).
    replay_digits: int
    recipe: Recipe
    replay_negatives: int = 0
    #: Of the user samples, those labelled "not a digit".
    user_not_digit: int = 0
    replay_pens: int = 0

    def steps(self) -> int:
        return self.recipe.epochs * -(-len(self.x) // BATCH_SIZE)

    def is_replay(self) -> np.ndarray:
        replayed = self.replay_digits + self.replay_pens + self.replay_negatives
        return np.arange(len(self.y)) >= len(self.y) - replayed


#: Replayed negatives per replayed digit: the share of negatives the shipped models had.
NEGATIVES_PER_DIGIT = 0.2
#: Real-pen digits replayed per replayed MNIST digit, when the replay set has them: beside
#: MNIST's, not instead of them, so MNIST's replay is what it was. Fewer than the shipped
#: models learned with (0.6 a digit), so a round takes about a quarter more steps, not half.
PENS_PER_DIGIT = 0.35


def build_training_mix(
    base: Mnist,
    user: UserSamples,
    recipe: Recipe,
    seed: int,
    negatives: np.ndarray,
    pens: tuple[np.ndarray, np.ndarray] | None = None,
) -> TrainingMix:
    """Repeated user samples, then replayed base digits and real-pen digits (``pens``,
    ``PENS_PER_DIGIT`` a base digit, when given), then replayed negatives."""
    n_user = len(user.train_y)
    if n_user == 0:
        raise ValueError("no labelled user samples to learn from")
    rng = np.random.default_rng(seed)
    size = min(len(base.x_train), recipe.replay_per_sample * n_user)
    pens_x, pens_y = pens if pens is not None else (base.x_train[:0], base.y_train[:0])
    n_pens = min(len(pens_y), round(size * PENS_PER_DIGIT))
    replay = rng.choice(len(base.x_train), size=size)
    pen_rows = rng.choice(len(pens_y), size=n_pens, replace=False)
    n_negatives = min(len(negatives), int(size * NEGATIVES_PER_DIGIT))
    junk = rng.choice(len(negatives), size=n_negatives, replace=False)
    repeats = recipe.user_repeats
    x = np.concatenate(
        [
            np.repeat(user.train_x, repeats, axis=0),
            base.x_train[replay],
            pens_x[pen_rows],
            negatives[junk],
        ]
    )
    y = np.concatenate(
        [
            np.repeat(user.train_y, repeats),
            base.y_train[replay],
            pens_y[pen_rows],
            np.full(n_negatives, answers.NOT_DIGIT, np.int64),
        ]
    )
    user_not_digit = int(np.sum(user.train_y == answers.NOT_DIGIT))
    return TrainingMix(x, y, n_user, size, recipe, n_negatives, user_not_digit, replay_pens=n_pens)
