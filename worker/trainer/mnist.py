"""MNIST as the trainer uses it: loading, the replay set shipped beside the weights, model inputs.

The project never needs MNIST to run: fine-tunes replay the small ``replay.npz`` shipped in
``models/`` unless ``MNIST_PATH`` names the full set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from shared.imaging import SIZE
from worker.trainer.arrays import no_images, no_labels

#: The MNIST sample shipped beside the weights: replayed in fine-tunes and gated on.
REPLAY_FILE = "replay.npz"


@dataclass(frozen=True)
class Mnist:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_mnist(path: str | None = None) -> Mnist:
    """MNIST as uint8 (n, 28, 28) and labels; from an ``mnist.npz`` or keras.datasets."""
    if path:
        with np.load(path) as data:
            arrays = [np.asarray(data[k]) for k in ("x_train", "y_train", "x_test", "y_test")]
    else:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
        arrays = [x_train, y_train, x_test, y_test]
    x_train, y_train, x_test, y_test = arrays
    return Mnist(
        x_train.astype(np.uint8),
        y_train.astype(np.int64),
        x_test.astype(np.uint8),
        y_test.astype(np.int64),
    )


def source_name(path: str | None) -> str:
    """Where MNIST came from, as a record names it: the file's name, not the folder it was
    in on the machine that trained (records are public: /api/models, the model card)."""
    return Path(path).name if path else "keras.datasets.mnist"


def load_base_data(mnist_path: str, weights_dir: str) -> Mnist:
    """MNIST from MNIST_PATH, else the replay set shipped beside the weights."""
    return load_mnist(mnist_path or str(Path(weights_dir) / REPLAY_FILE))


@dataclass(frozen=True)
class ReplayExtras:
    """What a fine-tune needs beside MNIST's digits, shipped in the replay set (uint8 28x28).

    ``train``: drawings that are not digits, replayed beside the digits; ``gate``: the
    gate's fixed negatives (another seed); ``threshold_x``: canvas-style MNIST test digits,
    after the gate's, on which each candidate's not-a-digit threshold is chosen. Both sets
    of negatives are the training family of ``worker.trainer.negatives``, every kind in its
    share (the hand-drawn kinds too, so a fine-tune that forgot arrows or question marks
    refuses fewer gate negatives), never the held-out family that evaluation measures on.
    ``pens_x``/``pens_y``: real-pen digits of the writers the shipped models trained on
    (``worker.trainer.tools.real_pens``), replayed so a fine-tune keeps them;
    ``gate_pens_x``/``gate_pens_y``: those of other writers of that family, gated on. Empty
    in a replay set made without UNIPEN.
    """

    train: np.ndarray
    gate: np.ndarray
    threshold_x: np.ndarray
    pens_x: np.ndarray = field(default_factory=no_images)
    pens_y: np.ndarray = field(default_factory=no_labels)
    gate_pens_x: np.ndarray = field(default_factory=no_images)
    gate_pens_y: np.ndarray = field(default_factory=no_labels)


#: The replay set's arrays of real-pen digits, by ``ReplayExtras`` field.
PEN_ARRAYS = {
    "pens_x": "x_pens",
    "pens_y": "y_pens",
    "gate_pens_x": "x_gate_pens",
    "gate_pens_y": "y_gate_pens",
}


def load_replay_extras(weights_dir: str) -> ReplayExtras:
    with np.load(Path(weights_dir) / REPLAY_FILE) as data:
        pens = {key: np.asarray(data[name]) for key, name in PEN_ARRAYS.items() if name in data}
        return ReplayExtras(
            np.asarray(data["x_negatives"]),
            np.asarray(data["x_gate_negatives"]),
            np.asarray(data["x_threshold"]),
            **pens,
        )


def write_replay_set(
    mnist: Mnist, out: Path, train: int, test: int, extras: ReplayExtras, seed: int = 0
) -> None:
    """A seeded random ``train`` training digits, the first ``test`` test digits, the extras
    (the real-pen digits only when there are any)."""
    pick = np.random.default_rng(seed).choice(len(mnist.x_train), size=train, replace=False)
    pens = {name: getattr(extras, key) for key, name in PEN_ARRAYS.items()}
    np.savez_compressed(
        out,
        x_train=mnist.x_train[pick],
        y_train=mnist.y_train[pick],
        x_test=mnist.x_test[:test],
        y_test=mnist.y_test[:test],
        x_negatives=extras.train,
        x_gate_negatives=extras.gate,
        x_threshold=extras.threshold_x,
        **(pens if len(extras.pens_y) else {}),
    )


def to_inputs(x_uint8: np.ndarray) -> np.ndarray:
    """uint8 (n, 28, 28) to the models' float32 (n, 28, 28, 1) in [0, 1]."""
    return (np.asarray(x_uint8, dtype=np.float32) / 255.0).reshape(-1, SIZE, SIZE, 1)
