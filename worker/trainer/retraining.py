"""Full retraining: each model built afresh and trained from scratch on MNIST plus every
labelled sample collected, then judged at the same gate as a fine-tune.

Not a fine-tune on the last few samples: a fresh network (``builders.BUILDERS``) learns,
with the shipped models' recipe (``training.train_model``: augmentation, a validation
hold-out, cosine decay, early stopping), from MNIST's training split, every labelled,
visible sample that is not held out (anonymous ones capped per client, trusted
collectors' all), each ``user_repeats`` times and augmented differently, the replay set's
real-pen digits (``training_mix.PENS_PER_DIGIT`` rows an MNIST digit, when it has them)
and drawings that are not digits in the shipped models' share. It is judged against the
current version on the gate's holdout, with the pens' rail when it learned pens, so a
retrain may not forget what the shipped models read of real pens; then published
(promoted, or challenger when that stage is on) and recorded: which MNIST split and how
many of its digits, how many pen digits, which samples (the ids, in
``training_samples.json`` beside the version's files).
"""

from __future__ import annotations

import time
from typing import Any

import keras
import redis

from shared.names import MODEL_NAMES
from shared.storage import Store
from worker.trainer import gate
from worker.trainer.builders import BUILDERS, DEFAULT_EPOCHS
from worker.trainer.mnist import Mnist, ReplayExtras, load_base_data, load_replay_extras
from worker.trainer.retrain_data import (
    AUGMENT_FRACTION,
    BATCH_SIZE,
    LEARNING_RATE,
    PATIENCE,
    USER_REPEATS,
    VALIDATION_FRACTION,
    RetrainData,
    build_retrain_data,
    mnist_source,
)
from worker.trainer.retrain_record import samples_file, trained_ids, training_record
from worker.trainer.rounds import (
    SAMPLES_FILE,
    Progress,
    Report,
    RoundStart,
    baseline,
    finish_round,
    judge_and_publish,
    make_holdout,
    start_round,
)
from worker.trainer.training import train_model
from worker.trainer.user_samples import UserSamples, load_all_user_samples


def fit(
    model: keras.Model, data: RetrainData, epochs: int, seed: int, progress: Progress
) -> keras.callbacks.History:
    """``training.train_model``'s recipe, as the shipped models were trained, reporting
    each step to ``progress``."""
    return train_model(
        model,
        data.x,
        data.y,
        epochs=epochs,
        seed=seed,
        batch_size=BATCH_SIZE,
        validation_fraction=VALIDATION_FRACTION,
        patience=PATIENCE,
        learning_rate=LEARNING_RATE,
        augment_fraction=AUGMENT_FRACTION,
        verbose=0,
        callbacks=[progress],
    )


def train_fresh(
    name: str, data: RetrainData, epochs: int, seed: int, progress: Progress
) -> tuple[keras.Model, keras.callbacks.History, float]:
    """A fresh model of ``name`` trained on ``data``: an uncompiled copy to serve (no
    optimizer state in the stored .keras, a third of the size), its history, its seconds."""
    model = BUILDERS[name]()
    planned_end = progress.step + epochs * data.steps_per_epoch()
    started = time.perf_counter()
    history = fit(model, data, epochs, seed, progress)
    train_seconds = time.perf_counter() - started
    if progress.step < planned_end:  # early stopping: this model's share of steps is done
        progress.step = planned_end
        progress.report(planned_end, progress.total, float(history.history["loss"][-1]))
    served = BUILDERS[name]()
    served.set_weights(model.get_weights())
    return served, history, train_seconds


def retrain_model(
    store: Store,
    name: str,
    current: int,
    data: RetrainData,
    holdout: gate.Holdout,
    epochs: int,
    progress: Progress,
    seed: int,
    passed_as: str,
) -> tuple[dict[str, Any], list[str]]:
    """Score the current version, train a fresh model, judge and publish it.

    Returns the version's metrics and the ids of the user samples it trained on.
    """
    parent = baseline(store, name, current, holdout, data.user)
    served, history, train_seconds = train_fresh(name, data, epochs, seed, progress)
    fitted = data.fit_rows(seed)
    training = training_record(data, fitted, history, epochs, seed, train_seconds)
    files = {SAMPLES_FILE: samples_file(data, fitted, training)}
    details = {"compared_with_version": current, "training": training}
    outcome = judge_and_publish(
        store, name, served, parent, holdout, data.user, passed_as, details, files
    )
    return outcome, trained_ids(data, fitted)


def retrain_each(
    store: Store,
    start: RoundStart,
    data: RetrainData,
    holdout: gate.Holdout,
    plan: dict[str, int],
    report: Report,
    seed: int,
    passed_as: str,
) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """Retrain every model in ``plan`` (epochs by name), in ``MODEL_NAMES`` order; their
    outcomes and the ids of the user samples any of them trained on."""
    progress = Progress(report, sum(plan.values()) * data.steps_per_epoch())
    outcomes: dict[str, dict[str, Any]] = {}
    used: set[str] = set()
    for i, name in enumerate(MODEL_NAMES):
        if name in plan:
            outcomes[name], trained = retrain_model(
                store,
                name,
                start.current[name],
                data,
                holdout,
                plan[name],
                progress,
                seed + i,
                passed_as,
            )
            used.update(trained)
    return outcomes, used


def retrain_inputs(
    base: Mnist,
    extras: ReplayExtras,
    user: UserSamples,
    source: str,
    mnist_limit: int | None,
    user_repeats: int,
) -> tuple[RetrainData, gate.Holdout]:
    """What every model of the retrain learns from, with the replay set's real-pen digits,
    and the gate's holdout it is judged on."""
    pens = (extras.pens_x, extras.pens_y)
    data = build_retrain_data(base, user, source, mnist_limit, user_repeats, pens)
    # Gated on the replay set's other writers' pens when it learned its pens, as a
    # fine-tune is; a replay set without pens to learn (an old one) leaves the rail off,
    # which would otherwise refuse every retrain for pens it never saw.
    return data, make_holdout(base, user, extras, pens=data.pens > 0)


def run_retrain(
    store: Store,
    mnist_path: str,
    weights_dir: str,
    report: Report,
    *,
    epochs: int | None = None,
    mnist_limit: int | None = None,
    user_repeats: int = USER_REPEATS,
    seed: int = 0,
    challenger_pairs: int = 0,
    keep_versions: int = 10,
    index: redis.Redis | None = None,  # the sample index's Redis (None: read the store)
) -> dict[str, Any]:
    """Retrain each model from scratch, judge and publish it; promote those that pass.

    ``epochs`` None trains each model for as many epochs as the shipped one
    (``builders.DEFAULT_EPOCHS``: 25 for the FNN, 32 for the CNN); ``mnist_limit``
    trains on the first that many MNIST training digits only (tests, quick checks). As in
    a fine-tune, a passing candidate becomes the challenger when ``challenger_pairs`` is
    above 0, a model whose challenger races is skipped, and old versions that never
    served are pruned.
    """
    started = time.monotonic()
    start = start_round(store, weights_dir, challenger_pairs)
    outcomes = start.skipped()
    used: set[str] = set()
    if start.names:
        base = load_base_data(mnist_path, weights_dir)
        extras = load_replay_extras(weights_dir)
        user = load_all_user_samples(store, index=index)
        source = mnist_source(mnist_path)
        data, holdout = retrain_inputs(base, extras, user, source, mnist_limit, user_repeats)
        plan = {name: epochs or DEFAULT_EPOCHS[name] for name in start.names}
        passed_as = "challenger" if challenger_pairs else "promoted"
        trained, used = retrain_each(store, start, data, holdout, plan, report, seed, passed_as)
        outcomes.update(trained)
    result = finish_round(store, start, outcomes, keep_versions)
    return {
        **result,
        "kind": "retrain",
        "seconds": round(time.monotonic() - started, 2),
        "used_sample_ids": sorted(used),
    }
