"""What ``python -m worker.trainer.tools.evaluate --record`` writes for the model card: the
number figures, the ROC record and plot, and a summary in each ``<name>.metrics.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from worker.trainer.tools.numbers import NUMBERS_FILE
from worker.trainer.tools.pen_figures import PENS_FILE
from worker.trainer.tools.rejection import ROC_FILE, plot_roc

ROC_PLOT = "docs/not-digit-roc.png"

#: What each shipped version's metrics (so ``/api/models``) keep of the held-out figures.
SUMMARY = (
    "negatives_refused",
    "hand_drawn_negatives_refused",
    "typeset_negatives_refused",
    "negatives_refused_by_kind",
    "mnist_digits_refused",
    "canvas_digits_refused",
    "mnist_accuracy_refusal_is_error",
    "canvas_accuracy_refusal_is_error",
    "auroc",
    "auroc_max_softmax",
)


def record_figures(models_dir: Path, figures: dict[str, Any]) -> None:
    """Write ``<models>/NUMBERS_FILE``, ``<models>/PENS_FILE``, ``<models>/ROC_FILE``, the
    summaries and ROC_PLOT."""
    if "numbers" in figures:
        numbers = figures["numbers"] | ({"pad": figures["pad"]} if "pad" in figures else {})
        (models_dir / NUMBERS_FILE).write_text(json.dumps(numbers, indent=2) + "\n")
    if "real_pens" in figures:
        (models_dir / PENS_FILE).write_text(json.dumps(figures["real_pens"], indent=2) + "\n")
    keep = ("negatives", "models", "baseline", "digits", "seed")
    record = {k: figures[k] for k in keep if k in figures}
    (models_dir / ROC_FILE).write_text(json.dumps(record, indent=2) + "\n")
    record_summaries(models_dir, figures)
    plot_roc(figures, ROC_PLOT)


def record_summaries(models_dir: Path, figures: dict[str, Any]) -> None:
    """Add the held-out not-a-digit figures to each ``<name>.metrics.json`` as ``not_a_digit``,
    and (when measured) its real-pen figures as ``real_pens``: the Models page shows a
    shipped version's card, which has no gate holdout to read real pens from. Not
    ``data.real_pens``, which says what the model trained on."""
    pens = figures.get("real_pens")
    for name, m in figures["models"].items():
        path = models_dir / f"{name}.metrics.json"
        if path.exists():
            metrics = json.loads(path.read_text())
            metrics["not_a_digit"] = {key: m[key] for key in SUMMARY} | {
                "negatives": figures["negatives"]["count"],
                "negatives_family": "held_out",
            }
            if pens is not None and name in pens["models"]:
                metrics["real_pens"] = pens_summary(pens, name)
            path.write_text(json.dumps(metrics, indent=2) + "\n")


def pens_summary(pens: dict[str, Any], name: str) -> dict[str, Any]:
    """Model ``name``'s accuracy and refusals on the development family of real pens."""
    measured = pens["models"][name]
    return {
        "accuracy": measured["accuracy"],
        "refused": measured["refused"],
        "digits": pens["digits"],
        "writers": pens["writers"],
        "family": "development",
    }
