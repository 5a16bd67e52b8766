"""Choosing how to read a number: per group of strokes, the reading the models are surest of.

Segmentation (``shared.segmentation``, in web) offers at most five ways to read a group
of strokes: two ways for most (as it prefers, and cut in two or left whole), up to five
for a group the group counter is sure holds several digits (two straight cuts, two
slanted ones, and the group whole). The predict worker reads
every image in one batch and keeps, per group, the way whose least sure digit is surest
(``agreement`` of the two models); on a tie, the image's own choice. Each part then
reads as the two models read it together (``part_digit``). Plain Python: the worker
imports it without SciPy.

A drawing that is not a number (a word, a K, an arrow) still splits into parts that read
as something: web answers it "not a number" (``is_number``, ``answer``) rather than a row
of ``?`` and guesses. A canvas both models read as a digit is never answered so: the page
would show a digit and say it is not one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.answers import DIGITS
from shared.shapes import ModelAnswer, NumberAnswer

#: Per group of strokes, left to right: the ways to read it, as indices of images.
Readings = list[list[list[int]]]
#: Most ways one group may be read (``shared.segmentation``: two straight cuts, two
#: slanted ones, and the group whole).
MAX_WAYS = 5
#: A drawing that either model refuses as a whole reads as a number when its parts read,
#: on average, as digits at least this surely (``sureness``). Chosen on the development set of
#: ``python -m worker.trainer.tools.pad_figures --dev`` (1,500 pad drawings that are not
#: numbers, 1,500 numbers of 2-6 and 1,500 single held-out MNIST training digits): the
#: highest bar at which one refused part among digits read at 0.9 still reads ("3?7").
#: With the shipped models (2026-12-07) 98.47 % of the drawings are "not a number" and
#: 0.80 % of the numbers (1.27 % at 0.65; 0.07 % with no rule); whole numbers right 94.00 %.
NUMBER_SURE = 0.6
#: The reason a drawing is not a number: neither it nor its parts read surely as digits.
UNSURE = "unsure"


def agreement(cnn: Sequence[Sequence[float]], fnn: Sequence[Sequence[float]]) -> list[float]:
    """How sure the two models are, together, of the CNN's digit for each image.

    Rows are the models' outputs: ten digit probabilities, then (when the model has one)
    "not a digit", so a part either model refuses counts as unsure. The CNN alone is often
    certain of half a digit; the FNN rarely agrees. On 400 development numbers this chose
    better than either model alone (count right 96.5 % against 94.5 % for the CNN's
    confidence).
    """
    sure = []
    for c, f in zip(cnn, fnn, strict=True):
        digit = first_digit(c)
        sure.append(c[digit] * f[digit])
    return sure


def first_digit(row: Sequence[float]) -> int:
    """The digit a model's probabilities (or outputs) rank first, "not a digit" aside."""
    return max(range(DIGITS), key=row.__getitem__)


def output_row(answer: ModelAnswer) -> list[float]:
    """A model's answer (``shared.answers.model_answer``) back as its eleven outputs."""
    kept = 1.0 - float(answer.get("not_digit", 0.0))
    return [p * kept for p in answer["probabilities"]] + [1.0 - kept]


def sureness(image: Mapping[str, Any]) -> float:
    """How surely the two models read one image (its ``ImageAnswers``) as the CNN's digit:
    their ``agreement``, and nothing when either refuses the drawing (``accepted``)."""
    if not accepted(image):
        return 0.0
    return agreement([output_row(image["cnn"])], [output_row(image["fnn"])])[0]


def accepted(image: Mapping[str, Any]) -> bool:
    """Whether both models read the image (its ``ImageAnswers``) as a digit: neither refuses it."""
    return image["cnn"]["digit"] is not None and image["fnn"]["digit"] is not None


def is_number(
    canvas: Mapping[str, Any], parts: Sequence[Mapping[str, Any]], sure: float = NUMBER_SURE
) -> bool:
    """Whether the canvas (its answers) reads as a number, given the answers of the parts
    chosen to make it: both models read the canvas as a whole as a digit (as they read a
    single digit: their own refusal is the bar), or its parts are, on average, ``sure``-ly
    digits. One unsure part among confident digits still reads (2 of 3 at 0.9 and above
    are 0.6); a K (a 1 and a "<"), a word read "?72?" and an arrow, which both models
    refuse whole, do not.

    Until 2026-12-07 a canvas read as one part also had to reach a bar of its own (0.3):
    2.4 % of the development set's single digits, which both models read, were answered
    "not a number" beside the digit the page showed (0.4 % now, where a model refuses
    them), for 0.13 points more of the drawings caught."""
    if accepted(canvas):
        return True
    return bool(parts) and sum(sureness(part) for part in parts) / len(parts) >= sure


def answer(canvas: Mapping[str, Any], digits: list[dict[str, Any]]) -> NumberAnswer:
    """The number as a client reads it (``digits``: each part's answers, with what the client
    shows of it): its text and each digit's own reading (``part_digit``), or None and the
    reason when the drawing is not a number."""
    read = [{**d, "digit": part_digit(d)} for d in digits]
    if not is_number(canvas, digits):
        return {"text": None, "digits": read, "not_a_number": True, "reason": UNSURE}
    return {"text": text([d["digit"] for d in read]), "digits": read, "not_a_number": False}


def part_digit(image: Mapping[str, Any]) -> int | None:
    """A part of a number (its ``ImageAnswers``) as the two models read it together: the
    digit the product of their probabilities ranks first; None (``?``) where the CNN refuses
    the part, unless the FNN reads it as the digit the CNN itself ranks first.

    In a number, a part among digits is most likely a digit, and two models agreeing on
    one outweigh the CNN's doubt. Chosen on the development set of
    ``python -m worker.trainer.tools.pad_figures --dev`` (2026-12-08): whole numbers right
    94.00 % with the CNN's digits alone, 94.20 % with the product, 94.60 % with the rescue,
    94.80 % with both; the drawings answered "not a number" and the numbers refused do not
    move (``is_number`` is the same)."""
    cnn, fnn = image["cnn"], image["fnn"]
    c, f = cnn["probabilities"], fnn["probabilities"]
    if cnn["digit"] is None and fnn["digit"] != first_digit(c):
        return None
    return max(range(DIGITS), key=lambda d: c[d] * f[d])


def number_text(parts: Sequence[Mapping[str, Any]]) -> str:
    """The number's text: each part's ``part_digit``, ``?`` where it is None."""
    return text([part_digit(part) for part in parts])


def text(digits: Sequence[int | None]) -> str:
    """A number as read: each digit, or ``?`` where the part was refused."""
    return "".join("?" if d is None else str(d) for d in digits)


def choose(readings: Readings, confidence: Sequence[float]) -> list[int]:
    """The images that make the number, left to right."""
    chosen: list[int] = []
    for ways in readings:
        chosen += max(ways, key=lambda way: min(confidence[i] for i in way))
    return chosen


def read(
    readings: Readings, cnn: Sequence[Sequence[float]], fnn: Sequence[Sequence[float]]
) -> list[int]:
    """The images that make the number, left to right, from both models' outputs for every
    image: the one rule the predict worker, the evaluation and the baselines read by."""
    return choose(readings, agreement(cnn, fnn))


def valid(readings: Any, images: int) -> bool:
    """Whether ``readings`` (from a message) is a Readings over ``images`` images."""
    return (
        isinstance(readings, list)
        and len(readings) > 0
        and all(
            isinstance(ways, list)
            and 0 < len(ways) <= MAX_WAYS
            and all(
                isinstance(way, list)
                and len(way) > 0
                and all(
                    isinstance(i, int) and not isinstance(i, bool) and 0 <= i < images for i in way
                )
                for way in ways
            )
            for ways in readings
        )
    )
