"""MNIST training digits redrawn as pen strokes: the page's round pen on MNIST's shapes.

A digit on the page is drawn with a pen of one width, 1/14 of the pad's height, round at
its ends and turns; MNIST's digits were written on paper and scanned, thick and thin.
Each digit picked here is traced into the strokes a pen would draw
(``stroke_tracing.digit_strokes``: its skeleton walked as a pen goes) and drawn as a
real-pen character is (``real_pens.pen_images``: placed on the 280x280 pad, recorded as
the page records a pointer, drawn into the 28x28 image web's stroke path makes). Only
digits the model fits are picked, never its validation digits (its threshold is chosen
on those) nor MNIST's test digits: ``make_models train --traced N``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from worker.trainer.tools.real_pens import pen_images
from worker.trainer.tools.stroke_tracing import digit_strokes
from worker.trainer.unipen import PenCharacter

#: The seed of the picks and the drawing (the real pens' are 3031 and 3032).
SEED = 3040


def traced_images(
    digits: np.ndarray, labels: np.ndarray, count: int, seed: int = SEED
) -> tuple[tuple[np.ndarray, np.ndarray], dict[str, Any]]:
    """``count`` of ``digits`` (at most all of them) traced and drawn once each, with their
    labels; and the record the metrics keep. A digit that traces to no stroke is left out."""
    rng = np.random.default_rng(seed)
    picks = np.sort(rng.permutation(len(digits))[:count])
    characters = [
        PenCharacter(str(int(labels[i])), strokes, "mnist", "mnist")
        for i in picks.tolist()
        if (strokes := digit_strokes(digits[i]))
    ]
    images = pen_images(characters, seed + 1)
    record = {
        "recipe": "worker.trainer.tools.traced_digits",
        "digits": len(characters),
        "picked_from": int(len(digits)),
        "seed": seed,
    }
    return images, record
