"""Measure the shipped ``.tflite`` models: ``python -m worker.trainer.tools.evaluate --mnist mnist.npz``.

Prints, per model, MNIST test accuracy and accuracy on canvas-style digits (MNIST test
digits drawn as a browser canvas exports them, then sent through the web's preprocessing),
both counting a refused digit as an error; the worst digits; "not a digit" on held-out
negatives (``worker.trainer.tools.rejection``: refusals overall, of the kinds drawn as by
hand and of the typeset ones, per kind, AUROC against the maximum softmax baseline); the single-image inference time, file size and parameter count; then
reads synthetic numbers (MNIST test digits composed 2 to 6 at a time,
``worker.trainer.tools.numbers``) through web's segmentation: whole-number accuracy, per-digit
accuracy where the count of digits is right, and the count right. Uses LiteRT only, like
the predict worker; fixed seeds make the figures reproducible.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from shared import answers
from shared.names import MODEL_NAMES
from worker.lite_model import LiteModel
from worker.trainer.hershey import FONTS as HERSHEY_FONTS
from worker.trainer.negatives import FONT_FAMILIES, SEEDS, make_negatives
from worker.trainer.tools.accuracy import accuracy_report
from worker.trainer.tools.canvas_style import (
    CANVAS_SIDE,
    DIGIT_HEIGHTS,
    THICKNESS,
    canvas_style_set,
)
from worker.trainer.tools.number_card import number_lines
from worker.trainer.tools.number_scores import number_figures
from worker.trainer.tools.numbers import (
    DEV_SEED,
    NUMBERS_FILE,
    dev_number_set,
    number_set,
    shipped_models,
)
from worker.trainer.tools.pad_figures import evaluate_pad, pad_lines
from worker.trainer.tools.pen_figures import evaluate_pens, pen_lines
from worker.trainer.tools.recorded_figures import ROC_PLOT, record_figures
from worker.trainer.tools.rejection import ROC_FILE, baseline_figures, model_figures
from worker.trainer.tools.tool_paths import mnist_and_models, unipen_of

TIMING_CALLS = 1000
#: Held-out drawings that are not digits (other fonts, another seed than training's).
NEGATIVES = 3000


def ms_per_image(model: LiteModel, digits: np.ndarray, calls: int = TIMING_CALLS) -> float:
    """Median wall time of one single-image ``predict``, as the predict worker calls it."""
    times = []
    for i in range(calls):
        one = digits[i % len(digits)][None]
        started = time.perf_counter()
        model.predict(one)
        times.append(time.perf_counter() - started)
    return float(np.median(times) * 1000)


def worst(per_digit: dict[str, float | None], count: int = 3) -> list[tuple[str, float]]:
    scored = [(d, a) for d, a in per_digit.items() if a is not None]
    return sorted(scored, key=lambda item: item[1])[:count]


def evaluate(
    models_dir: Path,
    mnist_path: str,
    limit: int | None,
    seed: int,
    numbers: int = 0,
    negatives: int = NEGATIVES,
    baseline_dir: Path | None = None,
    unipen: str | None = None,
) -> dict[str, Any]:
    """All the figures, as a JSON-ready dict."""
    with np.load(mnist_path) as data:
        x_test, y_test = data["x_test"][:limit], data["y_test"][:limit].astype(np.int64)
    started = time.perf_counter()
    x_canvas = canvas_style_set(x_test, seed)
    render_seconds = time.perf_counter() - started
    x_negatives, kinds = make_negatives(negatives, "held_out")
    figures = measured_on(mnist_path, len(x_test), seed, render_seconds, kinds)
    models: dict[str, LiteModel] = {}
    thresholds: dict[str, float] = {}
    for name in MODEL_NAMES:
        path = models_dir / f"{name}.tflite"
        if not path.exists():
            continue
        model = LiteModel.from_path(path)
        metrics_path = models_dir / f"{name}.metrics.json"
        trained = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
        threshold = answers.threshold_of(trained)
        models[name], thresholds[name] = model, threshold
        figures["models"][name] = model_measures(
            model, path, trained, threshold, (x_test, y_test, x_canvas), (x_negatives, kinds)
        )
    if baseline_dir is not None:
        figures["baseline"] = {
            name: baseline_figures(old.predict(x_canvas), old.predict(x_negatives))
            for name in MODEL_NAMES
            if (old := _lite(baseline_dir / f"{name}.tflite")) is not None
        }
    if numbers:
        # Numbers from the digits of the set evaluated (MNIST test), composed 2 to 6 at a time.
        figures["numbers"] = number_figures(
            models, thresholds, number_set(x_test, y_test, numbers, seed)
        )
        figures["pad"] = evaluate_pad(models, thresholds, x_test, y_test, numbers, seed)
    if unipen:
        figures["real_pens"] = evaluate_pens(models, thresholds, unipen)
    return figures


def measured_on(
    mnist_path: str, digits: int, seed: int, render_seconds: float, kinds: list[str]
) -> dict[str, Any]:
    """What the figures were measured on, with an empty ``models`` to fill in."""
    return {
        "mnist": Path(mnist_path).name,  # the file, not the folders of this machine
        "digits": digits,
        "seed": seed,
        "canvas_style": {
            "canvas_side": CANVAS_SIDE,
            "digit_heights": DIGIT_HEIGHTS,
            "thickness_mnist_px": THICKNESS,
            "render_seconds": round(render_seconds, 1),
        },
        "negatives": {
            "count": len(kinds),
            "family": "held_out",
            "seed": SEEDS["held_out"],
            "fonts": list(FONT_FAMILIES["held_out"]),
            "hershey_fonts": list(HERSHEY_FONTS["held_out"]),
            "kinds": dict(sorted(Counter(kinds).items())),
        },
        "models": {},
    }


def model_measures(
    model: LiteModel,
    path: Path,
    trained: dict[str, Any],
    threshold: float,
    digits: tuple[np.ndarray, np.ndarray, np.ndarray],
    negatives: tuple[np.ndarray, list[str]],
) -> dict[str, Any]:
    """One model's figures: accuracy on MNIST test digits (``digits``: images, labels and
    their canvas-style renderings), speed, size and "not a digit" on ``negatives``."""
    x_test, y_test, x_canvas = digits
    x_negatives, kinds = negatives
    mnist_out, canvas_out = model.predict(x_test), model.predict(x_canvas)
    mnist = accuracy_report(y_test, answers.predicted_labels(mnist_out, threshold))
    canvas = accuracy_report(y_test, answers.predicted_labels(canvas_out, threshold))
    return {
        "mnist_accuracy": mnist["accuracy"],
        "mnist_per_digit_accuracy": mnist["per_digit_accuracy"],
        "canvas_accuracy": canvas["accuracy"],
        "canvas_per_digit_accuracy": canvas["per_digit_accuracy"],
        "canvas_confusion_matrix": canvas["confusion_matrix"],
        "ms_per_image": round(ms_per_image(model, x_test), 4),
        "tflite_bytes": path.stat().st_size,
        "parameters": trained.get("parameters"),
        **model_figures(
            threshold,
            (mnist_out, y_test),
            (canvas_out, y_test),
            model.predict(x_negatives),
            kinds,
        ),
    }


def _lite(path: Path) -> LiteModel | None:
    return LiteModel.from_path(path) if path.exists() else None


def print_figures(figures: dict[str, Any]) -> None:
    print(f"{figures['digits']} MNIST test digits, canvas-style seed {figures['seed']}")
    for name, m in figures["models"].items():
        parameters = f"{m['parameters']:,}" if m["parameters"] else "?"  # no metrics file
        print(
            f"{name}: MNIST {m['mnist_accuracy']:.2%}  canvas-style {m['canvas_accuracy']:.2%}  "
            f"(a refusal is an error)  {m['ms_per_image']:.3f} ms/image  "
            f"{m['tflite_bytes']:,} bytes  {parameters} parameters"
        )
        for label, key in (("MNIST", "mnist"), ("canvas", "canvas")):
            digits = ", ".join(f"{d}: {a:.2%}" for d, a in worst(m[f"{key}_per_digit_accuracy"]))
            print(f"    worst digits ({label}): {digits}")
        counts = figures["negatives"].get("kinds", {})
        by_kind = ", ".join(
            f"{k} {v:.1%}" + (f" of {counts[k]}" if k in counts else "")
            for k, v in m["negatives_refused_by_kind"].items()
        )
        print(
            f"    not a digit (threshold {m['reject_threshold']:.4g}): held-out negatives refused "
            f"{m['negatives_refused']:.2%} (drawn as by hand {m['hand_drawn_negatives_refused']:.2%}, "
            f"typeset {m['typeset_negatives_refused']:.2%}); digits refused: MNIST "
            f"{m['mnist_digits_refused']:.2%}, canvas-style {m['canvas_digits_refused']:.2%}; "
            f"MNIST accuracy (a refusal is an error) {m['mnist_accuracy_refusal_is_error']:.2%}; "
            f"AUROC {m['auroc']:.4f} (max softmax {m['auroc_max_softmax']:.4f})"
        )
        print(f"    refused by kind: {by_kind}")
    for name, b in figures.get("baseline", {}).items():
        print(f"{name} baseline (10 classes, max softmax): AUROC {b['auroc']:.4f}")
    if "numbers" in figures:
        print("\n".join(number_lines(figures["numbers"])))
    if "pad" in figures:
        print("\n".join(pad_lines(figures["pad"])))
    if "real_pens" in figures:
        print("\n".join(pen_lines(figures["real_pens"])))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m worker.trainer.tools.evaluate", description=__doc__
    )
    parser.add_argument("--models", help="directory of <name>.tflite (default: WEIGHTS_DIR)")
    parser.add_argument("--mnist", help="mnist.npz path (default: MNIST_PATH)")
    parser.add_argument("--limit", type=int, help="use only the first N test digits")
    parser.add_argument("--seed", type=int, default=1234, help="seed of the canvas renderings")
    parser.add_argument("--numbers", type=int, default=1000, help="synthetic numbers to read")
    parser.add_argument("--negatives", type=int, default=NEGATIVES, help="held-out negatives")
    parser.add_argument("--baseline", help="earlier ten-class <name>.tflite: max-softmax ROC")
    pens = "UNIPEN checkout: its development writers (default: UNIPEN_PATH)"
    parser.add_argument("--unipen", help=pens)
    parser.add_argument(
        "--dev",
        type=int,
        nargs="?",
        const=DEV_SEED,
        metavar="SEED",
        help="only the number figures, on numbers of the MNIST training digits the models "
        f"held out (a development set to tune segmentation on; default seed {DEV_SEED})",
    )
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument(
        "--record",
        action="store_true",
        help=f"write <models>/{NUMBERS_FILE}, <models>/{ROC_FILE} and {ROC_PLOT} for the card",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mnist, models_dir = mnist_and_models(args, "evaluate")
    if args.dev is not None:  # never recorded: the card keeps the test set's figures
        numbers = dev_number_set(mnist, models_dir, args.numbers, args.dev)
        print(f"development set: held-out MNIST training digits, seed {args.dev}")
        print("\n".join(number_lines(number_figures(*shipped_models(models_dir), numbers))))
        return 0
    baseline = Path(args.baseline) if args.baseline else None
    figures = evaluate(
        models_dir,
        mnist,
        args.limit,
        args.seed,
        args.numbers,
        args.negatives,
        baseline,
        unipen_of(args),
    )
    print_figures(figures)
    if args.record:
        record_figures(models_dir, figures)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
