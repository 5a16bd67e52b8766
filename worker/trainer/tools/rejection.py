"""How well each model says "not a digit": refusals of digits and of negatives, ROC, AUROC.

The negatives are the held-out family of ``worker.trainer.negatives`` (fonts, generator
styles and a seed that training never saw), refused overall, by kind, and split into the
kinds drawn as by hand and those typeset from fonts. The ROC separates canvas-style digits from those negatives by
the not-a-digit probability; the baseline is the same ranking by the maximum softmax
probability over the digits (Hendrycks & Gimpel 2017), from this model and, when given,
from the ten-class models that came before the eleventh class.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from scipy.stats import rankdata

from shared import answers
from worker.trainer.negatives import TYPESET

#: The most validation digits a shipped model's threshold may refuse (issue 39: digits
#: refused at most 0.5 %); ``shipped_metrics`` chooses below it, the card says so.
MAX_FALSE_REJECT_RATE = 0.005
#: Points kept of each ROC curve for the record and the plot.
ROC_POINTS = 101
ROC_FILE = "rejection.json"


def auroc(digit_scores: np.ndarray, negative_scores: np.ndarray) -> float:
    """Probability that a negative scores above a digit (ties count half): Mann-Whitney U."""
    ranks = rankdata(np.concatenate([digit_scores, negative_scores]))  # ties: average rank
    n_neg, n_dig = len(negative_scores), len(digit_scores)
    u = ranks[len(digit_scores) :].sum() - n_neg * (n_neg + 1) / 2
    return float(u / (n_neg * n_dig))


def roc_curve(digit_scores: np.ndarray, negative_scores: np.ndarray) -> dict[str, list[float]]:
    """False-reject rate of digits against reject rate of negatives, over thresholds."""
    thresholds = np.unique(
        np.quantile(np.concatenate([digit_scores, negative_scores]), np.linspace(0, 1, ROC_POINTS))
    )
    digits = [float(np.mean(digit_scores >= t)) for t in thresholds]
    negatives = [float(np.mean(negative_scores >= t)) for t in thresholds]
    return {
        "digits_refused": [round(v, 5) for v in digits],
        "negatives_refused": [round(v, 5) for v in negatives],
    }


def max_softmax_score(outputs: np.ndarray) -> np.ndarray:
    """The baseline's not-a-digit score: one minus the largest digit probability."""
    return 1.0 - answers.digit_probabilities(outputs).max(axis=1)


def model_figures(
    threshold: float,
    mnist: tuple[np.ndarray, np.ndarray],
    canvas: tuple[np.ndarray, np.ndarray],
    negatives: np.ndarray,
    kinds: list[str],
) -> dict[str, Any]:
    """One model's figures from its outputs on (MNIST outputs, labels), (canvas ...), negatives."""
    figures: dict[str, Any] = {"reject_threshold": threshold}
    for key, (outputs, labels) in (("mnist", mnist), ("canvas", canvas)):
        predicted = answers.predicted_labels(outputs, threshold)
        figures[f"{key}_accuracy_refusal_is_error"] = round(float(np.mean(predicted == labels)), 5)
        figures[f"{key}_digits_refused"] = round(float(np.mean(predicted == answers.NOT_DIGIT)), 5)
    refused = answers.not_digit_scores(negatives) >= threshold
    figures["negatives_refused"] = round(float(refused.mean()), 5)
    hand = np.array([k not in TYPESET for k in kinds], dtype=bool)
    for key, part in (("hand_drawn", hand), ("typeset", ~hand)):
        share = float(refused[part].mean()) if part.any() else float("nan")
        figures[f"{key}_negatives_refused"] = round(share, 5)
    totals, hits = Counter(kinds), Counter(k for k, r in zip(kinds, refused, strict=True) if r)
    figures["negatives_refused_by_kind"] = {
        k: round(hits[k] / n, 4) for k, n in sorted(totals.items())
    }
    digit_scores = answers.not_digit_scores(canvas[0])
    negative_scores = answers.not_digit_scores(negatives)
    figures["auroc"] = round(auroc(digit_scores, negative_scores), 5)
    figures["roc"] = roc_curve(digit_scores, negative_scores)
    msp_digits, msp_negatives = max_softmax_score(canvas[0]), max_softmax_score(negatives)
    figures["auroc_max_softmax"] = round(auroc(msp_digits, msp_negatives), 5)
    figures["roc_max_softmax"] = roc_curve(msp_digits, msp_negatives)
    return figures


def baseline_figures(canvas_outputs: np.ndarray, negative_outputs: np.ndarray) -> dict[str, Any]:
    """The maximum-softmax ranking of a ten-class model: its AUROC and ROC."""
    digits, negatives = max_softmax_score(canvas_outputs), max_softmax_score(negative_outputs)
    return {"auroc": round(auroc(digits, negatives), 5), "roc": roc_curve(digits, negatives)}


def plot_roc(figures: dict[str, Any], path: str) -> None:
    """The ROC curves of every model (and baselines) in one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=110)
    for name, m in figures["models"].items():
        ax.plot(
            m["roc"]["digits_refused"],
            m["roc"]["negatives_refused"],
            label=f"{name}: not-a-digit class (AUROC {m['auroc']:.3f})",
        )
        ax.plot(
            m["roc_max_softmax"]["digits_refused"],
            m["roc_max_softmax"]["negatives_refused"],
            linestyle=":",
            label=f"{name}: its max softmax (AUROC {m['auroc_max_softmax']:.3f})",
        )
    for name, b in figures.get("baseline", {}).items():
        ax.plot(
            b["roc"]["digits_refused"],
            b["roc"]["negatives_refused"],
            linestyle="--",
            label=f"{name} 10-class, max softmax (AUROC {b['auroc']:.3f})",
        )
    ax.set_xscale("symlog", linthresh=0.01)
    ax.set_xlim(0, 1)
    ax.set_xlabel("canvas-style digits refused (false rejects)")
    ax.set_ylabel("held-out negatives refused")
    ax.set_title("Not a digit: ROC on held-out negatives")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
