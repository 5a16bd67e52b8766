"""The shipped models on real pens: ``python -m worker.trainer.tools.pen_figures --unipen DIR``.

The development family of UNIPEN's writers (``real_pens``: writers no model trained on,
and no choice was made on), each digit drawn once on the Collect page's pad as the page
draws it and read as web's stroke path reads the whole canvas. Printed per model:
accuracy (a refusal is an error), the share refused, accuracy per digit and per site, the
most frequent confusions, and the worst writers; then the share of the same writers'
letters and marks (``real_pens.NOT_DIGITS``) refused as "not a digit", and the characters
most let through. ``make evaluate`` prints the same when
``UNIPEN_PATH`` is set, and ``--record`` keeps it in ``<models>/real_pens.json``.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shared import answers
from worker.lite_model import LiteModel
from worker.trainer.tools.accuracy import accuracy_report, share
from worker.trainer.tools.numbers import shipped_models
from worker.trainer.tools.real_pens import (
    DEV_SEED,
    DEV_SHARE,
    LICENSE,
    SOURCE,
    dev_not_digits,
    dev_pens,
)

PENS_FILE = "real_pens.json"
#: Confusions and writers listed.
TOP = 5


def evaluate_pens(
    models: dict[str, LiteModel], thresholds: dict[str, float], root: str | Path
) -> dict[str, Any]:
    """Each model's figures on the development family of real pens."""
    x, y, writers = dev_pens(root)
    x_not, chars = dev_not_digits(root)
    figures: dict[str, Any] = {
        "source": SOURCE,
        "license": LICENSE,
        "family": f"development: {DEV_SHARE:.0%} of the writers, by a hash of their names",
        "writers": len(set(writers)),
        "digits": len(y),
        "seed": DEV_SEED,
        "not_digits": len(chars),
        "models": {},
    }
    for name, model in models.items():
        read = answers.predicted_labels(model.predict(x), thresholds[name])
        refused = answers.predicted_labels(model.predict(x_not), thresholds[name])
        figures["models"][name] = pen_measures(y, read, writers) | refusals(refused, chars)
    return figures


def refusals(read: np.ndarray, chars: list[str]) -> dict[str, Any]:
    """The share of letters and marks refused, and the characters most let through."""
    refused = read == answers.NOT_DIGIT
    through = Counter(c for c, r in zip(chars, refused.tolist(), strict=True) if not r)
    return {
        "not_digits_refused": round(float(refused.mean()), 5) if len(chars) else None,
        "most_let_through": dict(through.most_common(TOP)),
    }


def pen_measures(labels: np.ndarray, read: np.ndarray, writers: list[str]) -> dict[str, Any]:
    """Accuracy, refusals, per digit and per site, top confusions and worst writers."""
    report = accuracy_report(labels, read)
    right = read == labels
    confusions = Counter(
        f"{t}→{'?' if r == answers.NOT_DIGIT else r}"
        for t, r in zip(labels.tolist(), read.tolist(), strict=True)
        if t != r
    )
    per_site, worst_writers = by_site_and_writer(right, writers)
    return {
        "accuracy": report["accuracy"],
        "refused": round(float((read == answers.NOT_DIGIT).mean()), 5),
        "per_digit_accuracy": report["per_digit_accuracy"],
        "per_site_accuracy": per_site,
        "top_confusions": dict(confusions.most_common(TOP)),
        "worst_writers": worst_writers,
        "confusion_matrix": report["confusion_matrix"],
    }


def by_site_and_writer(
    right: np.ndarray, writers: Sequence[str]
) -> tuple[dict[str, float], dict[str, float]]:
    """The share ``right`` per site (a writer's name up to its "/") and for the TOP worst
    writers, each writer being the one behind the same row of ``right``."""
    sites, names = np.array([w.split("/")[0] for w in writers]), np.array(writers)
    per_site = {s: share(right[sites == s]) for s in sorted(set(sites.tolist()))}
    by_writer = {w: float(right[names == w].mean()) for w in sorted(set(writers))}
    worst = sorted(by_writer.items(), key=lambda i: i[1])[:TOP]
    return per_site, {w: round(a, 4) for w, a in worst}


def pen_lines(figures: dict[str, Any]) -> list[str]:
    """The figures as ``evaluate`` prints them."""
    lines = [
        f"real pens: {figures['digits']} digits and {figures['not_digits']} letters and marks of "
        f"{figures['writers']} UNIPEN writers no model trained on, drawn on the 280x280 pad "
        "(a refusal is an error)"
    ]
    for name, m in figures["models"].items():
        digits = ", ".join(f"{d}: {a:.1%}" for d, a in m["per_digit_accuracy"].items())
        confused = ", ".join(f"{k} ×{v}" for k, v in m["top_confusions"].items())
        sites = ", ".join(f"{s} {a:.1%}" for s, a in m["per_site_accuracy"].items())
        lines += [
            f"{name}: real pens {m['accuracy']:.2%}  refused {m['refused']:.2%}  "
            f"letters and marks refused {m['not_digits_refused'] or 0:.2%} "
            f"(most let through: {', '.join(m['most_let_through'])})",
            f"    per digit: {digits}",
            f"    top confusions: {confused}",
            f"    per site: {sites}",
        ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m worker.trainer.tools.pen_figures", description=__doc__
    )
    parser.add_argument("--unipen", required=True, help="UNIPEN train_r01_v07 checkout")
    parser.add_argument("--models", default="models", help="directory of the shipped models")
    args = parser.parse_args(argv)
    models, thresholds = shipped_models(Path(args.models))
    print("\n".join(pen_lines(evaluate_pens(models, thresholds, args.unipen))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
