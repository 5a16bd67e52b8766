"""Fine-tune both models on users' samples, mixed with a replay of MNIST, behind a gate.

One round, in named steps: build the training mix (users' samples, augmented, plus a
replay of base digits so the models do not forget MNIST), tune each model from its
current version, judge the candidate against its parent at the gate, publish it as a
version (kept even when rejected, with the metrics that decided), and promote those that
passed in one manifest write.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import keras
import numpy as np
import redis

from shared import answers
from shared.names import MODEL_NAMES
from shared.storage import Store
from worker.trainer import gate
from worker.trainer.augmentation import AugmentedDigits
from worker.trainer.mnist import (
    Mnist,
    ReplayNegatives,
    load_base_data,
    load_replay_negatives,
    to_inputs,
)
from worker.trainer.rounds import (
    Progress,
    Report,
    RoundStart,
    baseline,
    finish_round,
    judge_and_publish,
    make_holdout,
    start_round,
)
from worker.trainer.training import compile_model
from worker.trainer.user_samples import UserSamples, load_user_samples

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
    #: Replayed base digits and, after them, replayed negatives (the end of ``x``).
    replay_digits: int
    recipe: Recipe
    replay_negatives: int = 0
    #: Of the user samples, those labelled "not a digit".
    user_not_digit: int = 0

    def steps(self) -> int:
        return self.recipe.epochs * -(-len(self.x) // BATCH_SIZE)

    def is_replay(self) -> np.ndarray:
        replayed = self.replay_digits + self.replay_negatives
        return np.arange(len(self.y)) >= len(self.y) - replayed


#: Replayed negatives per replayed digit: the share of negatives the shipped models had.
NEGATIVES_PER_DIGIT = 0.2


def build_training_mix(
    base: Mnist, user: UserSamples, recipe: Recipe, seed: int, negatives: np.ndarray
) -> TrainingMix:
    """Repeated user samples, then replayed base digits, then replayed negatives."""
    n_user = len(user.train_y)
    if n_user == 0:
        raise ValueError("no labelled user samples to learn from")
    rng = np.random.default_rng(seed)
    size = min(len(base.x_train), recipe.replay_per_sample * n_user)
    replay = rng.choice(len(base.x_train), size=size)
    n_negatives = min(len(negatives), int(size * NEGATIVES_PER_DIGIT))
    junk = rng.choice(len(negatives), size=n_negatives, replace=False)
    repeats = recipe.user_repeats
    x = np.concatenate(
        [np.repeat(user.train_x, repeats, axis=0), base.x_train[replay], negatives[junk]]
    )
    y = np.concatenate(
        [
            np.repeat(user.train_y, repeats),
            base.y_train[replay],
            np.full(n_negatives, answers.NOT_DIGIT, np.int64),
        ]
    )
    user_not_digit = int(np.sum(user.train_y == answers.NOT_DIGIT))
    return TrainingMix(x, y, n_user, size, recipe, n_negatives, user_not_digit)


def freeze_batch_norm(model: keras.Model) -> None:
    """Keep batch-norm statistics as trained on all of MNIST.

    A fine-tune batch is a few hundred digits: updating the statistics from it shifts
    every later layer's input and costs MNIST accuracy (keras-io transfer learning guide).
    """
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


def freeze_features(model: keras.Model) -> None:
    """Train only the head: every layer up to the flattening of the feature maps stays."""
    for layer in model.layers:
        layer.trainable = False
        if isinstance(layer, keras.layers.Flatten):
            break


def targets(model: keras.Model, mix: TrainingMix) -> np.ndarray:
    """What each digit of the mix must answer: its label, or the parent's answer (distilled)."""
    one_hot = np.eye(answers.DIGITS + 1, dtype=np.float32)[mix.y]
    if mix.recipe.distill and mix.replay_digits:
        replay = mix.is_replay()
        one_hot[replay] = model.predict(to_inputs(mix.x[replay]), batch_size=512, verbose=0)
    return one_hot


def tune(model: keras.Model, mix: TrainingMix, seed: int, progress: Progress) -> float:
    """Train in place at a low rate; returns the last epoch's loss."""
    recipe = mix.recipe
    soft = targets(model, mix)  # before any weight moves
    for layer in model.layers:  # a saved version keeps its flags: start from all trainable
        layer.trainable = True
    freeze_batch_norm(model)
    if recipe.train == "head":
        freeze_features(model)
    # recompile: what is trainable changed; soft targets need the categorical loss
    compile_model(model, recipe.learning_rate, loss="categorical_crossentropy")
    data = AugmentedDigits(mix.x, soft, BATCH_SIZE, seed, recipe.augment_fraction)
    parent = model.get_weights()
    history = model.fit(data, epochs=recipe.epochs, callbacks=[progress], verbose=0)
    if recipe.weight_interpolation != 1.0:
        share = recipe.weight_interpolation
        model.set_weights(
            [p + share * (t - p) for p, t in zip(parent, model.get_weights(), strict=True)]
        )
    return float(history.history["loss"][-1])


def fine_tune_model(
    store: Store,
    name: str,
    parent_version: int,
    mix: TrainingMix,
    holdout: gate.Holdout,
    user: UserSamples,
    progress: Progress,
    seed: int,
    passed_as: str = "promoted",
) -> dict[str, Any]:
    """One model's round: score the parent, tune, judge, publish; the version's metrics."""
    keras.utils.set_random_seed(seed)
    parent = baseline(store, name, parent_version, holdout, user)
    model = parent.model  # tuned in place; its scores were taken before
    final_loss = tune(model, mix, seed, progress)
    details = {
        "parent_version": parent_version,
        "training": {
            "kind": "fine_tune",
            "user_samples": mix.user_samples,
            "user_not_digit": mix.user_not_digit,
            "replay_digits": mix.replay_digits,
            "replay_negatives": mix.replay_negatives,
            "recipe": asdict(mix.recipe),
            "final_loss": final_loss,
        },
    }
    return judge_and_publish(store, name, model, parent, holdout, user, passed_as, details)


def fine_tune_each(
    store: Store,
    start: RoundStart,
    base: Mnist,
    extras: ReplayNegatives,
    user: UserSamples,
    report: Report,
    seed: int,
    recipes: dict[str, Recipe],
    passed_as: str,
) -> dict[str, dict[str, Any]]:
    """Tune every model the round trains, in ``MODEL_NAMES`` order; their outcomes."""
    mixes = {
        name: build_training_mix(base, user, recipes[name], seed, extras.train)
        for name in start.names
    }
    holdout = make_holdout(base, user, extras)
    progress = Progress(report, sum(mix.steps() for mix in mixes.values()))
    outcomes: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(MODEL_NAMES):
        if name in mixes:
            outcomes[name] = fine_tune_model(
                store,
                name,
                start.current[name],
                mixes[name],
                holdout,
                user,
                progress,
                seed + i,
                passed_as,
            )
    return outcomes


def run_fine_tune(
    store: Store,
    mnist_path: str,
    weights_dir: str,
    report: Report,
    new_ids: set[str] | None = None,
    seed: int = 0,
    recipes: dict[str, Recipe] = RECIPES,
    challenger_pairs: int = 0,
    keep_versions: int = 10,
    index: redis.Redis | None = None,  # the sample index's Redis (None: read the store)
) -> dict[str, Any]:
    """Train, judge and publish a candidate of each model; promote those that pass.

    With ``challenger_pairs`` above 0 a passing candidate becomes its model's challenger
    instead (``shared.challengers``), and a model whose challenger is still racing is not
    tuned this round (outcome "skipped"). Versions that never served, older than the
    newest ``keep_versions``, are removed at the end (``registry.prune_versions``).
    """
    started = time.monotonic()
    start = start_round(store, weights_dir, challenger_pairs)
    outcomes = start.skipped()
    user_ids: list[str] = []
    if start.names:
        base = load_base_data(mnist_path, weights_dir)
        extras = load_replay_negatives(weights_dir)
        user = load_user_samples(store, new_ids, index=index)
        passed_as = "challenger" if challenger_pairs else "promoted"
        outcomes.update(
            fine_tune_each(store, start, base, extras, user, report, seed, recipes, passed_as)
        )
        user_ids = list(user.used_ids)
    result = finish_round(store, start, outcomes, keep_versions)
    return {
        **result,
        "seconds": round(time.monotonic() - started, 2),
        "used_sample_ids": user_ids,
    }
