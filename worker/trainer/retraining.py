"""Full retraining: each model built afresh and trained from scratch on MNIST plus every
labelled sample collected, then judged at the same gate as a fine-tune.

Not a fine-tune on the last few samples: a fresh network (``builders.BUILDERS``) learns,
with the shipped models' recipe (``training.train_model``: augmentation, a validation
hold-out, cosine decay, early stopping), from MNIST's training split, every labelled,
visible sample that is not held out (anonymous ones capped per client, trusted
collectors' all), each ``user_repeats`` times and augmented differently, and drawings
that are not digits in the shipped models' share. It is judged against the current
version on the gate's holdout, published (promoted, or challenger when that stage is on)
and recorded: which MNIST split and how many of its digits, which samples (the ids, in
``training_samples.json`` beside the version's files).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from shared import answers
from shared.names import MODEL_NAMES
from shared.storage import Store
from worker.trainer import gate
from worker.trainer.builders import BUILDERS
from worker.trainer.fine_tuning import NEGATIVES_PER_DIGIT
from worker.trainer.make_models import DEFAULT_EPOCHS
from worker.trainer.mnist import (
    REPLAY_FILE,
    Mnist,
    load_base_data,
    load_replay_negatives,
    source_name,
)
from worker.trainer.negatives import SEEDS, make_negatives
from worker.trainer.rounds import (
    SAMPLES_FILE,
    Progress,
    Report,
    baseline,
    finish_round,
    judge_and_publish,
    make_holdout,
    start_round,
)
from worker.trainer.training import split_validation, train_model
from worker.trainer.user_samples import UserSamples, load_all_user_samples

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


def fit(
    model: keras.Model, data: RetrainData, epochs: int, seed: int, progress: Progress
) -> keras.callbacks.History:
    """``training.train_model``'s recipe, as the shipped models were trained, reporting
    each step to ``progress``."""
    return train_model(
        model, data.x, data.y, epochs=epochs, seed=seed, batch_size=BATCH_SIZE,
        validation_fraction=VALIDATION_FRACTION, patience=PATIENCE,
        learning_rate=LEARNING_RATE, augment_fraction=AUGMENT_FRACTION, verbose=0,
        callbacks=[progress],
    )  # fmt: skip


def user_counts(user: UserSamples, seen: np.ndarray) -> dict[str, Any]:
    """The user samples a model trained on: digits and "not a digit", by who sent them."""
    groups: dict[str, dict[str, Any]] = {}
    by_collector: dict[str, int] = {}
    for label, collector, trained in zip(user.train_y, user.used_collectors, seen, strict=True):
        if not trained:
            continue
        group = groups.setdefault(
            "collectors" if collector else "anonymous", {"digits": 0, "not_digit": 0}
        )
        group["not_digit" if label == answers.NOT_DIGIT else "digits"] += 1
        if collector:
            by_collector[collector] = by_collector.get(collector, 0) + 1
    collectors = groups.get("collectors", {"digits": 0, "not_digit": 0})
    anonymous = groups.get("anonymous", {"digits": 0, "not_digit": 0})
    return {
        "collectors": {**collectors, "by_collector": dict(sorted(by_collector.items()))},
        "anonymous": {**anonymous, "left_out_by_cap": user.capped},
        "validation_only": int((~seen).sum()),
        "held_out": len(user.holdout_ids),
    }


def retrain_model(
    store: Store, name: str, current: int, data: RetrainData, holdout: gate.Holdout,
    epochs: int, progress: Progress, seed: int, passed_as: str,
) -> tuple[dict[str, Any], list[str]]:  # fmt: skip
    """Score the current version, train a fresh model, judge and publish it.

    Returns the version's metrics and the ids of the user samples it trained on.
    """
    parent = baseline(store, name, current, holdout, data.user)
    model = BUILDERS[name]()
    planned_end = progress.step + epochs * data.steps_per_epoch()
    started = time.perf_counter()
    history = fit(model, data, epochs, seed, progress)
    train_seconds = time.perf_counter() - started
    if progress.step < planned_end:  # early stopping: this model's share of steps is done
        progress.step = planned_end
        progress.report(planned_end, progress.total, float(history.history["loss"][-1]))
    # A fresh, uncompiled copy: no optimizer state in the stored .keras (a third of the size).
    served = BUILDERS[name]()
    served.set_weights(model.get_weights())
    fitted = data.fit_rows(seed)
    seen = data.user_seen(fitted)
    user = data.user
    trained = [i for i, ok in zip(user.used_ids, seen, strict=True) if ok]
    counts = user_counts(user, seen)
    mnist_fitted = int(fitted[: data.mnist["digits"]].sum())
    training = {
        "kind": "retrain",
        "from": "scratch",
        "mnist": {**data.mnist, "fitted": mnist_fitted},
        # As a fine-tune records them, for the Models page: samples and MNIST digits learned.
        "user_samples": len(trained),
        "user_not_digit": counts["collectors"]["not_digit"] + counts["anonymous"]["not_digit"],
        "replay_digits": mnist_fitted,
        "users": counts,
        "negatives": {
            "count": data.negatives,
            "recipe": f"worker.trainer.negatives, family training, seed {SEEDS['training']}",
        },
        "recipe": {
            "epochs": epochs,
            "user_repeats": data.repeats,
            "batch_size": BATCH_SIZE,
            "learning_rate": LEARNING_RATE,
            "augment_fraction": AUGMENT_FRACTION,
            "validation_fraction": VALIDATION_FRACTION,
            "patience": PATIENCE,
        },
        "epochs_run": len(history.history["loss"]),
        "train_seconds": round(train_seconds, 1),
        "final_loss": float(history.history["loss"][-1]),
        "val_accuracy": round(float(max(history.history["val_accuracy"])), 5),
        "seed": seed,
        "samples_file": SAMPLES_FILE,
    }
    seen_by = {
        "trained": trained,
        "validation_only": [i for i, ok in zip(user.used_ids, seen, strict=True) if not ok],
        "held_out": list(user.holdout_ids),
        "mnist": training["mnist"],
    }
    files = {SAMPLES_FILE: json.dumps(seen_by).encode()}
    details = {"compared_with_version": current, "training": training}
    outcome = judge_and_publish(
        store, name, served, parent, holdout, user, passed_as, details, files
    )
    return outcome, trained


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
) -> dict[str, Any]:
    """Retrain each model from scratch, judge and publish it; promote those that pass.

    ``epochs`` None trains each model for as many epochs as the shipped one
    (``make_models.DEFAULT_EPOCHS``: 25 for the FNN, 20 for the CNN); ``mnist_limit``
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
        extras = load_replay_negatives(weights_dir)
        user = load_all_user_samples(store)
        source = mnist_source(mnist_path)
        data = build_retrain_data(base, user, source, mnist_limit, user_repeats)
        holdout = make_holdout(base, user, extras)
        plan = {name: epochs or DEFAULT_EPOCHS[name] for name in start.names}
        progress = Progress(report, sum(plan.values()) * data.steps_per_epoch())
        passed_as = "challenger" if challenger_pairs else "promoted"
        for i, name in enumerate(MODEL_NAMES):
            if name in plan:
                outcomes[name], trained = retrain_model(
                    store, name, start.current[name], data, holdout, plan[name], progress,
                    seed + i, passed_as,
                )  # fmt: skip
                used.update(trained)
    result = finish_round(store, start, outcomes, keep_versions)
    return {
        **result,
        "kind": "retrain",
        "seconds": round(time.monotonic() - started, 2),
        "used_sample_ids": sorted(used),
    }
