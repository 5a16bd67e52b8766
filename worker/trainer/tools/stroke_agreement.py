"""Read the same drawings from their strokes and from their PNG, and compare.

``OPENBLAS_NUM_THREADS=1 python -m worker.trainer.tools.stroke_agreement --mnist mnist.npz
[--dev]`` (one BLAS thread, as web runs: ``web/gunicorn_conf.py``; with more, the group
counter's matrix products spin threads that the CPU time counts)

The drawings (``stroke_sets``: MNIST digits traced into strokes, drawn as the page draws
them) go through web's two readings: the PNG through ``shared.canvas`` (decode, the MNIST
recipe, segmentation), the strokes through ``shared.stroke_canvas``; where the strokes send
web back to the PNG, the PNG's reading counts for both. Both canvases go to the shipped
LiteRT models, and ``shared.number_reading.read`` picks the images, as in the predict
worker. Printed per set (single digits, numbers of 2 to 6 digits, numbers whose digits
touch): each reading's whole-number accuracy and how often the two agree (for single
digits also on the whole canvas as one digit); the accuracy with each digit's own strokes
read apart (the ceiling any segmentation reaches with these models on traced digits); how
often the strokes' digits are exactly the drawn ones; the accuracies on the numbers whose
digits the CNN reads right one by one; and the CPU each reading takes per canvas
(``time.process_time``, the two run in turn on each drawing; web's other work per request,
the JSON and the PNG's header, is the same for both and not counted). MNIST's test digits
by default; ``--dev`` for the training digits the models held out, to tune on.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from shared import answers, number_reading
from shared.canvas import Canvas, preprocess_canvas_png
from shared.errors import DigitsError
from shared.imaging import MAX_DIGITS
from shared.stroke_canvas import stroke_canvas
from shared.stroke_render import PEN_RATIO, mnist_image, prepared
from worker.lite_model import LiteModel
from worker.trainer.tools.accuracy import share
from worker.trainer.tools.numbers import canvas_reading, shipped_models
from worker.trainer.tools.stroke_sets import Drawing, stroke_sets
from worker.trainer.tools.tool_paths import mnist_and_models

T = TypeVar("T")
#: A canvas and, for each image, the strokes it was drawn from (None: the PNG's reading).
Read = tuple[Canvas, list[list[int]] | None]


def pixel_reading(drawing: Drawing) -> Read:
    """The PNG read as web reads it today (``readable``, as web asks)."""
    return preprocess_canvas_png(drawing.png, 4096, MAX_DIGITS, None, True), None


def stroke_reading(drawing: Drawing) -> Read | None:
    """The strokes read; None where they send web back to the PNG."""
    return stroke_canvas(drawing.strokes, drawing.width, drawing.height, MAX_DIGITS, True)


def own_strokes_reading(drawing: Drawing) -> Read:
    """Each digit drawn from its own strokes: segmentation that is never wrong."""
    pen = drawing.height * PEN_RATIO
    drawn = prepared(drawing.strokes, pen)
    images = [mnist_image(drawn, pen)]
    images += [mnist_image([drawn[i] for i in digit], pen) for digit in drawing.digits]
    readings = [[[k + 1]] for k in range(len(drawing.digits))]
    return Canvas(images, [(0, 0, 0, 0)] * len(images), readings), None


def timed(read: Callable[[Drawing], T], drawing: Drawing) -> tuple[T | DigitsError, float]:
    """``read(drawing)``, or the error web refuses the drawing with; and its CPU ms."""
    started = time.process_time()
    try:
        value: T | DigitsError = read(drawing)
    except DigitsError as refused:
        value = refused
    return value, (time.process_time() - started) * 1000


def texts(
    models: dict[str, LiteModel], thresholds: dict[str, float], read: Read | DigitsError
) -> dict[str, Any]:
    """Each model's reading of the number (``?`` for a part it refuses), both models'
    (``both``: the API's text, ``shared.number_reading.part_digit``), of the whole canvas
    as one digit (``<model>_whole``), and the strokes of each digit chosen; nothing for a
    drawing web refuses."""
    if isinstance(read, DigitsError):
        return {}
    canvas, sources = read
    reading = canvas_reading(models, thresholds, canvas)
    chosen = reading.chosen
    found: dict[str, Any] = {"strokes": [sorted(sources[i]) for i in chosen] if sources else None}
    for name, output in reading.outputs.items():
        labels = answers.predicted_labels(output, thresholds[name]).tolist()
        digits = [None if label == answers.NOT_DIGIT else label for label in labels]
        found[name] = number_reading.text([digits[i] for i in chosen])
        found[f"{name}_whole"] = number_reading.text(digits[:1])
    found["both"] = reading.text()
    found["both_whole"] = number_reading.number_text([reading.canvas])
    return found


def compare(
    models: dict[str, LiteModel], thresholds: dict[str, float], drawings: list[Drawing]
) -> dict[str, Any]:
    """Both readings of ``drawings``, and the digits read apart: see the module's doc."""
    pixel_ms, stroke_ms, read_p, read_s, read_o = [], [], [], [], []
    fell_back = refused = 0
    for drawing in drawings:
        pixels, ms = timed(pixel_reading, drawing)
        pixel_ms.append(ms)
        strokes, ms = timed(stroke_reading, drawing)
        stroke_ms.append(ms)
        read_p.append(texts(models, thresholds, pixels))
        fell_back += strokes is None
        refused += isinstance(strokes, DigitsError)
        read_s.append(read_p[-1] if strokes is None else texts(models, thresholds, strokes))
        read_o.append(texts(models, thresholds, own_strokes_reading(drawing)))
    truth = [d.text for d in drawings]
    figures: dict[str, Any] = {
        "drawings": len(drawings),
        "touching": sum(d.touching for d in drawings),
        "fell_back_to_png": fell_back,
        "refused": {
            "pixel": sum(not r for r in read_p),
            "stroke": refused,
        },
        "strokes_parted_as_drawn": share(
            [r.get("strokes") == d.digits for r, d in zip(read_s, drawings, strict=True)]
        ),
    }
    for name in (*models, "both"):
        figures[name] = _model_figures(name, truth, read_p, read_s, read_o)
    figures["cpu_ms_per_canvas"] = {"pixel": _spread(pixel_ms), "stroke": _spread(stroke_ms)}
    return figures


def _model_figures(
    name: str, truth: list[str], read_p: list[dict], read_s: list[dict], read_o: list[dict]
) -> dict[str, Any]:
    """One model's accuracies and agreement; and on the numbers whose digits it reads
    right one by one (``readable``), both readings' accuracy."""
    p = np.array([r.get(name) == t for r, t in zip(read_p, truth, strict=True)], dtype=bool)
    s = np.array([r.get(name) == t for r, t in zip(read_s, truth, strict=True)], dtype=bool)
    readable = np.array([r.get(name) == t for r, t in zip(read_o, truth, strict=True)], dtype=bool)
    whole = f"{name}_whole"
    pairs = list(zip(read_p, read_s, strict=True))
    return {
        "pixel_accuracy": share(p),
        "stroke_accuracy": share(s),
        "agreement": share(np.array([a.get(name) == b.get(name) for a, b in pairs])),
        "whole_canvas_agreement": share(np.array([a.get(whole) == b.get(whole) for a, b in pairs])),
        "stroke_only_right": int((s & ~p).sum()),
        "pixel_only_right": int((p & ~s).sum()),
        "digits_apart_accuracy": share(readable),
        "readable_numbers": int(readable.sum()),
        "pixel_accuracy_readable": share(p[readable]),
        "stroke_accuracy_readable": share(s[readable]),
    }


def _spread(ms: list[float]) -> dict[str, float]:
    return {
        "mean": round(float(np.mean(ms)), 3),
        "median": round(float(np.median(ms)), 3),
        "p99": round(float(np.percentile(ms, 99)), 3),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", help="mnist.npz (default: MNIST_PATH)")
    parser.add_argument("--models", help="the .tflite models (default: WEIGHTS_DIR, models/)")
    parser.add_argument("--dev", action="store_true", help="held-out training digits, to tune on")
    parser.add_argument("--singles", type=int, default=2000)
    parser.add_argument("--numbers", type=int, default=500)
    parser.add_argument("--touching", type=int, default=300)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mnist, models_dir = mnist_and_models(args, "stroke_agreement")
    started = time.perf_counter()
    sets = stroke_sets(mnist, models_dir, args.dev, args.singles, args.numbers, args.touching)
    made = time.perf_counter() - started
    models, thresholds = shipped_models(models_dir)
    report: dict[str, Any] = {
        "digits": "held-out MNIST training digits (--dev)" if args.dev else "MNIST test digits",
        "seconds_to_draw_the_sets": round(made, 1),
    }
    for name, drawings in sets.items():
        report[name] = compare(models, thresholds, drawings)
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
