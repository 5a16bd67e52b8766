"""Real handwritten numbers: ``python -m worker.trainer.tools.pen_numbers --unipen DIR``.

Issue 42: people's numbers read worse than their single digits, and the numbers measured
so far are MNIST's (``numbers``; ``stroke_agreement``, strokes traced from skeletons).
Here a number is 2 to 4 digits of ONE writer of UNIPEN's development family (``real_pens``:
no model trained on them), with their real strokes, pen-ups and stroke order, placed left
to right on the Draw page's 840x280 pad as ``stroke_sets`` places digits (uneven heights,
a sloping, wandering line, gaps from a slight overlap to wide spacing), recorded as the
page records a pointer (whole pixels, a point every few, ms on one clock from the first
point) and drawn into its PNG. Writers are picked evenly, so no one site makes the figures.

Each number is read as web reads it (``stroke_agreement``): from its strokes
(``shared.stroke_canvas``; the PNG where they cannot stand for it), from its PNG alone,
and with each digit drawn from its own strokes (segmentation never wrong: the models'
best). Both LiteRT models read every image, ``number_reading.read`` picks the parts, and a
number is right when the model's text (``?`` for a refused part) is the truth and web
answers it as a number (``number_reading.is_number``). Printed per reading: whole numbers
right, digits right where the count is, where the wrong ones went wrong, per site and the
worst writers; ``--json`` prints every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from shared import answers, number_reading
from shared.errors import DigitsError
from shared.settings import Settings
from worker.lite_model import LiteModel
from worker.trainer.tools.accuracy import share
from worker.trainer.tools.numbers import CanvasReading, canvas_reading, shipped_models
from worker.trainer.tools.pen_figures import by_site_and_writer
from worker.trainer.tools.real_pens import family
from worker.trainer.tools.stroke_agreement import (
    Read,
    own_strokes_reading,
    pixel_reading,
    stroke_reading,
)
from worker.trainer.tools.stroke_sets import Drawing, number_drawing
from worker.trainer.tools.tool_paths import unipen_of
from worker.trainer.unipen import PenCharacter

#: Digits a number has, at least and at most; how many numbers, and the seed.
LENGTHS, NUMBERS, SEED = (2, 4), 600, 3041
#: A pen-up, in ms: between two strokes of one digit, and before the next digit's first.
PAUSES = ((100, 400), (250, 900))
#: The ways a number is read: web's (strokes, else the PNG), the PNG's, digits apart.
READINGS = ("strokes", "pixels", "apart")
RIGHT = "right"


@dataclass(frozen=True)
class PenNumber:
    """A number as the page sends it, and the one writer whose digits it is drawn with."""

    drawing: Drawing
    writer: str


def pen_numbers(
    digits: Sequence[PenCharacter], count: int, seed: int, lengths: tuple[int, int] = LENGTHS
) -> list[PenNumber]:
    """``count`` numbers of ``lengths`` digits, each of one writer's own digits (none twice
    in a number); the writer picked evenly among ``digits``' writers."""
    rng = np.random.default_rng(seed)
    by_writer: dict[str, list[PenCharacter]] = {}
    for digit in digits:
        by_writer.setdefault(digit.writer, []).append(digit)
    writers = sorted(by_writer)
    numbers = []
    for _ in range(count):
        own = by_writer[writers[int(rng.integers(len(writers)))]]
        size = min(len(own), int(rng.integers(lengths[0], lengths[1] + 1)))
        picked = [own[i] for i in rng.choice(len(own), size=size, replace=False)]
        text = "".join(d.char for d in picked)
        drawing = number_drawing(text, [d.strokes for d in picked], rng)
        numbers.append(PenNumber(one_clock(drawing, rng), picked[0].writer))
    return numbers


def one_clock(drawing: Drawing, rng: np.random.Generator) -> Drawing:
    """The strokes' times from the drawing's first point, as the page keeps them
    (``web/static/js/canvas.js``), where ``stroke_sets.recorded`` starts each stroke at 0:
    a pen-up pause before each stroke, a longer one before a digit's first."""
    firsts = {strokes[0] for strokes in drawing.digits}
    clocked: list[list[list[int]]] = []
    now = 0
    for i, stroke in enumerate(drawing.strokes):
        if i:
            now += int(rng.integers(*PAUSES[i in firsts]))
        clocked.append([[x, y, now + t] for x, y, t in stroke])
        now = clocked[-1][-1][2]
    return replace(drawing, strokes=clocked)


def web_read(drawing: Drawing, how: str) -> Read | None:
    """The canvas ``how`` (one of READINGS) makes of ``drawing``; None where web refuses it
    (a 422). Strokes that cannot stand for the ink leave the PNG to read, as in web."""
    ways: dict[str, Callable[[Drawing], Read | None]] = {
        "strokes": stroke_reading,
        "pixels": pixel_reading,
        "apart": own_strokes_reading,
    }
    try:
        found = ways[how](drawing)
        return pixel_reading(drawing) if found is None else found
    except DigitsError:
        return None


@dataclass(frozen=True)
class Reading:
    """One number read one way: web's reading (None: refused) and, per part chosen, the
    strokes it was drawn from (None: read from the PNG)."""

    canvas: CanvasReading | None
    strokes: list[list[int]] | None

    @property
    def parts(self) -> int:
        """How many digits web found (none when it refused the drawing)."""
        return 0 if self.canvas is None else len(self.canvas.chosen)

    def text(self, name: str, threshold: float) -> str | None:
        """Model ``name``'s number, ``?`` for a part it refuses; None when unread."""
        if self.canvas is None:
            return None
        output = self.canvas.outputs[name][self.canvas.chosen]
        labels = answers.predicted_labels(output, threshold).tolist()
        return number_reading.text([None if d == answers.NOT_DIGIT else d for d in labels])

    def outcome(self, text: str | None, truth: str) -> str:
        """RIGHT, or where the number went wrong: unread, too few or too many parts, a
        part refused, misread, or read right but answered "not a number"."""
        if self.canvas is None or text is None:
            return "unread"
        if len(text) != len(truth):
            return "too few" if len(text) < len(truth) else "too many"
        if "?" in text:
            return "a part refused"
        if text != truth:
            return "misread"
        return RIGHT if self.canvas.is_number() else "not a number"


def read_number(
    models: dict[str, LiteModel], thresholds: dict[str, float], drawing: Drawing, how: str
) -> Reading:
    """``drawing`` read as web reads it, ``how`` (one of READINGS)."""
    found = web_read(drawing, how)
    if found is None:
        return Reading(None, None)
    canvas, sources = found
    read = canvas_reading(models, thresholds, canvas)
    return Reading(read, None if sources is None else [sorted(sources[i]) for i in read.chosen])


def pen_number_figures(
    models: dict[str, LiteModel], thresholds: dict[str, float], numbers: list[PenNumber]
) -> dict[str, Any]:
    """Each reading's figures on ``numbers``: see the module's doc."""
    figures: dict[str, Any] = {
        "numbers": len(numbers),
        "digits": sum(len(n.drawing.text) for n in numbers),
        "writers": len({n.writer for n in numbers}),
        "touching": sum(n.drawing.touching for n in numbers),
    }
    for how in READINGS:
        read = [read_number(models, thresholds, n.drawing, how) for n in numbers]
        pairs = list(zip(read, numbers, strict=True))
        figures[how] = {
            "unread": sum(r.canvas is None for r in read),
            "read_from_png": sum(r.canvas is not None and r.strokes is None for r in read),
            "count_right": share([r.parts == len(n.drawing.text) for r, n in pairs]),
            "parted_as_drawn": share([r.strokes == n.drawing.digits for r, n in pairs]),
        }
        for name, threshold in thresholds.items():
            texts = [r.text(name, threshold) for r in read]
            figures[how][name] = model_figures(read, texts, numbers)
        # The API's text: both models together (``shared.number_reading.part_digit``).
        both = [None if r.canvas is None else r.canvas.text() for r in read]
        figures[how]["both"] = model_figures(read, both, numbers)
    return figures


def model_figures(
    read: list[Reading], texts: list[str | None], numbers: list[PenNumber]
) -> dict[str, Any]:
    """One model's figures on one reading of ``numbers``, its ``texts`` of them."""
    truths = [n.drawing.text for n in numbers]
    outcomes = [r.outcome(t, truth) for r, t, truth in zip(read, texts, truths, strict=True)]
    right = np.array([o == RIGHT for o in outcomes], dtype=bool)
    counted = [
        a == b
        for t, truth in zip(texts, truths, strict=True)
        if t is not None and len(t) == len(truth)
        for a, b in zip(t, truth, strict=True)
    ]
    per_site, worst_writers = by_site_and_writer(right, [n.writer for n in numbers])
    return {
        "whole_number_accuracy": share(right),
        "digit_accuracy_where_count_right": share(counted),
        "wrong": dict(Counter(o for o in outcomes if o != RIGHT).most_common()),
        "per_site": per_site,
        "worst_writers": worst_writers,
    }


def figure_lines(figures: dict[str, Any]) -> list[str]:
    """The figures as the tools print them."""
    lines = [
        f"real-pen numbers: {figures['numbers']} numbers of {LENGTHS[0]}-{LENGTHS[1]} digits "
        f"({figures['digits']} digits, {figures['touching']} with neighbours' ink touching), "
        f"each by one of {figures['writers']} UNIPEN writers no model trained on, "
        "on the 840x280 pad"
    ]
    f = figures["strokes"]
    titles = {
        "strokes": f"strokes, as web reads them (count right {f['count_right']:.1%}, parted "
        f"as drawn {f['parted_as_drawn']:.1%}, read from the PNG {f['read_from_png']})",
        "pixels": f"pixels, the PNG alone (count right {figures['pixels']['count_right']:.1%})",
        "apart": "each digit from its own strokes (a segmentation never wrong)",
    }
    for how, title in titles.items():
        f = figures[how]
        lines.append(f"{title}, refused by web {f['unread']}:")
        for name in ("both", "cnn", "fnn"):  # both: the API's text
            m = f[name]
            wrong = ", ".join(f"{k} {v}" for k, v in m["wrong"].items()) or "none"
            lines.append(
                f"    {name}: whole numbers {m['whole_number_accuracy']:.1%}, digits "
                f"{m['digit_accuracy_where_count_right']:.2%} where the count is right; "
                f"wrong: {wrong}"
            )
        for key in ("per_site", "worst_writers"):
            shares = ", ".join(f"{k} {v:.0%}" for k, v in f["cnn"][key].items())
            lines.append(f"    cnn {key.replace('_', ' ')}: {shares}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m worker.trainer.tools.pen_numbers", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--unipen", help="UNIPEN train_r01_v07 checkout (default: UNIPEN_PATH)")
    parser.add_argument("--models", help="the .tflite models (default: WEIGHTS_DIR, models/)")
    parser.add_argument("--numbers", type=int, default=NUMBERS)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--json", action="store_true", help="print every figure as JSON")
    args = parser.parse_args(argv)
    root = unipen_of(args)
    if root is None:
        raise SystemExit("give --unipen DIR or set UNIPEN_PATH")
    started = time.perf_counter()
    models, thresholds = shipped_models(
        Path(args.models or Settings.from_env(require_redis=False).weights_dir)
    )
    numbers = pen_numbers(family(root, dev=True), args.numbers, args.seed)
    figures = {"seed": args.seed} | pen_number_figures(models, thresholds, numbers)
    figures["seconds"] = round(time.perf_counter() - started, 1)
    said = f"seed {args.seed}, {figures['seconds']} s"
    lines = [json.dumps(figures, indent=2)] if args.json else [*figure_lines(figures), said]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
