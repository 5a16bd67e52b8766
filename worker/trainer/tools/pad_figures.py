"""Not a number, measured where people draw: pad drawings that are not numbers, and real ones.

Reads drawings of ``pad_drawings`` (words, shapes side by side, long arrows, waves, a big
letter, plus signs, question marks) and numbers of 2-6 MNIST digits (``numbers``) as web
and the predict worker read them, through the one rule (``shared.number_reading.is_number``)
with the pair of models given. Figures: drawings answered "not a number" (a canvas web
refuses outright counts as not read as a number), by kind; real numbers refused (answered
"not a number", or refused by web); whole numbers read right (the API's text, both models').

The rule's threshold is chosen on a development set and reported on a held-out one::

    python -m worker.trainer.tools.pad_figures --mnist mnist.npz --dev   # choose on this
    python -m worker.trainer.tools.pad_figures --mnist mnist.npz         # report

``--dev``: the ``dev`` family of drawings, numbers of the MNIST training digits every shipped
model held out, and the figures at other thresholds beside the rule's. The report: the
``held_out`` family (other fonts, other drawers, another seed) and MNIST test digits, the
numbers ``make evaluate`` reads.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shared import number_reading
from worker.lite_model import LiteModel
from worker.trainer.tools.accuracy import share
from worker.trainer.tools.numbers import (
    DEV_SEED,
    CanvasReading,
    Number,
    dev_number_set,
    number_set,
    read_canvas,
    shipped_models,
)
from worker.trainer.tools.pad_drawings import PadDrawing, pad_drawings
from worker.trainer.tools.tool_paths import mnist_and_models

#: The development set's sizes; the report reads as many drawings as numbers.
DEV_DRAWINGS = DEV_NUMBERS = 1500
#: The bars for a drawing read in parts that the development set is also read at, beside
#: the rule's (``number_reading.NUMBER_SURE``; a canvas both models read as a digit is a
#: number whatever the bar): none (every drawing web reads is a number), then around it.
SWEEP: tuple[float, ...] = (0.0, 0.5, 0.55, 0.6, 0.65, 0.667, 0.7, 0.75, 0.8)
#: What issue 39 asks: drawings "not a number", numbers of 2-6 digits refused, and right.
TARGETS = {"not_a_number": 0.95, "numbers_refused": 0.01, "whole_number_accuracy": 0.95}


def read_numbers(
    sure: float, numbers: list[Number], written: list[CanvasReading | None]
) -> dict[str, Any]:
    """Numbers (or single digits) with the rule at ``sure``: refused (answered "not a
    number", or by web), and read right (the API's text, not refused)."""
    refused = [r is None or not r.is_number(sure) for r in written]
    right = [
        r is not None and r.is_number(sure) and r.text() == number.text
        for r, number in zip(written, numbers, strict=True)
    ]
    return {
        "count": len(numbers),
        "refused": share(refused),
        "web_refused": sum(r is None for r in written),
        "right": share(right),
    }


def figures_at(
    sure: float,
    drawings: list[PadDrawing],
    drawn: list[CanvasReading | None],
    numbers: list[Number],
    written: list[CanvasReading | None],
) -> dict[str, Any]:
    """The figures with the rule at ``sure``, from the readings of the drawings and numbers."""
    honest = [r is None or not r.is_number(sure) for r in drawn]
    by_kind: dict[str, list[bool]] = defaultdict(list)
    for drawing, flag in zip(drawings, honest, strict=True):
        by_kind[drawing.kind].append(flag)
    return {
        "drawings": len(drawings),
        "not_a_number": share(honest),
        "web_refused": sum(r is None for r in drawn),
        "by_kind": {kind: share(flags) for kind, flags in sorted(by_kind.items())},
        "numbers": read_numbers(sure, numbers, written),
    }


def pad_figures(
    models: dict[str, LiteModel],
    thresholds: dict[str, float],
    drawings: list[PadDrawing],
    numbers: list[Number],
    singles: list[Number],
    sweep: Sequence[float] = (),
) -> dict[str, Any]:
    """The rule's figures on ``drawings``, ``numbers`` (2-6 digits) and ``singles`` (one
    digit each, as the pad also takes), and at each bar of ``sweep``."""
    drawn = [read_canvas(models, thresholds, drawing.png) for drawing in drawings]
    written = [read_canvas(models, thresholds, number.png) for number in numbers]
    single = [read_canvas(models, thresholds, digit.png) for digit in singles]

    def at(sure: float) -> dict[str, Any]:
        return {
            "number_sure": sure,
            **figures_at(sure, drawings, drawn, numbers, written),
            "single_digits": read_numbers(sure, singles, single),
        }

    figures = at(number_reading.NUMBER_SURE)
    if sweep:
        figures["sweep"] = [at(sure) for sure in sweep]
    return figures


def evaluate_pad(
    models: dict[str, LiteModel],
    thresholds: dict[str, float],
    x_test: np.ndarray,
    y_test: np.ndarray,
    count: int,
    seed: int,
) -> dict[str, Any]:
    """The report's pad figures, as ``make evaluate`` gives them: ``count`` held-out drawings,
    the ``count`` numbers of MNIST test digits its number figures read (same seed), and
    ``count`` single test digits."""
    return pad_figures(models, thresholds, *report_sets(x_test, y_test, count, count, seed))


def report_sets(
    x_test: np.ndarray, y_test: np.ndarray, drawings: int, numbers: int, seed: int
) -> tuple[list[PadDrawing], list[Number], list[Number]]:
    """The held-out family's drawings, numbers of MNIST test digits, and single ones."""
    return (
        pad_drawings(drawings, "held_out"),
        number_set(x_test, y_test, numbers, seed),
        number_set(x_test, y_test, numbers, seed + 1, lengths=(1, 1)),
    )


def dev_sets(
    mnist: str, models_dir: Path, drawings: int, numbers: int, seed: int
) -> tuple[list[PadDrawing], list[Number], list[Number]]:
    """The dev family's drawings, numbers of the MNIST training digits every shipped model
    held out, and single ones."""
    return (
        pad_drawings(drawings, "dev"),
        dev_number_set(mnist, models_dir, numbers, seed),
        dev_number_set(mnist, models_dir, numbers, seed + 1, lengths=(1, 1)),
    )


def pad_lines(figures: dict[str, Any]) -> list[str]:
    """The pad figures as lines to print, each beside its target."""
    f, t = figures, TARGETS
    n, one = f["numbers"], f["single_digits"]
    kinds = ", ".join(f"{kind} {share:.0%}" for kind, share in f["by_kind"].items())
    lines = [
        f"pad, rule at {f['number_sure']:g} (shared.number_reading.NUMBER_SURE; a canvas "
        "both models read is a number): "
        f'{f["drawings"]} drawings that are not numbers: "not a number" '
        f"{f['not_a_number']:.2%} (target {t['not_a_number']:.0%}; web refused "
        f"{f['web_refused']} outright)",
        f"    by kind: {kinds}",
        f"    {n['count']} numbers of 2-6 digits: refused {n['refused']:.2%} (target at most "
        f"{t['numbers_refused']:.0%}; web refused {n['web_refused']}), whole number right "
        f"{n['right']:.2%} (target {t['whole_number_accuracy']:.0%})",
        f"    {one['count']} single digits: refused {one['refused']:.2%}, right {one['right']:.2%}",
    ]
    return lines + [
        f"    at {row['number_sure']:<5g}: not a number "
        f"{row['not_a_number']:.2%}, numbers refused {row['numbers']['refused']:.2%}, right "
        f"{row['numbers']['right']:.2%}; single digits refused "
        f"{row['single_digits']['refused']:.2%}, right {row['single_digits']['right']:.2%}"
        for row in f.get("sweep", [])
    ]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m worker.trainer.tools.pad_figures", description=__doc__
    )
    parser.add_argument("--models", help="directory of <name>.tflite (default: WEIGHTS_DIR)")
    parser.add_argument("--mnist", help="mnist.npz path (default: MNIST_PATH)")
    parser.add_argument("--dev", action="store_true", help="the development set, and a sweep")
    parser.add_argument("--drawings", type=int, help="drawings that are not numbers")
    parser.add_argument("--numbers", type=int, help="numbers of 2-6 digits")
    parser.add_argument(
        "--seed", type=int, help=f"the numbers' seed (default: 1234; --dev: {DEV_SEED})"
    )
    parser.add_argument("--json", help="also write the figures to this JSON file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mnist, models_dir = mnist_and_models(args, "pad_figures")
    if args.dev:
        seed = DEV_SEED if args.seed is None else args.seed
        count = args.numbers or DEV_NUMBERS
        sets = dev_sets(mnist, models_dir, args.drawings or DEV_DRAWINGS, count, seed)
        title = f"development set: the dev family, held-out MNIST training digits, seed {seed}"
    else:
        with np.load(mnist) as data:
            x_test, y_test = data["x_test"], data["y_test"].astype(np.int64)
        seed = 1234 if args.seed is None else args.seed
        count = args.numbers or 1000
        sets = report_sets(x_test, y_test, args.drawings or count, count, seed)
        title = f"report: the held-out family, MNIST test digits, seed {seed}"
    models, thresholds = shipped_models(models_dir)
    drawings, numbers, singles = sets
    sweep = SWEEP if args.dev else ()
    figures = pad_figures(models, thresholds, drawings, numbers, singles, sweep)
    print(title, *pad_lines(figures), sep="\n")  # noqa: T201 (a command-line tool)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
