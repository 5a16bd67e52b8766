"""Fine-tune both models on users' samples, mixed with a replay of MNIST, behind a gate.

One round, in named steps: build the training mix (users' samples, augmented, plus a
replay of base digits so the models do not forget MNIST), tune each model from its
current version, judge the candidate against its parent at the gate, publish it as a
version (kept even when rejected, with the metrics that decided), and promote those that
passed in one manifest write.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import keras
import numpy as np

from shared import registry
from shared.names import MODEL_NAMES
from shared.storage import Store
from worker.trainer import gate
from worker.trainer.augmentation import AugmentedDigits
from worker.trainer.conversion import to_tflite
from worker.trainer.keras_files import keras_bytes, load_version
from worker.trainer.mnist import Mnist, load_base_data
from worker.trainer.training import compile_model
from worker.trainer.user_samples import UserSamples, load_user_samples

log = logging.getLogger(__name__)

#: Base digits replayed per user sample, so the models keep what they knew.
REPLAY_PER_SAMPLE = 8
#: Copies of each user sample per epoch (each augmented differently).
USER_REPEATS = 3
MNIST_HOLDOUT = 2000
EPOCHS = 3
BATCH_SIZE = 64
LEARNING_RATE = 3e-5

#: ``report(step, total, loss)``: progress of the whole round.
Report = Callable[[int, int, float], None]


@dataclass(frozen=True)
class TrainingMix:
    """What every model of a round trains on: repeated user digits plus replayed base digits."""

    x: np.ndarray
    y: np.ndarray
    user_samples: int
    replay_digits: int

    def steps(self) -> int:
        return EPOCHS * -(-len(self.x) // BATCH_SIZE)


class Progress(keras.callbacks.Callback):
    """Counts training steps towards a total known up front; reports every half second."""

    def __init__(self, report: Report, total: int) -> None:
        super().__init__()
        self.report, self.total = report, total
        self.step, self.last = 0, 0.0
        report(0, total, 0.0)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.step += 1
        now = time.monotonic()
        if now - self.last >= 0.5 or self.step == self.total:
            self.last = now
            self.report(self.step, self.total, float((logs or {}).get("loss", 0.0)))


def build_training_mix(base: Mnist, user: UserSamples, seed: int) -> TrainingMix:
    n_user = len(user.train_y)
    if n_user == 0:
        raise ValueError("no labelled user samples to learn from")
    rng = np.random.default_rng(seed)
    size = min(len(base.x_train), REPLAY_PER_SAMPLE * n_user)
    replay = rng.choice(len(base.x_train), size=size)
    x = np.concatenate([np.repeat(user.train_x, USER_REPEATS, axis=0), base.x_train[replay]])
    y = np.concatenate([np.repeat(user.train_y, USER_REPEATS), base.y_train[replay]])
    return TrainingMix(x, y, n_user, size)


def freeze_batch_norm(model: keras.Model) -> None:
    """Keep batch-norm statistics as trained on all of MNIST.

    A fine-tune batch is a few hundred digits: updating the statistics from it shifts
    every later layer's input and costs MNIST accuracy (keras-io transfer learning guide).
    """
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


def tune(model: keras.Model, mix: TrainingMix, seed: int, progress: Progress) -> float:
    """Train in place at a low rate; returns the last epoch's loss."""
    freeze_batch_norm(model)
    compile_model(model, LEARNING_RATE)  # recompile: what is trainable changed
    data = AugmentedDigits(mix.x, mix.y, BATCH_SIZE, seed, augment_fraction=0.5)
    history = model.fit(data, epochs=EPOCHS, callbacks=[progress], verbose=0)
    return float(history.history["loss"][-1])


def publish(store: Store, name: str, model: keras.Model, metrics: dict[str, Any]) -> int:
    """Store the candidate as the model's next version, promoted or not; returns its number."""
    version = registry.next_version(store, name)
    files = {"model.keras": keras_bytes(model), "model.tflite": to_tflite(model)}
    registry.publish_version(store, name, version, files, metrics)
    return version


def fine_tune_model(
    store: Store, name: str, parent_version: int, mix: TrainingMix, holdout: gate.Holdout,
    user: UserSamples, progress: Progress, seed: int,
) -> dict[str, Any]:  # fmt: skip
    """One model's round: score the parent, tune, judge, publish; the version's metrics."""
    keras.utils.set_random_seed(seed)
    model = load_version(store, name, parent_version)
    parent = gate.score(model, holdout)
    agreement = gate.accuracy_and_loss(model, user.train_x, user.train_y)[0]
    final_loss = tune(model, mix, seed, progress)
    candidate = gate.score(model, holdout)
    passed = gate.passes_gate(parent, candidate, agreement)
    metrics = {
        "outcome": "promoted" if passed else "rejected",
        "parent_version": parent_version,
        "holdout": {"parent": asdict(parent), "candidate": asdict(candidate),
                    "mnist_digits": len(holdout.mnist_y), "user_samples": len(holdout.user_y)},
        "gate": gate.RULE,
        "label_agreement": agreement,
        "training": {"user_samples": mix.user_samples, "replay_digits": mix.replay_digits,
                     "epochs": EPOCHS, "learning_rate": LEARNING_RATE, "final_loss": final_loss},
    }  # fmt: skip
    version = publish(store, name, model, metrics)
    log.info("fine-tune %s v%s: %s %s", name, version, metrics["outcome"], metrics["holdout"])
    return {"version": version, **metrics}


def run_fine_tune(
    store: Store,
    mnist_path: str,
    weights_dir: str,
    report: Report,
    new_ids: set[str] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Train, judge and publish a candidate of each model; promote those that pass."""
    started = time.monotonic()
    current = registry.ensure_initial_versions(store, weights_dir)
    base = load_base_data(mnist_path, weights_dir)
    user = load_user_samples(store, new_ids)
    mix = build_training_mix(base, user, seed)
    holdout = gate.Holdout(
        base.x_test[:MNIST_HOLDOUT], base.y_test[:MNIST_HOLDOUT], user.holdout_x, user.holdout_y
    )
    progress = Progress(report, mix.steps() * len(MODEL_NAMES))
    outcomes = {
        name: fine_tune_model(store, name, current[name], mix, holdout, user, progress, seed + i)
        for i, name in enumerate(MODEL_NAMES)
    }
    promoted = {n: o["version"] for n, o in outcomes.items() if o["outcome"] == "promoted"}
    if promoted:
        # Files of every version are complete by now; the manifest moves in one write.
        registry.promote(store, promoted)
    return {
        "outcome": "promoted" if promoted else "rejected",
        "models": outcomes,
        "seconds": round(time.monotonic() - started, 2),
        "used_sample_ids": list(user.used_ids),
    }
