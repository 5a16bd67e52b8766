"""What a retrained version records about its training, in its metrics and beside its files:
the MNIST digits, user samples (by who sent them) and real-pen digits it fitted, the
negatives, the recipe, and the ids of the samples it saw (``SAMPLES_FILE``)."""

from __future__ import annotations

import json
from typing import Any

import keras
import numpy as np

from shared import answers
from worker.trainer.mnist import REPLAY_FILE
from worker.trainer.negatives import SEEDS
from worker.trainer.retrain_data import (
    AUGMENT_FRACTION,
    BATCH_SIZE,
    LEARNING_RATE,
    PATIENCE,
    VALIDATION_FRACTION,
    RetrainData,
)
from worker.trainer.rounds import SAMPLES_FILE
from worker.trainer.training_mix import PENS_PER_DIGIT
from worker.trainer.user_samples import UserSamples


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


def training_record(
    data: RetrainData,
    fitted: np.ndarray,
    history: keras.callbacks.History,
    epochs: int,
    seed: int,
    train_seconds: float,
) -> dict[str, Any]:
    """The version's ``training`` metrics: what it fitted, the recipe, how training went."""
    seen = data.user_seen(fitted)
    counts = user_counts(data.user, seen)
    mnist_fitted = int(fitted[: data.mnist["digits"]].sum())
    return {
        "kind": "retrain",
        "from": "scratch",
        "mnist": {**data.mnist, "fitted": mnist_fitted},
        # As a fine-tune records them, for the Models page: samples and MNIST digits learned.
        "user_samples": int(seen.sum()),
        "user_not_digit": counts["collectors"]["not_digit"] + counts["anonymous"]["not_digit"],
        "replay_digits": mnist_fitted,
        # Real-pen digits with at least one row fitted (the Models page's "+ N real-pen").
        "replay_pens": data.pens_seen(fitted),
        "pens": pens_record(data, fitted),
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


def pens_record(data: RetrainData, fitted: np.ndarray) -> dict[str, Any]:
    """The real-pen digits learned: how many, in how many rows, of which the model fitted."""
    return {
        "source": f"{REPLAY_FILE} (x_pens, y_pens)",
        "digits": data.pens,
        "rows": data.pen_rows,
        "rows_per_mnist_digit": PENS_PER_DIGIT if data.pens else 0.0,
        "fitted_rows": int(data.pens_fitted(fitted).sum()),
    }


def samples_file(data: RetrainData, fitted: np.ndarray, training: dict[str, Any]) -> bytes:
    """``SAMPLES_FILE``: the ids of the user samples trained on, validated on, held out."""
    seen = data.user_seen(fitted)
    ids = data.user.used_ids
    seen_by = {
        "trained": trained_ids(data, fitted),
        "validation_only": [i for i, ok in zip(ids, seen, strict=True) if not ok],
        "held_out": list(data.user.holdout_ids),
        "mnist": training["mnist"],
    }
    return json.dumps(seen_by).encode()


def trained_ids(data: RetrainData, fitted: np.ndarray) -> list[str]:
    """The ids of the user samples a model fitted at least one copy of."""
    seen = data.user_seen(fitted)
    return [i for i, ok in zip(data.user.used_ids, seen, strict=True) if ok]
