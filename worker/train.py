"""Train the shipped models: ``python -m worker.train --model all --mnist mnist.npz``.

Writes ``<name>.keras``, ``<name>.tflite`` and ``<name>.metrics.json`` for each model, and
refreshes ``MODEL_CARD.md``, into ``--out`` (default ``models/``). Test accuracy is measured
on the ``.tflite`` file, since that is what the predict worker serves.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from shared.settings import Settings
from worker.convert import to_tflite
from worker.evaluate import accuracy_report
from worker.inference import LiteModel
from worker.models import BUILDERS
from worker.training import Mnist, load_mnist, train_model

#: The learning rate decays over these; early stopping may end sooner.
DEFAULT_EPOCHS = {"fnn": 25, "cnn": 20}
QUICK_TRAIN, QUICK_TEST = 256, 200
ATTRIBUTION = (
    "MNIST by Yann LeCun and Corinna Cortes (and Christopher J. C. Burges), "
    "http://yann.lecun.com/exdb/mnist/, licensed CC BY-SA 3.0 "
    "(https://creativecommons.org/licenses/by-sa/3.0/)."
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m worker.train", description=__doc__)
    parser.add_argument("--model", choices=["fnn", "cnn", "all"], default="all")
    parser.add_argument("--mnist", help="mnist.npz path (default: MNIST_PATH, else keras)")
    parser.add_argument("--epochs", type=int, help="maximum epochs (default: per model)")
    parser.add_argument("--out", default="models", help="output directory")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--quick", action="store_true", help="seconds on a small sample (tests)")
    return parser.parse_args(argv)


def versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "ai_edge_litert": metadata.version("ai-edge-litert"),
    }


def train_one(name: str, data: Mnist, args: argparse.Namespace, out: Path, command: str) -> dict:
    """Train, save, convert and measure one model; returns its metrics."""
    epochs = args.epochs or (1 if args.quick else DEFAULT_EPOCHS[name])
    model = BUILDERS[name]()
    started = time.perf_counter()
    history = train_model(model, data.x_train, data.y_train, epochs=epochs, seed=args.seed)
    train_seconds = time.perf_counter() - started

    keras_path, tflite_path = out / f"{name}.keras", out / f"{name}.tflite"
    # a fresh, uncompiled copy: no optimizer state (a third of the size); fine-tunes recompile
    shipped = BUILDERS[name]()
    shipped.set_weights(model.get_weights())
    shipped.save(keras_path)
    tflite_path.write_bytes(to_tflite(shipped))

    probabilities = LiteModel.from_path(tflite_path).predict(data.x_test)
    report = accuracy_report(data.y_test, probabilities.argmax(axis=1))
    metrics = {
        "model": name,
        "data": {
            "name": "MNIST" + (" (quick sample)" if args.quick else ""),
            "source": args.mnist or "keras.datasets.mnist",
            "train_digits": int(len(data.x_train)),
            "test_digits": int(len(data.x_test)),
            "license": ATTRIBUTION,
        },
        "epochs_max": epochs,
        "epochs_run": len(history.history["loss"]),
        "train_seconds": round(train_seconds, 1),
        "val_accuracy": round(float(max(history.history["val_accuracy"])), 5),
        "test_accuracy_tflite": report["accuracy"],
        "per_digit_accuracy": report["per_digit_accuracy"],
        "confusion_matrix": report["confusion_matrix"],
        "command": command,
        "versions": versions(),
        "seed": args.seed,
        "parameters": int(model.count_params()),
        "file_bytes": {
            "keras": keras_path.stat().st_size,
            "tflite": tflite_path.stat().st_size,
        },
        "trained_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
    }
    (out / f"{name}.metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def model_card(out: Path) -> str:
    """MODEL_CARD.md from whichever metrics files are in ``out``."""
    lines = [
        "# Digits models",
        "",
        "Two networks read a 28x28 grey digit (white on black, pixel / 255, float32 "
        "`(n, 28, 28, 1)`) and return softmax probabilities `(n, 10)`. The `.tflite` files "
        "(LiteRT, float32, dynamic batch) are what the predict worker serves; the `.keras` "
        "files are the starting point of fine-tunes. Written by `python -m worker.train`.",
        "",
        "## Data",
        "",
        ATTRIBUTION,
        "",
        "60,000 training digits (10 % held out for validation), 10,000 test digits. Training "
        "augments the digits to look like canvas drawings (pen thickness, rotation, scale, "
        "aspect, shear, shift, elastic wobble), then normalises them with the same MNIST recipe "
        "as `shared.imaging` (crop, fit 20 px, centre by mass).",
        "",
        "## Models",
        "",
        "| model | architecture | parameters | epochs run | MNIST test accuracy (tflite) "
        "| tflite bytes | trained at |",
        "|---|---|---|---|---|---|---|",
    ]
    architecture = {
        "fnn": "Flatten, 2 x (Dense 800 relu, Dropout 0.3), Dense 10 softmax",
        "cnn": "2 x [2 x (Conv 3x3, BatchNorm, relu), MaxPool 2] with 32 then 64 filters, "
        "Dropout 0.4, Dense 128 relu, Dropout 0.4, Dense 10 softmax",
    }
    commands = []
    for name in BUILDERS:
        path = out / f"{name}.metrics.json"
        if not path.exists():
            continue
        m = json.loads(path.read_text())
        lines.append(
            f"| {name} | {architecture[name]} | {m['parameters']:,} | {m['epochs_run']} "
            f"| {m['test_accuracy_tflite']:.2%} | {m['file_bytes']['tflite']:,} "
            f"| {m['trained_at']} |"
        )
        libraries = ", ".join(f"{lib} {version}" for lib, version in m["versions"].items())
        commands.append(f"{m['command']}  # {name}: seed {m['seed']}; {libraries}")
    lines += ["", "## How they were made", "", "```", *commands, "```", ""]
    lines += [
        "Per-digit accuracy and the confusion matrix are in `<name>.metrics.json`; "
        "`python -m worker.evaluate` re-measures them and the canvas-style accuracy.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.mnist:
        args.mnist = Settings.from_env(require_redis=False).mnist_path or None
    command = shlex.join(
        ["python", "-m", "worker.train", *(sys.argv[1:] if argv is None else argv)]
    )
    data = load_mnist(args.mnist)
    if args.quick:
        data = Mnist(
            data.x_train[:QUICK_TRAIN],
            data.y_train[:QUICK_TRAIN],
            data.x_test[:QUICK_TEST],
            data.y_test[:QUICK_TEST],
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = list(BUILDERS) if args.model == "all" else [args.model]
    for name in names:
        metrics = train_one(name, data, args, out, command)
        print(
            f"{name}: {metrics['epochs_run']} epochs in {metrics['train_seconds']} s, "
            f"MNIST test accuracy (tflite) {metrics['test_accuracy_tflite']:.2%}",
            flush=True,
        )
    (out / "MODEL_CARD.md").write_text(model_card(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
