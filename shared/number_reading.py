"""Choosing how to read a number: per group of strokes, the reading the models are surest of.

Segmentation (``shared.segmentation``, in web) offers at most five ways to read a group
of strokes: two ways for most (as it prefers, and cut in two or left whole), up to five
for a group the group counter is sure holds several digits (two straight cuts, two
slanted ones, and the group whole). The predict worker reads
every image in one batch and keeps, per group, the way whose least sure digit is surest
(``agreement`` of the two models); on a tie, the image's own choice. Plain Python: the worker imports it without SciPy.

A drawing that is not a number (a word, a K, an arrow) still splits into parts that read
as something: web answers it "not a number" (``is_number``, ``answer``) rather than a row
of ``?`` and guesses.
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
#: A drawing reads as a number when the canvas as a whole, or its parts on average, read as
#: digits at least this surely (``sureness``); a drawing read as one part, at least
#: DIGIT_SURE. Chosen with today's models on the development set of
#: ``python -m worker.trainer.tools.pad_figures --dev`` (1,500 pad drawings that are not
#: numbers, 1,500 numbers of 2-6 and 1,500 single held-out MNIST training digits): the
#: highest bar at which one refused part among digits read at 0.9 still reads ("3?7").
#: There 82 % of the drawings are "not a number" and 0.47 % of the numbers (0.67 % and
#: 1.13 % at 0.65 and 0.667; 0.07 % with no rule); whole numbers right: 95.47 % (95.53 %).
NUMBER_SURE = 0.6
#: One part is one digit, for which the models' own refusal is calibrated: a bar as high as
#: NUMBER_SURE answered 1.73 % of single digits "not a number" (0.27 % with the models'
#: refusals alone). At 0.3, 0.80 %, for 1.1 points fewer drawings caught (plus signs).
DIGIT_SURE = 0.3
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
        digit = max(range(DIGITS), key=c.__getitem__)
        sure.append(c[digit] * f[digit])
    return sure


def output_row(answer: ModelAnswer) -> list[float]:
    """A model's answer (``shared.answers.model_answer``) back as its eleven outputs."""
    kept = 1.0 - float(answer.get("not_digit", 0.0))
    return [p * kept for p in answer["probabilities"]] + [1.0 - kept]


def sureness(image: Mapping[str, Any]) -> float:
    """How surely the two models read one image (its ``ImageAnswers``) as the CNN's digit:
    their ``agreement``, and nothing when either refuses the drawing."""
    cnn, fnn = image["cnn"], image["fnn"]
    if cnn["digit"] is None or fnn["digit"] is None:
        return 0.0
    return agreement([output_row(cnn)], [output_row(fnn)])[0]


def is_number(
    canvas: Mapping[str, Any],
    parts: Sequence[Mapping[str, Any]],
    sure: float = NUMBER_SURE,
    lone: float = DIGIT_SURE,
) -> bool:
    """Whether the canvas (its answers) reads as a number, given the answers of the parts
    chosen to make it: the canvas as a whole is ``sure``-ly one digit, or its parts are, on
    average, ``sure``-ly digits (``lone``-ly, when there is one). One unsure part among
    confident digits still reads (2 of 3 at 0.9 and above are 0.6); a K (a 1 and a "<"), a
    word read "?72?", an arrow both models refuse, a plus sign read as a 7 at 8 % do not."""
    if sureness(canvas) >= sure:
        return True
    bar = lone if len(parts) == 1 else sure
    return bool(parts) and sum(sureness(part) for part in parts) / len(parts) >= bar


def answer(canvas: Mapping[str, Any], digits: list[dict[str, Any]]) -> NumberAnswer:
    """The number as a client reads it (``digits``: each part's answers, with what the client
    shows of it): its text, or None and the reason when the drawing is not a number."""
    if not is_number(canvas, digits):
        return {"text": None, "digits": digits, "not_a_number": True, "reason": UNSURE}
    return {
        "text": text([d["cnn"]["digit"] for d in digits]),
        "digits": digits,
        "not_a_number": False,
    }


def text(digits: Sequence[int | None]) -> str:
    """A number as read: each digit, or ``?`` where the model refused the part."""
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
