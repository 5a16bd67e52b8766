"""GET /api/models as the Models page meets it after fine-tunes: the shipped versions (as
the real API lists them) followed by fine-tuned ones shaped as worker.trainer.rounds
records them, answered in the browser instead of the real listing."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from playwright.sync_api import Page

from shared.names import MODEL_NAMES


def scores(
    mnist: float, loss: float, user: float | None, digits: float, negatives: float, pens: float
) -> dict:
    """A gate.Scores as asdict() records it."""
    return {
        "mnist": mnist,
        "mnist_loss": loss,
        "user": user,
        "reject_threshold": 0.65,
        "digits_refused": digits,
        "negatives_refused": negatives,
        "pens": pens,
    }


def fine_tuned(
    name: str, version: int, parent: dict, candidate: dict, outcome: str, **extra: Any
) -> dict:
    """A version's metrics.json as a fine-tune round publishes it."""
    return {
        "name": name,
        "version": version,
        "created_at": f"2025-05-0{version}T12:00:00+00:00",
        "outcome": outcome,
        "parent_version": version - 1,
        "training": {"kind": "fine_tune", "user_samples": 40 * version, "replay_digits": 3000},
        "gate_failures": [] if outcome != "rejected" else ["mnist_accuracy"],
        "holdout": {"parent": parent, "candidate": candidate, "mnist_digits": 2000},
        "gate": {"max_mnist_drop": 0.004, "max_mnist_loss_ratio": 1.5},
        **extra,
    }


def fine_tuned_listing(real: dict) -> dict:
    """The real listing (the shipped v1 of each model, its card's real-pen figure set to
    97.3 %) with three fine-tuned versions each: v2 promoted, v3 promoted and current with
    changes too small to show, v4 rejected (the FNN's v4 a live challenger instead)."""
    listing = copy.deepcopy(real)
    for name in MODEL_NAMES:
        model = listing["models"][name]
        v1 = scores(0.9850, 0.0500, None, 0.0010, 0.9500, 0.9800)
        v2 = scores(0.9870, 0.0450, 0.9000, 0.0010, 0.9600, 0.9880)
        # Differences that round to nothing: -0.004 points, -0.00002 in loss.
        v3 = scores(0.98696, 0.04498, 0.9000, 0.0010, 0.9600, 0.9880)
        v4 = scores(0.9810, 0.0700, 0.9500, 0.0030, 0.9400, 0.9840)
        shipped = [v for v in model["versions"] if v["version"] == 1]
        for version in shipped:  # as `evaluate --record` summarises the real pens
            version.setdefault("card", {})["real_pens"] = {
                "accuracy": 0.9726,
                "refused": 0.0061,
                "digits": 3093,
                "writers": 45,
                "family": "development",
            }
        model["versions"] = [
            *shipped,
            fine_tuned(name, 2, v1, v2, "promoted"),
            fine_tuned(name, 3, v2, v3, "promoted"),
            fine_tuned(name, 4, v3, v4, "challenger" if name == "fnn" else "rejected"),
        ]
        model["versions"][-1]["training"]["replay_pens"] = 1050  # a replay set with pens
        model["current"] = 3
        model["challenger"] = None
    listing["models"]["fnn"]["challenger"] = {
        "version": 4,
        "since": "2025-05-04T12:00:00+00:00",
        "pairs": 30,
        "champion_only": 2,
        "challenger_only": 5,
        "both": 20,
        "neither": 3,
        "p_worse": 0.9375,
        "p_better": 0.226562,
        "decision": None,
        "reason": None,
        "by_day": [],
    }
    listing["fine_tune"] = None
    return listing


def route_listing(page: Page, listing: dict) -> None:
    """Answer the page's GET /api/models with ``listing``; other model calls go through."""

    def answer(route) -> None:
        if route.request.method == "GET":
            route.fulfill(status=200, content_type="application/json", body=json.dumps(listing))
        else:
            route.continue_()

    page.route(re.compile(r"/api/models(\?.*)?$"), answer)
