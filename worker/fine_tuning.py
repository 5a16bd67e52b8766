"""Fine-tune both models on users' samples, mixed with a replay of MNIST, behind a gate.

The candidate of each model starts from its current version, trains on the user
samples (augmented) plus a replay of base digits so it does not forget MNIST, and
is evaluated with its parent on a fixed holdout: MNIST test digits plus the slice of
user samples that is never trained on. It is promoted only if it loses at most
``MAX_MNIST_DROP`` on the MNIST part and nothing on the user part; either way its
files and metrics are kept as a version. The manifest is written last, in one PUT.
"""

from __future__ import annotations

import argparse
import io
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
from PIL import Image

from shared import registry, samples
from shared.names import MODEL_NAMES
from shared.storage import Store
from worker.convert import to_tflite
from worker.training import AugmentedDigits, Mnist, compile_model, load_mnist, to_inputs

log = logging.getLogger(__name__)

#: One user sample in HOLDOUT_EVERY (chosen by id, so always the same ones) is never trained on.
HOLDOUT_EVERY = 5
#: Base digits replayed per user sample, so the models keep what they knew.
REPLAY_PER_SAMPLE = 8
#: Copies of each user sample per epoch (each augmented differently).
USER_REPEATS = 3
MNIST_HOLDOUT = 2000
EPOCHS = 3
BATCH_SIZE = 64
LEARNING_RATE = 3e-5
#: The largest accuracy drop on the MNIST holdout a candidate may show: 0.2 points.
MAX_MNIST_DROP = 0.002
#: Cross-entropy on the MNIST holdout may grow by at most this factor (plus a small
#: floor): wrong labels erode confidence in the true digit long before the top answer
#: flips, so accuracy alone lets a poisoned candidate through.
MAX_MNIST_LOSS_RATIO = 1.25
MNIST_LOSS_FLOOR = 0.005
#: At most this many training samples from one client in one round (anti-poisoning).
MAX_PER_CLIENT = 100
#: A round whose labels the current models contradict this often is refused: honest
#: users (even with a new style) agree with a 99 % model far more often than that.
MIN_LABEL_AGREEMENT = 0.2
REPLAY_FILE = "replay.npz"

Report = Callable[[int, int, float], None]


def is_holdout(sample_id: str) -> bool:
    return int(sample_id[:8], 16) % HOLDOUT_EVERY == 0


def load_user_samples(store: Store, new_ids: set[str] | None = None) -> dict[str, Any]:
    """This round's training samples (the new ones, capped per client) and the holdout.

    The holdout is every held-out sample ever stored, so it only grows; ``new_ids`` None
    (or no new sample at all) trains on every stored sample that is not held out.
    """
    train_x, train_y, hold_x, hold_y, used = [], [], [], [], []
    per_client: Counter[str] = Counter()
    stored = sorted(samples.sample_ids(store))
    fresh = set(stored) if not new_ids or not new_ids & set(stored) else new_ids
    for sample_id in stored:
        if not is_holdout(sample_id) and sample_id not in fresh:
            continue
        meta = samples.read_meta(store, sample_id)
        label = meta.get("label")
        if not isinstance(label, int) or not meta.get("consent", False):
            continue
        pixels = np.asarray(Image.open(io.BytesIO(store.get_bytes(samples.image_key(sample_id)))))
        if is_holdout(sample_id):
            hold_x.append(pixels)
            hold_y.append(label)
            continue
        client = str(meta.get("client", ""))
        if client and per_client[client] >= MAX_PER_CLIENT:
            continue
        per_client[client] += 1
        train_x.append(pixels)
        train_y.append(label)
        used.append(sample_id)

    def stack(x: list[np.ndarray]) -> np.ndarray:
        return np.stack(x).astype(np.uint8) if x else np.zeros((0, 28, 28), np.uint8)

    return {
        "train_x": stack(train_x),
        "train_y": np.asarray(train_y, dtype=np.int64),
        "holdout_x": stack(hold_x),
        "holdout_y": np.asarray(hold_y, dtype=np.int64),
        "used_ids": used,
    }


def load_base_data(mnist_path: str, weights_dir: str) -> Mnist:
    """MNIST from MNIST_PATH, else the replay set shipped beside the weights."""
    return load_mnist(mnist_path or str(Path(weights_dir) / REPLAY_FILE))


def accuracy_and_loss(model: keras.Model, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Accuracy and mean cross-entropy of the true labels."""
    probabilities = model.predict(to_inputs(x), batch_size=512, verbose=0)
    truth = np.clip(probabilities[np.arange(len(y)), y], 1e-7, 1.0)
    return float(np.mean(np.argmax(probabilities, axis=1) == y)), float(-np.mean(np.log(truth)))


def load_version(store: Store, name: str, version: int) -> keras.Model:
    # Only ever from our own store: Keras loading has had code-execution bugs.
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        path.write_bytes(store.get_bytes(registry.version_key(name, version, "model.keras")))
        return keras.models.load_model(path, compile=False)


def keras_bytes(model: keras.Model) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)
        return path.read_bytes()


def freeze_batch_norm(model: keras.Model) -> None:
    """Keep batch-norm statistics as trained on all of MNIST.

    A fine-tune batch is a few hundred digits: updating the statistics from it shifts
    every later layer's input and costs MNIST accuracy (keras-io transfer learning guide).
    """
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


class ProgressCallback(keras.callbacks.Callback):
    """Reports step/total and loss, at most every half second."""

    def __init__(self, report: Report, offset: int, total: int) -> None:
        super().__init__()
        self.report, self.offset, self.total = report, offset, total
        self.step, self.last = offset, 0.0

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.step += 1
        now = time.monotonic()
        if now - self.last >= 0.5 or self.step == self.offset + self.total:
            self.last = now
            self.report(self.step, -1, float((logs or {}).get("loss", 0.0)))


def passes_gate(parent: dict[str, Any], candidate: dict[str, Any], agreement: float) -> bool:
    if agreement < MIN_LABEL_AGREEMENT:
        return False
    if candidate["mnist"] < parent["mnist"] - MAX_MNIST_DROP:
        return False
    if candidate["mnist_loss"] > parent["mnist_loss"] * MAX_MNIST_LOSS_RATIO + MNIST_LOSS_FLOOR:
        return False
    return parent["user"] is None or candidate["user"] >= parent["user"]


def run_fine_tune(
    store: Store,
    mnist_path: str,
    weights_dir: str,
    report: Report,
    new_ids: set[str] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Train, evaluate and publish a candidate of each model; promote those that pass."""
    started = time.monotonic()
    current = registry.ensure_initial_versions(store, weights_dir)
    base = load_base_data(mnist_path, weights_dir)
    user = load_user_samples(store, new_ids)
    n_user = len(user["train_y"])
    if n_user == 0:
        raise ValueError("no labelled user samples to learn from")
    rng = np.random.default_rng(seed)
    replay = rng.choice(len(base.x_train), size=min(len(base.x_train), REPLAY_PER_SAMPLE * n_user))
    x = np.concatenate([np.repeat(user["train_x"], USER_REPEATS, axis=0), base.x_train[replay]])
    y = np.concatenate([np.repeat(user["train_y"], USER_REPEATS), base.y_train[replay]])
    holdout_x, holdout_y = base.x_test[:MNIST_HOLDOUT], base.y_test[:MNIST_HOLDOUT]
    steps_per_model = EPOCHS * -(-len(x) // BATCH_SIZE)
    total = steps_per_model * len(MODEL_NAMES)
    report(0, total, 0.0)

    def progress(step: int, _total: int, loss: float) -> None:
        report(step, total, loss)

    outcomes: dict[str, Any] = {}
    promoted: dict[str, int] = {}
    for index, name in enumerate(MODEL_NAMES):
        keras.utils.set_random_seed(seed + index)
        model = load_version(store, name, current[name])

        def evaluate(model: keras.Model) -> dict[str, Any]:
            mnist, mnist_loss = accuracy_and_loss(model, holdout_x, holdout_y)
            user_part = None
            if len(user["holdout_y"]):
                user_part = accuracy_and_loss(model, user["holdout_x"], user["holdout_y"])[0]
            return {"mnist": mnist, "mnist_loss": mnist_loss, "user": user_part}

        parent = evaluate(model)
        agreement = accuracy_and_loss(model, user["train_x"], user["train_y"])[0]
        freeze_batch_norm(model)
        compile_model(model, LEARNING_RATE)  # recompile: what is trainable changed
        data = AugmentedDigits(x, y, BATCH_SIZE, seed + index, augment_fraction=0.5)
        callback = ProgressCallback(progress, index * steps_per_model, steps_per_model)
        history = model.fit(data, epochs=EPOCHS, callbacks=[callback], verbose=0)
        candidate = evaluate(model)
        ok = passes_gate(parent, candidate, agreement)
        version = registry.next_version(store, name)
        metrics = {
            "outcome": "promoted" if ok else "rejected",
            "parent_version": current[name],
            "holdout": {"parent": parent, "candidate": candidate,
                        "mnist_digits": len(holdout_y), "user_samples": len(user["holdout_y"])},
            "gate": {"max_mnist_drop": MAX_MNIST_DROP, "max_mnist_loss_ratio": MAX_MNIST_LOSS_RATIO,
                     "user": "accuracy must not get worse",
                     "min_label_agreement": MIN_LABEL_AGREEMENT},
            "label_agreement": agreement,
            "training": {"user_samples": n_user, "replay_digits": len(replay), "epochs": EPOCHS,
                         "learning_rate": LEARNING_RATE, "final_loss": history.history["loss"][-1]},
        }  # fmt: skip
        files = {"model.keras": keras_bytes(model), "model.tflite": to_tflite(model)}
        registry.publish_version(store, name, version, files, metrics)
        outcomes[name] = {"version": version, **metrics}
        if ok:
            promoted[name] = version
        log.info("fine-tune %s v%s: %s %s", name, version, metrics["outcome"], metrics["holdout"])
    if promoted:
        # Files of every version are complete by now; the manifest moves in one write.
        latest = registry.read_manifest(store) or current  # an admin may have rolled back
        registry.write_manifest(store, {**latest, **promoted})
    return {
        "outcome": "promoted" if promoted else "rejected",
        "models": outcomes,
        "seconds": round(time.monotonic() - started, 2),
        "used_sample_ids": user["used_ids"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Write the replay set shipped beside the weights.")
    parser.add_argument("--mnist", required=True, help="path to mnist.npz")
    parser.add_argument("--out", default=f"models/{REPLAY_FILE}")
    parser.add_argument("--train", type=int, default=5000)
    parser.add_argument("--test", type=int, default=MNIST_HOLDOUT)
    args = parser.parse_args()
    mnist = load_mnist(args.mnist)
    rng = np.random.default_rng(0)
    pick = rng.choice(len(mnist.x_train), size=args.train, replace=False)
    np.savez_compressed(
        args.out,
        x_train=mnist.x_train[pick],
        y_train=mnist.y_train[pick],
        x_test=mnist.x_test[: args.test],
        y_test=mnist.y_test[: args.test],
    )
    log.warning("wrote %s", args.out)


if __name__ == "__main__":
    main()
