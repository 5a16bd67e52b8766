"""Make the shipped models and the replay set: ``python -m worker.trainer.tools.make_models``.

``train --model all --mnist mnist.npz`` writes ``<name>.keras``, ``<name>.tflite`` and
``<name>.metrics.json`` for each model and refreshes ``MODEL_CARD.md`` in ``--out``
(default ``models/``); test accuracy is measured on the ``.tflite`` file, since that is
what the predict worker serves. ``replay-set --mnist mnist.npz`` writes the small MNIST
sample shipped beside the weights, which fine-tunes replay and gate on. ``card`` rewrites
``MODEL_CARD.md`` from the metrics and experiment files already in ``--out``. ``convert
--mnist mnist.npz`` converts the ``.keras`` files in ``--out`` again (after a change to
``worker.trainer.conversion``) and measures the new ``.tflite`` files, without training.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import keras
import numpy as np

from shared import answers
from shared.settings import Settings
from worker.trainer.builders import BUILDERS, DEFAULT_EPOCHS
from worker.trainer.conversion import to_tflite
from worker.trainer.mnist import (
    REPLAY_FILE,
    Mnist,
    load_mnist,
)
from worker.trainer.negatives import make_negatives
from worker.trainer.rounds import MNIST_HOLDOUT
from worker.trainer.tools import replay_set
from worker.trainer.tools.model_card import model_card
from worker.trainer.tools.number_parts import MODELS as PARTS_MODELS
from worker.trainer.tools.number_parts import number_parts
from worker.trainer.tools.real_pens import PEN_NEGATIVES, training_pens
from worker.trainer.tools.shipped_metrics import (
    command_line,
    data_record,
    served_figures,
    start_record,
    start_weights,
    versions,
)
from worker.trainer.tools.traced_digits import traced_images
from worker.trainer.training import train_model, validation_digits

PROG = "python -m worker.trainer.tools.make_models"
Fitted = tuple[np.ndarray, np.ndarray]
QUICK_TRAIN, QUICK_TEST = 256, 200
#: Drawings that are not digits trained on beside MNIST's 60,000 (about two digit classes).
NEGATIVES, QUICK_NEGATIVES = 12_000, 64
#: Numbers whose parts the CNN may also fit (``number_parts``: 6,000 give about 50,000
#: images). Off: the shipped CNN did not learn from them (docs/history.md, "Tried and not kept").
NUMBER_PARTS = 0
#: Continuing the shipped weights (``--start``): a few epochs at a lower rate.
START_EPOCHS = {"fnn": 8, "cnn": 5}
START_LEARNING_RATE = 3e-4
#: Seed of ``--more-negatives`` (the training family's is 7, the replay set's 8 and 9).
MORE_SEED = 10


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train the shipped models")
    train.add_argument("--model", choices=["fnn", "cnn", "all"], default="all")
    train.add_argument("--mnist", help="mnist.npz path (default: MNIST_PATH, else keras)")
    train.add_argument("--epochs", type=int, help="maximum epochs (default: per model)")
    train.add_argument("--out", default="models", help="output directory")
    train.add_argument("--seed", type=int, default=42)
    train.add_argument("--quick", action="store_true", help="seconds on a small sample (tests)")
    train.add_argument("--negatives", type=int, help=f"not-a-digit drawings (default {NEGATIVES})")
    train.add_argument(
        "--start",
        help="continue training these weights: a <name>.keras file or a folder of them "
        f"(default epochs {START_EPOCHS}, learning rate {START_LEARNING_RATE})",
    )
    train.add_argument("--learning-rate", type=float, help="initial rate of the cosine decay")
    more = "negatives fitted only, never validated on (another seed; a --start keeps its split)"
    train.add_argument("--more-negatives", type=int, default=0, help=more)
    train.add_argument("--more-seed", type=int, default=MORE_SEED, help="their seed")
    train.add_argument("--unipen", help="UNIPEN checkout: fit its training writers' digits")
    train.add_argument("--pen-times", type=int, default=2, help="drawings of each pen digit")
    train.add_argument("--pen-negatives", type=int, default=PEN_NEGATIVES, help="pen letters")
    forms = "drawings of each pen 0, 1 and 7 in a form MNIST hardly has (worker.trainer.pen_forms)"
    train.add_argument("--pen-forms", type=int, default=0, help=forms)
    traced = "MNIST training digits (fitted ones only) traced and redrawn with the page's pen"
    train.add_argument("--traced", type=int, default=0, help=traced)
    train.add_argument(
        "--number-parts",
        type=int,
        default=NUMBER_PARTS,
        help=f"numbers to cut parts from for the CNN (default {NUMBER_PARTS})",
    )
    replay = commands.add_parser("replay-set", help=f"write the {REPLAY_FILE} shipped beside them")
    replay_set.add_arguments(replay, MNIST_HOLDOUT)
    convert = commands.add_parser(
        "convert", help="convert the .keras files in --out again and measure them, untrained"
    )
    convert.add_argument("--model", choices=["fnn", "cnn", "all"], default="all")
    convert.add_argument("--mnist", help="mnist.npz path (default: MNIST_PATH, else keras)")
    convert.add_argument("--out", default="models", help="directory of the shipped models")
    card = commands.add_parser("card", help="rewrite MODEL_CARD.md from the files in --out")
    card.add_argument("--out", default="models", help="directory of the metrics files")
    return parser.parse_args(argv)


def save(name: str, model: keras.Model, out: Path) -> tuple[Path, Path]:
    """A fresh, uncompiled copy as .keras (no optimizer state: a third of the size) and .tflite."""
    keras_path, tflite_path = out / f"{name}.keras", out / f"{name}.tflite"
    shipped = BUILDERS[name]()
    shipped.set_weights(model.get_weights())
    shipped.save(keras_path)
    tflite_path.write_bytes(to_tflite(shipped))
    return keras_path, tflite_path


def with_negatives(data: Mnist, negatives: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MNIST's training digits and the negatives, labelled ``answers.NOT_DIGIT``."""
    x = np.concatenate([data.x_train, negatives])
    y = np.concatenate([data.y_train, np.full(len(negatives), answers.NOT_DIGIT, np.int64)])
    return x, y


def fitted_digits(data: Mnist, negatives: int, seed: int) -> Fitted:
    """The training digits (and labels) a model trained with ``negatives`` and ``seed``
    fits: what number parts and traced digits are made of, so its validation digits, on
    which its threshold is chosen, never appear in them."""
    fitted = ~validation_digits(len(data.x_train), negatives, seed)
    return data.x_train[fitted], data.y_train[fitted]


def parts_to_fit(
    data: Mnist, negatives: int, numbers: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The parts of ``numbers`` numbers composed of the training digits a model trained
    with ``seed`` fits (``number_parts``, ``fitted_digits``)."""
    return number_parts(*fitted_digits(data, negatives, seed), numbers)


def traced_to_fit(
    data: Mnist, negatives: int, count: int, seed: int
) -> tuple[Fitted | None, dict[str, Any] | None]:
    """``--traced``: ``count`` of the training digits a model trained with ``seed`` fits,
    redrawn with the page's pen (``traced_digits``), and their record; nothing for 0."""
    if not count:
        return None, None
    return traced_images(*fitted_digits(data, negatives, seed), count)


def fit_also(parts: Fitted | None, more: np.ndarray | None, *drawn: Fitted | None) -> Fitted | None:
    """What a model fits beside its split: number parts, ``--more-negatives``, and what is
    drawn as the page draws (``--unipen``, ``--traced``)."""
    labelled = None if more is None else (more, np.full(len(more), answers.NOT_DIGIT))
    present = [s for s in (parts, labelled, *drawn) if s is not None]
    if not present:
        return None
    return np.vstack([s[0] for s in present]), np.hstack([s[1] for s in present])


def train_one(
    name: str,
    data: Mnist,
    negatives: tuple[np.ndarray, list[str]],
    parts: tuple[np.ndarray, np.ndarray] | None,
    args: argparse.Namespace,
    command: str,
) -> dict[str, Any]:
    """Train, save, convert and measure one model; returns its metrics.

    ``negatives``: the drawings and their kinds; ``parts``: the number parts this model
    also fits (``parts_to_fit``), or None.
    """
    out = Path(args.out)
    x_negatives, kinds = negatives
    weights = start_weights(args.start, name) if args.start else None
    start = start_record(weights, len(x_negatives), args.seed) if weights else None
    epochs = args.epochs or (1 if args.quick else (START_EPOCHS if start else DEFAULT_EPOCHS)[name])
    rate = args.learning_rate or (START_LEARNING_RATE if start else 1e-3)
    model = BUILDERS[name]()
    if weights:
        model.set_weights(keras.saving.load_model(weights, compile=False).get_weights())
    x, y = with_negatives(data, x_negatives)
    started = time.perf_counter()
    history = train_model(
        model, x, y, epochs=epochs, seed=args.seed, fit_only=parts, learning_rate=rate
    )
    train_seconds = time.perf_counter() - started
    keras_path, tflite_path = save(name, model, out)
    metrics = {
        "model": name,
        "data": data_record(data, kinds, parts, args),
        "start": start,
        "learning_rate": rate,
        "epochs_max": epochs,
        "epochs_run": len(history.history["loss"]),
        "train_seconds": round(train_seconds, 1),
        "val_accuracy": round(float(max(history.history["val_accuracy"])), 5),
        **served_figures(name, tflite_path, data, x, y, args.seed),
        "command": command,
        "versions": versions(),
        "seed": args.seed,
        "parameters": int(model.count_params()),
        "file_bytes": {"keras": keras_path.stat().st_size, "tflite": tflite_path.stat().st_size},
        "trained_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
    }
    (out / f"{name}.metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def report(head: str, metrics: dict[str, Any]) -> None:
    print(
        f"{head}, MNIST test accuracy (tflite, a refusal is an error) "
        f"{metrics['test_accuracy_tflite']:.2%}, refused {metrics['test_digits_refused']:.2%}, "
        f"threshold {metrics['reject_threshold']:.4g}",
        flush=True,
    )


def convert(args: argparse.Namespace, command: str) -> None:
    """Convert the shipped ``.keras`` files again and re-measure them; training is kept."""
    data = load_mnist(args.mnist)
    out = Path(args.out)
    for name in list(BUILDERS) if args.model == "all" else [args.model]:
        path = out / f"{name}.metrics.json"
        metrics = json.loads(path.read_text())
        negatives, _ = make_negatives(int(metrics["data"]["negatives"]), "training")
        x, y = with_negatives(data, negatives)
        model = keras.saving.load_model(out / f"{name}.keras", compile=False)
        tflite_path = out / f"{name}.tflite"
        tflite_path.write_bytes(to_tflite(model))
        metrics.update(served_figures(name, tflite_path, data, x, y, int(metrics["seed"])))
        metrics["file_bytes"]["tflite"] = tflite_path.stat().st_size
        metrics["converted"] = {
            "command": command,
            "versions": versions(),
            "at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        }
        path.write_text(json.dumps(metrics, indent=2) + "\n")
        report(f"{name}: {tflite_path.stat().st_size:,} bytes", metrics)
    (out / "MODEL_CARD.md").write_text(model_card(out))


#: The command line as the metrics and the card record it (paths cut to their names).
recorded_command = partial(command_line, PROG)


def train(args: argparse.Namespace, command: str) -> None:
    data = load_mnist(args.mnist)
    if args.quick:
        sizes = (QUICK_TRAIN, QUICK_TRAIN, QUICK_TEST, QUICK_TEST)
        data = Mnist(*(a[:n] for a, n in zip(vars(data).values(), sizes, strict=True)))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    default = QUICK_NEGATIVES if args.quick else NEGATIVES
    negatives = make_negatives(default if args.negatives is None else args.negatives, "training")
    names = list(BUILDERS) if args.model == "all" else [args.model]
    learners = {name for name in names if name in PARTS_MODELS and args.number_parts > 0}
    parts = (
        parts_to_fit(data, len(negatives[0]), args.number_parts, args.seed) if learners else None
    )
    more = make_negatives(n, "training", args.more_seed)[0] if (n := args.more_negatives) else None
    pens, args.real_pens = training_pens(
        args.unipen, args.pen_times, args.pen_negatives, args.pen_forms
    )
    traced, args.traced_digits = traced_to_fit(data, len(negatives[0]), args.traced, args.seed)
    for name in names:
        mine = fit_also(parts if name in learners else None, more, pens, traced)
        metrics = train_one(name, data, negatives, mine, args, command)
        report(f"{name}: {metrics['epochs_run']} epochs in {metrics['train_seconds']} s", metrics)
    (out / "MODEL_CARD.md").write_text(model_card(out))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "card":
        Path(args.out, "MODEL_CARD.md").write_text(model_card(Path(args.out)))
        return 0
    if not args.mnist:
        args.mnist = Settings.from_env(require_redis=False).mnist_path or None
    if args.command == "replay-set":
        replay_set.write(args)
        return 0
    command = recorded_command(sys.argv[1:] if argv is None else argv)
    (convert if args.command == "convert" else train)(args, command)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
