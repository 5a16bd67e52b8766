"""Whole numbers read back: the synthetic numbers of ``worker.trainer.tools.numbers`` read as
web and the predict worker read them, by each model and by both (the API's text)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from shared import answers, number_reading
from worker.lite_model import LiteModel
from worker.trainer.tools.numbers import CanvasReading, Number, read_canvas


def number_figures(
    models: dict[str, LiteModel], thresholds: dict[str, float], numbers: list[Number]
) -> dict[str, Any]:
    """Whole-number accuracy, per-digit accuracy where the count is right, count right,
    and where the wrong numbers went wrong (the count, or a digit: refused or misread, or
    the whole answered "not a number"). Each canvas is read as web and the predict worker
    read it (``read_canvas``): a canvas web refuses is wrong, and so is a part the model
    refuses (``?``) and a number web answers "not a number" (``number_reading.is_number``).
    """
    readings = [read_canvas(models, thresholds, number.png) for number in numbers]
    chosen = [[] if r is None else r.chosen for r in readings]
    count_right = [len(c) == len(n.text) for c, n in zip(chosen, numbers, strict=True)]
    return {
        "numbers": len(numbers),
        "count_accuracy": round(float(np.mean(count_right)), 4),
        "not_a_number": sum(r is not None and not r.is_number() for r in readings),
        "wrong_count": {
            "unread": sum(r is None for r in readings),
            "too_few": sum(
                r is not None and len(r.chosen) < len(n.text)
                for r, n in zip(readings, numbers, strict=True)
            ),
            "too_many": sum(len(k) > len(n.text) for k, n in zip(chosen, numbers, strict=True)),
        },
        "models": {
            **{
                name: _model_figures(_labels(name, thresholds[name]), readings, numbers)
                for name in models
            },
            # The API's text: both models together (``shared.number_reading.part_digit``).
            "both": _model_figures(CanvasReading.text, readings, numbers),
        },
    }


def _labels(name: str, threshold: float) -> Callable[[CanvasReading], str]:
    """One model's own reading of a canvas's chosen parts, as text."""

    def text(r: CanvasReading) -> str:
        labels = answers.predicted_labels(r.outputs[name][r.chosen], threshold).tolist()
        return number_reading.text([None if d == answers.NOT_DIGIT else d for d in labels])

    return text


def _model_figures(
    text_of: Callable[[CanvasReading], str],
    readings: list[CanvasReading | None],
    numbers: list[Number],
) -> dict[str, Any]:
    """One reading of the numbers (``text_of``), on the parts the two models' agreement chose."""
    whole = digits_right = digits_seen = refused = misread = not_number = 0
    for r, number in zip(readings, numbers, strict=True):
        if r is None:
            continue
        text = text_of(r)
        whole += r.is_number() and text == number.text
        if len(r.chosen) == len(number.text):  # the count is right
            digits_right += sum(a == b for a, b in zip(text, number.text, strict=True))
            digits_seen += len(number.text)
            # each wrong number once: "not a number" though read right, a part refused, misread
            not_number += not r.is_number() and text == number.text
            refused += "?" in text
            misread += text != number.text and "?" not in text
    return {
        "whole_number_accuracy": round(whole / len(numbers), 4),
        "digit_accuracy_where_count_right": round(digits_right / max(1, digits_seen), 4),
        "count_right_but_wrong": dict(
            a_part_refused=refused, misread=misread, not_a_number=not_number
        ),
    }
