"""Train the group counter web's segmentation asks: ``python -m worker.trainer.tools.group_count``.

Numbers are composed from MNIST training digits (``worker.trainer.tools.numbers``), grouped
into strokes as web groups them (``shared.segmentation.stroke_groups``), and each group
is labelled by the digits whose ink it holds: at least half of two or more is *several*,
of one is *one*, of none is a *piece*. A share of the numbers is written tight (gaps
from a slight overlap to almost none), so touching pairs are not rare in training.

The digits the development number set is made of (``numbers.dev_number_set``: those
both shipped models held out) are left out, and so is MNIST test, which the evaluation
composes its numbers from. Writes ``shared/group_count.npz`` (``shared.group_count``:
web runs it with NumPy) and prints the counter's accuracy per class on a held-out tenth
of the groups.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from shared import group_count
from shared.canvas import working_ink
from shared.errors import DigitsError
from shared.imaging import ink_canvas_png, ink_from_image, load_png
from shared.names import MODEL_NAMES
from shared.segmentation import stroke_groups
from shared.settings import Settings
from worker.trainer.tools import numbers

#: Numbers composed as the evaluation composes them, and tight ones (touching pairs).
NUMBERS = 12000
TIGHT_NUMBERS = 6000
TIGHT_GAPS = (-0.08, 0.04)
#: A group holds a digit when it holds at least this share of the digit's ink.
HOLDS = 0.5
#: Numbers per process task, and the seed of the first task (the evaluation's is 1234).
CHUNK = 1000
SEED = 101
EPOCHS = 10


def labelled_groups(
    digits: np.ndarray, count: int, seed: int, gaps: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """The stroke groups of ``count`` numbers composed of ``digits`` with ``gaps``, as the
    counter's images, and their classes."""
    rng = np.random.default_rng(seed)
    images, classes = [], []
    for _ in range(count):
        picks = rng.choice(len(digits), size=int(rng.integers(2, 7)))
        canvas, layers = numbers.compose_layers([digits[i] for i in picks], rng, gaps)
        png = ink_canvas_png(Image.fromarray(canvas), int(rng.integers(0, 60)))
        work, _ = working_ink(ink_from_image(load_png(png, 4096)))
        try:
            groups, _ = stroke_groups(work)
        except DigitsError:
            continue
        digit_ink = numbers.DigitInk.of(layers)
        for group in groups:
            held = sum(share >= HOLDS for share in digit_ink.shares(group))
            images.append(group_count.group_image(group.ink))
            classes.append(min(group_count.SEVERAL, held))
    return np.stack(images), np.asarray(classes, np.int64)


def training_digits(mnist_path: str | None, models_dir: Path) -> np.ndarray:
    """MNIST training digits but those the development number set is made of."""
    from worker.trainer.mnist import load_mnist

    mnist = load_mnist(mnist_path)
    held_out = np.ones(len(mnist.x_train), dtype=bool)
    for name in MODEL_NAMES:
        metrics = json.loads((models_dir / f"{name}.metrics.json").read_text())
        held_out &= numbers._held_out(len(mnist.x_train), metrics)
    return mnist.x_train[~held_out]


def build_set(digits: np.ndarray, plain: int, tight: int, workers: int) -> tuple[np.ndarray, ...]:
    """Images and classes from ``plain`` numbers composed as evaluated and ``tight`` ones,
    in chunks (each its own seed) over ``workers`` processes, or in this one for 1."""
    tasks = [(numbers.GAPS, n) for n in _chunks(plain)] + [(TIGHT_GAPS, n) for n in _chunks(tight)]
    arguments = (
        [digits] * len(tasks),
        [n for _, n in tasks],
        [SEED + i for i in range(len(tasks))],
        [gaps for gaps, _ in tasks],
    )
    if workers <= 1:
        results = list(map(labelled_groups, *arguments))
    else:
        # Spawned, not forked: the parent may hold TensorFlow's threads.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            results = list(pool.map(labelled_groups, *arguments))
    return np.concatenate([r[0] for r in results]), np.concatenate([r[1] for r in results])


def _chunks(total: int) -> list[int]:
    return [min(CHUNK, total - start) for start in range(0, total, CHUNK)]


def train(images: np.ndarray, classes: np.ndarray, epochs: int) -> dict[str, np.ndarray]:
    """Fit the counter (``group_count.LAYERS``) on all but a tenth; print how it reads that
    tenth, per class; return its weights by the names ``shared.group_count`` reads."""
    import keras

    keras.utils.set_random_seed(SEED)
    order = np.random.default_rng(SEED).permutation(len(images))
    x = images[order, ..., None].astype(np.float32) / 255.0
    y = classes[order]
    held = len(x) // 10
    model = counter_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[held:], y[held:], validation_data=(x[:held], y[:held]), epochs=epochs, verbose=2)
    read = model.predict(x[:held], verbose=0).argmax(axis=1)
    for label, name in enumerate(("piece", "one", "several")):
        mine = y[:held] == label
        right = float((read[mine] == label).mean()) if mine.any() else float("nan")
        print(f"held-out {name}: {int(mine.sum())} groups, {right:.2%} read right")
    weights = {}
    for name in group_count.LAYERS:
        kernel, bias = model.get_layer(name).get_weights()
        weights[f"{name}/kernel"], weights[f"{name}/bias"] = kernel, bias
    return weights


def counter_model() -> Any:
    """The counter as Keras builds it (its layers named as ``group_count.LAYERS``)."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            layers.Input((group_count.HEIGHT, group_count.WIDTH, 1)),
            layers.Conv2D(16, 3, activation="relu", padding="same", name="conv1"),
            layers.MaxPooling2D(2),
            layers.Conv2D(32, 3, activation="relu", padding="same", name="conv2"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(64, activation="relu", name="dense"),
            layers.Dropout(0.2),
            layers.Dense(3, activation="softmax", name="out"),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mnist", help="mnist.npz path (default: MNIST_PATH, else keras)")
    parser.add_argument("--models", default="models", help="the shipped models' metrics files")
    parser.add_argument("--numbers", type=int, default=NUMBERS)
    parser.add_argument("--tight", type=int, default=TIGHT_NUMBERS)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", default=str(group_count.WEIGHTS))
    args = parser.parse_args(argv)
    mnist = args.mnist or Settings.from_env(require_redis=False).mnist_path or None
    digits = training_digits(mnist, Path(args.models))
    images, classes = build_set(digits, args.numbers, args.tight, args.workers)
    print(f"{len(images)} groups: {np.bincount(classes, minlength=3).tolist()} piece/one/several")
    weights = train(images, classes, args.epochs)
    # float16: half the file, and the counter's answers move by under 0.002.
    halves: dict[str, Any] = {name: w.astype(np.float16) for name, w in weights.items()}
    np.savez_compressed(args.out, **halves)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
