"""Fine-tune both models on users' samples, mixed with a replay of MNIST, behind a gate.

One round, in named steps: build the training mix (users' samples, augmented, plus a
replay of base digits so the models do not forget MNIST), tune each model from its
current version, judge the candidate against its parent at the gate, publish it as a
version (kept even when rejected, with the metrics that decided), and promote those that
passed in one manifest write.
"""

from __future__ import annotations

import time
from dataclasses import asdict
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
    ReplayExtras,
    load_base_data,
    load_replay_extras,
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
from worker.trainer.training_mix import (
    BATCH_SIZE,
    RECIPES,
    Recipe,
    TrainingMix,
    build_training_mix,
)
from worker.trainer.user_samples import UserSamples, load_user_samples


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
            "replay_pens": mix.replay_pens,
            "recipe": asdict(mix.recipe),
            "final_loss": final_loss,
        },
    }
    return judge_and_publish(store, name, model, parent, holdout, user, passed_as, details)


def fine_tune_each(
    store: Store,
    start: RoundStart,
    base: Mnist,
    extras: ReplayExtras,
    user: UserSamples,
    report: Report,
    seed: int,
    recipes: dict[str, Recipe],
    passed_as: str,
) -> dict[str, dict[str, Any]]:
    """Tune every model the round trains, in ``MODEL_NAMES`` order; their outcomes."""
    mixes = {
        name: build_training_mix(
            base, user, recipes[name], seed, extras.train, (extras.pens_x, extras.pens_y)
        )
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
        extras = load_replay_extras(weights_dir)
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
