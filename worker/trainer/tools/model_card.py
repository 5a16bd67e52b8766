"""MODEL_CARD.md: what the shipped models are, how well they do, and how they were made."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared import answers
from worker.trainer import hershey, symbols
from worker.trainer.builders import BUILDERS
from worker.trainer.negatives import FONT_FAMILIES, KINDS, LETTERS, SEEDS
from worker.trainer.tools.number_card import number_rows
from worker.trainer.tools.pen_card import pen_rows
from worker.trainer.tools.rejection import MAX_FALSE_REJECT_RATE, ROC_FILE

ATTRIBUTION = (
    "MNIST by Yann LeCun and Corinna Cortes (and Christopher J. C. Burges), "
    "http://yann.lecun.com/exdb/mnist/, licensed CC BY-SA 3.0 "
    "(https://creativecommons.org/licenses/by-sa/3.0/)."
)


def model_card(out: Path) -> str:
    """MODEL_CARD.md from whichever metrics files are in ``out``."""
    lines = [
        "# Digits models",
        "",
        "Two networks read a 28x28 grey digit (white on black, pixel / 255, float32 "
        "`(n, 28, 28, 1)`) and return softmax probabilities `(n, 11)`: the ten digits, then "
        "*not a digit* (see below). The `.tflite` files "
        "(LiteRT, int8 weights, dynamic batch) are what the predict worker serves; the `.keras` "
        "files are the starting point of fine-tunes. Written by "
        "`python -m worker.trainer.tools.make_models train`.",
        "",
        "## Data",
        "",
        ATTRIBUTION,
        "",
        "60,000 training digits (10 % held out for validation), 10,000 test digits. Training "
        "augments the digits to look like canvas drawings (pen thickness, rotation, scale, "
        "aspect, shear, shift, elastic wobble), then normalises them with the same MNIST recipe "
        "as `shared.imaging` (crop, fit 20 px, centre by mass). Beside them, drawings that "
        "are not digits, made by `worker/trainer/negatives.py` (below).",
        *parts_rows(out),
    ]
    sections = [
        model_rows(out),
        not_digit_rows(out),
        number_rows(out),
        pen_rows(out),
        fine_tuning_rows(out),
    ]
    return "\n".join([*lines, *(line for section in sections for line in section)])


#: Where ``make_models`` was when the shipped models' commands were recorded, and where it is.
MOVED = ("python -m worker.trainer.make_models ", "python -m worker.trainer.tools.make_models ")


def runnable(command: str) -> str:
    """A recorded command as it runs today: the offline tools moved to ``tools/`` since."""
    old, new = MOVED
    return new + command.removeprefix(old) if command.startswith(old) else command


def model_rows(out: Path) -> list[str]:
    """The models table and the commands that made them."""
    lines = [
        "",
        "## Models",
        "",
        "| model | architecture | parameters | epochs run | MNIST test accuracy (tflite; "
        "a refusal is an error) | tflite bytes | trained at |",
        "|---|---|---|---|---|---|---|",
    ]
    architecture = {
        "fnn": "Flatten, 2 x (Dense 800 relu, Dropout 0.3), Dense 11 softmax",
        "cnn": "Conv 3x3 32, Conv 3x3 32 stride 2, Conv 3x3 64, Conv 3x3 64 (each with "
        "BatchNorm, relu), MaxPool 2, Dropout 0.4, Dense 128 relu, Dropout 0.4, Dense 11 softmax",
    }
    commands = []
    for name in BUILDERS:
        path = out / f"{name}.metrics.json"
        if not path.exists():
            continue
        m = json.loads(path.read_text())
        start = m.get("start")
        epochs = f"{start['epochs_run']} + {m['epochs_run']}" if start else m["epochs_run"]
        lines.append(
            f"| {name} | {architecture[name]} | {m['parameters']:,} | {epochs} "
            f"| {m['test_accuracy_tflite']:.2%} | {m['file_bytes']['tflite']:,} "
            f"| {m['trained_at']} |"
        )
        libraries = ", ".join(f"{lib} {version}" for lib, version in m["versions"].items())
        if start:  # the run that made the weights this one continued, first
            commands.append(f"{runnable(start['command'])}  # {name}: {start['trained_at']}")
            libraries = f"{start['weights']} + {m['epochs_run']} epochs; {libraries}"
        commands.append(f"{runnable(m['command'])}  # {name}: seed {m['seed']}; {libraries}")
        if "converted" in m:  # the .tflite converted again later from the same .keras
            c = m["converted"]
            libraries = ", ".join(f"{lib} {version}" for lib, version in c["versions"].items())
            commands.append(
                f"{runnable(c['command'])}  # {name}: .tflite again, {c['at']}; {libraries}"
            )
    lines += ["", "## How they were made", "", "```", *commands, "```", ""]
    lines += [
        "Per-digit accuracy and the confusion matrix are in `<name>.metrics.json`; "
        "`python -m worker.trainer.tools.evaluate` re-measures them and the canvas-style accuracy.",
        "",
    ]
    return lines


def not_digit_rows(out: Path) -> list[str]:
    """The negatives' recipe, each model's threshold, and how well it refuses (evaluate)."""
    metrics = {
        name: json.loads((out / f"{name}.metrics.json").read_text())
        for name in BUILDERS
        if (out / f"{name}.metrics.json").exists()
    }
    if not any("reject_threshold" in m for m in metrics.values()):
        return []
    shares = ", ".join(
        f"{kind.replace('_', ' ')} {share:.0%}" for kind, (_, share) in KINDS.items()
    )
    some = next(m for m in metrics.values() if "reject_threshold" in m)
    lines = [
        "## Not a digit",
        "",
        f"The eleventh output is a background class (Dhamija et al. 2018) trained on "
        f"drawings that are not digits ({negative_counts(metrics)}), beside MNIST: "
        f"`{some['data'].get('negatives_recipe', '')}`. Each is drawn like the page draws "
        "(round pen, varied width, placed anywhere) and goes through the web's preprocessing. "
        f"Kinds and shares: {shares}. Typeset letters and symbols no one would read as a digit "
        f"(`{LETTERS}`) come from the fonts matplotlib ships: training uses "
        f"{', '.join(FONT_FAMILIES['training'])}; evaluation uses only "
        f"{', '.join(FONT_FAMILIES['held_out'])}, with seed {SEEDS['held_out']}.",
        "",
        *hand_drawn_rows(),
        "A model refuses a drawing (`digit: null`) when its not-a-digit probability reaches "
        "its threshold, chosen on the validation split (canvas-style digits and negatives, "
        "never trained on): the lowest false-reject rate of "
        f"{', '.join(f'{r:.1%}' for r in answers.FALSE_REJECT_RATES if r <= MAX_FALSE_REJECT_RATE)} "
        "of the validation digits (as augmented, and again drawn canvas-style) at which the "
        "validation negatives are refused at least as "
        "often as the model's target. Fine-tuned versions keep their parent's rate and choose their "
        "threshold on digits shipped in `replay.npz`; the gate checks refusals of digits and "
        "of fixed negatives.",
        "",
        "| model | negatives target | false-reject rate | threshold "
        "| validation digits refused | validation negatives refused |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in metrics.items():
        if "reject_threshold" in m:
            v = m["validation"]
            lines.append(
                f"| {name} | {m.get('negatives_refused_target', 0):.0%} "
                f"| {m['false_reject_rate_target']:.1%} | {m['reject_threshold']:.4g} "
                f"| {v['digits_refused']:.2%} | {v['negatives_refused']:.2%} |"
            )
    return [*lines, "", *held_out_rows(out)]


def negative_counts(metrics: dict[str, dict[str, Any]]) -> str:
    """Each model's negatives: validated on with its digits, and fitted only (``--more``)."""
    counts = []
    for name, m in metrics.items():
        data = m.get("data", {})
        more = data.get("more_negatives") or 0
        counts.append(
            f"{name} {data.get('negatives', 0):,}" + (f" + {more:,} fitted only" if more else "")
        )
    return "; ".join(counts)


def hand_drawn_rows() -> list[str]:
    """The negatives drawn as by hand (issue 39): sources, licences, what is left out."""
    fonts = {family: ", ".join(names) for family, names in hershey.FONTS.items()}
    return [
        "Drawn as by hand: single-stroke glyphs of the Hershey fonts (A. V. Hershey, US "
        "National Bureau of Standards, 1967: public domain; read through the `HersheyFonts` "
        "package, MIT licence), letters (Latin upright, italic, script and blackletter, Greek, "
        "Cyrillic), operators, punctuation and symbols copied with slant, rotation, a slow "
        "wobble and shaky strokes (`worker/trainer/hershey.py`); arrows in every direction "
        "(straight, curved, wavy, one head or two, long and thin), plus signs and crosses, "
        "question marks, scribbles from light loops to solid blots, and digits scribbled over "
        f"(`worker/trainer/symbols.py`). Training draws from the Hershey fonts "
        f"{fonts['training']}; evaluation only from {fonts['held_out']}, never a glyph drawn "
        "as a training glyph is, with styles of its own for every generated kind.",
        "",
        f"Left out as look-alikes a person would read as a digit: {hershey.LEFT_OUT} (listed "
        f"per font with reasons in `worker/trainer/hershey.py`). {symbols.CROSSED_OUT} No "
        "MNIST digit is ever a negative.",
        "",
    ]


def held_out_rows(out: Path) -> list[str]:
    """What ``evaluate --record`` measured on held-out negatives and test digits."""
    path = out / ROC_FILE
    if not path.exists():
        return []
    r = json.loads(path.read_text())
    baseline = r.get("baseline", {})
    lines = [
        f"Measured by `python -m worker.trainer.tools.evaluate --record` on {r['negatives']['count']:,} "
        f"held-out negatives and the {r['digits']:,} MNIST test digits (canvas-style: seed "
        f"{r['seed']}). AUROC ranks canvas-style digits against the negatives; the baselines "
        "rank them by the maximum softmax probability over the digits (Hendrycks & Gimpel "
        "2017), of the same model and of the ten-class models that came before.",
        "",
        "| model | negatives refused | drawn as by hand | typeset | MNIST digits refused "
        "| canvas digits refused | MNIST accuracy (refusal = error) | AUROC "
        "| AUROC, its max softmax | AUROC, 10-class max softmax |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in r["models"].items():
        old = baseline.get(name, {}).get("auroc")
        parts = (m.get(f"{k}_negatives_refused") for k in ("hand_drawn", "typeset"))
        lines.append(
            f"| {name} | {m['negatives_refused']:.1%} "
            f"| {' | '.join('–' if v is None else f'{v:.1%}' for v in parts)} "
            f"| {m['mnist_digits_refused']:.2%} "
            f"| {m['canvas_digits_refused']:.2%} | {m['mnist_accuracy_refusal_is_error']:.2%} "
            f"| {m['auroc']:.4f} | {m['auroc_max_softmax']:.4f} "
            f"| {'–' if old is None else f'{old:.4f}'} |"
        )
    lines += ["", "Refused, by kind of held-out negative:", ""]
    for name, m in r["models"].items():
        kinds = ", ".join(
            f"{k.replace('_', ' ')} {v:.0%}" for k, v in m["negatives_refused_by_kind"].items()
        )
        lines.append(f"- {name}: {kinds}")
    return [*lines, "", "![ROC curves](../docs/not-digit-roc.png)", ""]


def parts_rows(out: Path) -> list[str]:
    """The number parts a model learned from, when one did (``number_parts``)."""
    lines = []
    for name in BUILDERS:
        path = out / f"{name}.metrics.json"
        parts = json.loads(path.read_text())["data"].get("number_parts") if path.exists() else None
        if parts:
            lines += [
                "",
                f"The {name.upper()} also learns from {parts['images']:,} images cut from "
                f"{parts['numbers']:,} numbers composed of its training digits, as web's "
                "segmentation cuts them, each labelled by the digit whose ink it holds: "
                f"{parts['not_digit']:,} of them, two touching digits read as one or a piece "
                "of one, are *not a digit* (`worker/trainer/tools/number_parts.py`, "
                f"`{parts['recipe']}`). Reading a number, the models choose between ways to "
                "cut it by how sure they are; a model never taught these is as sure of half a "
                "digit as of a digit.",
            ]
    return lines


#: Written by ``python -m worker.trainer.tools.learning_curve experiments --out models``.
EXPERIMENTS_FILE = "fine-tune-experiments.json"


def fine_tuning_rows(out: Path) -> list[str]:
    """The fine-tune recipe experiments: what each recipe gains on users and costs on MNIST."""
    path = out / EXPERIMENTS_FILE
    if not path.exists():
        return []
    rows = json.loads(path.read_text())
    lines = [
        "## Fine-tuning on users' digits",
        "",
        "One fine-tune round on 1,000 digits collected by 30 simulated writers who draw unlike "
        "MNIST (`worker/trainer/tools/population.py`), per recipe; the candidate is measured on 14 other "
        "writers of that population and on MNIST test digits 2,000-9,999 (the gate never sees "
        "them). `gate` is what the holdout gate (`worker.trainer.gate.RULES`) decides on the "
        "round's recorded holdout figures. The chosen recipe is "
        "`worker.trainer.training_mix.RECIPES`.",
        "",
        "| recipe | FNN users | FNN MNIST | FNN gate | CNN users | CNN MNIST | CNN gate | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = [row["recipe"]]
        for name in ("fnn", "cnn"):
            m = row["models"][name]
            cells += [
                f"{100 * m['population_gain']:+.1f} pts",
                f"{100 * m['mnist_change']:+.2f} pts",
                m["gate"],
            ]
        lines.append("| " + " | ".join([*cells, f"{row['seconds']:.0f}"]) + " |")
    return [*lines, ""]
