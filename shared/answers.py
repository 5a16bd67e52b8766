"""What a model's output means: ten digits and "not a digit", and when a drawing is refused.

Both networks end in a softmax over eleven classes: the ten digits, then ``NOT_DIGIT``, a
background class trained on drawings that are not digits (Dhamija et al. 2018). A model
refuses a drawing when its not-a-digit probability reaches the version's threshold,
chosen on validation digits for a stated false-reject rate and recorded in the version's
metrics. Versions made before the eleventh class answer ten probabilities and never
refuse. Plain numpy: web, the predict worker and the trainer all read answers this way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from shared.shapes import ModelAnswer, ShadowAnswer

DIGITS = 10
#: Index of the eleventh output: the drawing is not a digit.
NOT_DIGIT = DIGITS
#: Share of validation digits a version may refuse; its threshold is chosen for this. The
#: shipped models pick theirs from ``FALSE_REJECT_RATES`` (``worker.trainer.tools.make_models``)
#: and record it; a fine-tuned version keeps its parent's.
FALSE_REJECT_RATE = 0.005
FALSE_REJECT_RATES = (0.001, 0.002, 0.003, 0.005, 0.01)
#: A version without a recorded threshold refuses when "not a digit" is the likelier half.
DEFAULT_THRESHOLD = 0.5


def not_digit_scores(outputs: np.ndarray) -> np.ndarray:
    """The not-a-digit probability of each row (zero for a ten-output model)."""
    outputs = np.asarray(outputs)
    if outputs.shape[1] <= NOT_DIGIT:
        return np.zeros(len(outputs), dtype=np.float32)
    return outputs[:, NOT_DIGIT]


def digit_probabilities(outputs: np.ndarray) -> np.ndarray:
    """The ten digit probabilities of each row, renormalised to sum to 1."""
    digits = np.asarray(outputs, dtype=np.float64)[:, :DIGITS]
    return digits / np.maximum(digits.sum(axis=1, keepdims=True), 1e-12)


def predicted_labels(outputs: np.ndarray, threshold: float) -> np.ndarray:
    """Each row's digit, or ``NOT_DIGIT`` where the model refuses the drawing."""
    digits = np.argmax(np.asarray(outputs)[:, :DIGITS], axis=1)
    return np.where(not_digit_scores(outputs) >= threshold, NOT_DIGIT, digits)


def choose_threshold(digit_scores: np.ndarray, rate: float = FALSE_REJECT_RATE) -> float:
    """The lowest threshold that refuses at most ``rate`` of these (digit) scores."""
    # Models answer float32, and numpy compares float32 scores with a Python float in
    # float32: the threshold must be a float32 value for the count to hold either way.
    scores = np.sort(np.asarray(digit_scores, dtype=np.float32))
    if len(scores) == 0:
        return DEFAULT_THRESHOLD
    allowed = int(np.floor(rate * len(scores)))  # digits that may score at or above it
    # Just above the score of the highest digit that must still be accepted.
    return float(np.nextafter(scores[len(scores) - allowed - 1], np.float32(np.inf)))


def threshold_of(metrics: Mapping[str, Any]) -> float:
    """A version's threshold: in its metrics, or in the card of a shipped version."""
    for source in (metrics, metrics.get("card") or {}):
        value = source.get("reject_threshold")
        if isinstance(value, int | float) and 0 < value <= 1:
            return float(value)
    return DEFAULT_THRESHOLD


def rate_of(metrics: Mapping[str, Any]) -> float:
    """The false-reject rate a version's threshold was chosen for (metrics or card)."""
    for source in (metrics, metrics.get("card") or {}):
        value = source.get("false_reject_rate_target")
        if isinstance(value, int | float) and 0 <= value < 1:
            return float(value)
    return FALSE_REJECT_RATE


def model_answer(row: Sequence[float], threshold: float, version: int) -> ModelAnswer:
    """One model's answer as the API gives it: ``digit`` is None when it refuses."""
    return model_answers(np.asarray(row)[None], threshold, version)[0]


def model_answers(outputs: np.ndarray, threshold: float, version: int) -> list[ModelAnswer]:
    """``model_answer`` for each row of a batch, computed for the whole batch at once.

    A loop of ``round(float(p), 6)`` over every probability of every image cost the predict
    worker about 25 us an image and model; NumPy does the batch in a few.
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    not_digit = not_digit_scores(outputs)
    probabilities = digit_probabilities(outputs)
    refused = (not_digit >= threshold).tolist()
    digits = np.argmax(probabilities, axis=1).tolist()
    # Six decimals: what a page can show, and a third of the record.
    rounded = np.round(probabilities, 6).tolist()
    scores = np.round(not_digit, 6).tolist()
    return [
        {
            "digit": None if refuses else digit,
            "probabilities": row,
            "not_digit": score,
            "version": version,
        }
        for digit, refuses, row, score in zip(digits, refused, rounded, scores, strict=True)
    ]


def short_answers(outputs: np.ndarray, threshold: float, version: int) -> list[ShadowAnswer]:
    """Each row's ``digit``, ``not_digit`` and ``version``: what a challenger's shadow keeps.

    The same answers as ``model_answers``, less the probabilities nobody reads. Plain
    Python over the rows: a challenger reads about one canvas a call, where NumPy's
    dozen small array operations cost more than the model's answer is worth (issue 17).
    """
    short: list[ShadowAnswer] = []
    for row in np.asarray(outputs).tolist():
        score = row[NOT_DIGIT] if len(row) > NOT_DIGIT else 0.0
        digit = max(range(DIGITS), key=row.__getitem__)
        short.append(
            {
                "digit": None if score >= threshold else digit,
                # As np.round does it: scaled, rounded half to even, scaled back.
                "not_digit": round(score * 1e6) / 1e6,
                "version": version,
            }
        )
    return short
