"""Measure the shipped ``.tflite`` models: ``python -m worker.trainer.evaluate --mnist mnist.npz``.

Prints, per model, MNIST test accuracy, accuracy on canvas-style digits (MNIST test digits
drawn as a browser canvas exports them, then sent through the web's preprocessing), the
worst digits, the single-image inference time, file size and parameter count; then reads
synthetic numbers (MNIST test digits composed 2 to 6 at a time, ``worker.trainer.numbers``)
through web's segmentation: whole-number accuracy, per-digit accuracy where the count of
digits is right, and the count right. Uses LiteRT
only, like the predict worker; a fixed seed makes the figures reproducible.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from shared.imaging import ink_canvas_png, preprocess_png
from shared.names import MODEL_NAMES
from shared.settings import Settings
from worker.predict.inference import LiteModel
from worker.trainer.numbers import NUMBERS_FILE, number_figures, number_set

CANVAS_SIDE = 280
#: Side of the rendered 28x28 box on the canvas (the ink is about 20/28 of it).
DIGIT_HEIGHTS = (120, 260)
#: Stroke growth in MNIST pixels: negative thins the pen, positive thickens it.
THICKNESS = (-0.4, 1.0)
TIMING_CALLS = 1000


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Rows are true digits, columns predicted digits."""
    matrix = np.zeros((10, 10), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels), np.asarray(predicted)), 1)
    return matrix


def accuracy_report(labels: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """Overall and per-digit accuracy plus the confusion matrix, as JSON-ready values."""
    matrix = confusion_matrix(labels, predicted)
    totals = matrix.sum(axis=1)
    per_digit = {
        str(d): round(float(matrix[d, d] / totals[d]), 5) if totals[d] else None for d in range(10)
    }
    return {
        "accuracy": round(float((np.asarray(labels) == predicted).mean()), 5),
        "per_digit_accuracy": per_digit,
        "confusion_matrix": matrix.tolist(),
    }


def render_canvas_style(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """One MNIST digit as a canvas PNG: random size, place and pen width, dark opaque ink.

    Like ``shared.imaging.render_canvas_png`` but with a pen: strokes are made solid (a
    canvas stroke is opaque with anti-aliased edges) and grown or thinned.
    """
    height = int(rng.integers(DIGIT_HEIGHTS[0], DIGIT_HEIGHTS[1] + 1))
    scale = height / 28
    grow = float(rng.uniform(*THICKNESS))
    radius = int(round(abs(grow) * scale))
    scaled = Image.fromarray(np.asarray(digit, dtype=np.uint8)).resize(
        (height, height), Image.Resampling.BICUBIC
    )
    ink = np.asarray(scaled, dtype=np.float32)
    ink = np.clip((ink - 60.0) * (255.0 / 100.0), 0, 255).astype(np.uint8)  # solid strokes
    pen = Image.fromarray(ink)
    if grow > 0 and radius:
        pen = pen.crop((-radius, -radius, height + radius, height + radius))  # room to grow
    rank = ImageFilter.MaxFilter(3) if grow > 0 else ImageFilter.MinFilter(3)
    for _ in range(radius):
        pen = pen.filter(rank)
    side = max(pen.size)
    room = max(CANVAS_SIDE - side, 0)
    x, y = (int(v) for v in rng.integers(0, room + 1, size=2))
    alpha = Image.new("L", (CANVAS_SIDE, CANVAS_SIDE), 0)
    alpha.paste(pen, (x, y))
    shade = int(rng.integers(0, 60))
    return ink_canvas_png(alpha, shade)


def canvas_style_set(digits: np.ndarray, seed: int) -> np.ndarray:
    """The 28x28 images the models see for canvas renderings of ``digits``."""
    rng = np.random.default_rng(seed)
    return np.stack([preprocess_png(render_canvas_style(d, rng)) for d in digits])


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
    models_dir: Path, mnist_path: str, limit: int | None, seed: int, numbers: int = 0
) -> dict[str, Any]:
    """All the figures, as a JSON-ready dict."""
    with np.load(mnist_path) as data:
        x_test, y_test = data["x_test"][:limit], data["y_test"][:limit].astype(np.int64)
    started = time.perf_counter()
    x_canvas = canvas_style_set(x_test, seed)
    render_seconds = time.perf_counter() - started
    figures: dict[str, Any] = {
        "mnist": mnist_path,
        "digits": int(len(x_test)),
        "seed": seed,
        "canvas_style": {
            "canvas_side": CANVAS_SIDE,
            "digit_heights": DIGIT_HEIGHTS,
            "thickness_mnist_px": THICKNESS,
            "render_seconds": round(render_seconds, 1),
        },
        "models": {},
    }
    models: dict[str, LiteModel] = {}
    for name in MODEL_NAMES:
        path = models_dir / f"{name}.tflite"
        if not path.exists():
            continue
        model = LiteModel.from_path(path)
        metrics_path = models_dir / f"{name}.metrics.json"
        trained = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
        mnist = accuracy_report(y_test, model.predict(x_test).argmax(axis=1))
        canvas = accuracy_report(y_test, model.predict(x_canvas).argmax(axis=1))
        models[name] = model
        figures["models"][name] = {
            "mnist_accuracy": mnist["accuracy"],
            "mnist_per_digit_accuracy": mnist["per_digit_accuracy"],
            "canvas_accuracy": canvas["accuracy"],
            "canvas_per_digit_accuracy": canvas["per_digit_accuracy"],
            "canvas_confusion_matrix": canvas["confusion_matrix"],
            "ms_per_image": round(ms_per_image(model, x_test), 4),
            "tflite_bytes": path.stat().st_size,
            "parameters": trained.get("parameters"),
        }
    if numbers:
        # Numbers from the digits of the set evaluated (MNIST test), composed 2 to 6 at a time.
        figures["numbers"] = number_figures(models, number_set(x_test, y_test, numbers, seed))
    return figures


def print_figures(figures: dict[str, Any]) -> None:
    print(f"{figures['digits']} MNIST test digits, canvas-style seed {figures['seed']}")
    for name, m in figures["models"].items():
        parameters = f"{m['parameters']:,}" if m["parameters"] else "?"  # no metrics file
        print(
            f"{name}: MNIST {m['mnist_accuracy']:.2%}  canvas-style {m['canvas_accuracy']:.2%}  "
            f"{m['ms_per_image']:.3f} ms/image  {m['tflite_bytes']:,} bytes  "
            f"{parameters} parameters"
        )
        for label, key in (("MNIST", "mnist"), ("canvas", "canvas")):
            digits = ", ".join(f"{d}: {a:.2%}" for d, a in worst(m[f"{key}_per_digit_accuracy"]))
            print(f"    worst digits ({label}): {digits}")
    if "numbers" in figures:
        n = figures["numbers"]
        print(
            f"{n['numbers']} synthetic numbers of 2-6 digits: count of digits right "
            f"{n['count_accuracy']:.2%}"
        )
        for name, m in n["models"].items():
            print(
                f"{name}: whole number {m['whole_number_accuracy']:.2%}  per digit where the "
                f"count is right {m['digit_accuracy_where_count_right']:.2%}"
            )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m worker.trainer.evaluate", description=__doc__)
    parser.add_argument("--models", help="directory of <name>.tflite (default: WEIGHTS_DIR)")
    parser.add_argument("--mnist", help="mnist.npz path (default: MNIST_PATH)")
    parser.add_argument("--limit", type=int, help="use only the first N test digits")
    parser.add_argument("--seed", type=int, default=1234, help="seed of the canvas renderings")
    parser.add_argument("--numbers", type=int, default=1000, help="synthetic numbers to read")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument(
        "--record",
        action="store_true",
        help=f"write the number figures to <models>/{NUMBERS_FILE} for the model card",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings.from_env(require_redis=False)
    mnist = args.mnist or settings.mnist_path
    if not mnist:
        raise SystemExit("give --mnist PATH or set MNIST_PATH (evaluate does not download)")
    models_dir = Path(args.models or settings.weights_dir)
    figures = evaluate(models_dir, mnist, args.limit, args.seed, args.numbers)
    print_figures(figures)
    if args.record and "numbers" in figures:
        (models_dir / NUMBERS_FILE).write_text(json.dumps(figures["numbers"], indent=2) + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
