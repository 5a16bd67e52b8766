"""Training images cut from composed numbers: what segmentation offers the models.

Reading a number, the models do not only read digits: for every group of strokes they
read each way segmentation offers (``shared.segmentation``), and the reading whose digits
they are surest of wins (``shared.number_reading``). Trained on whole, centred digits
alone, they are as sure of two touching digits read as one, or of half a digit, as of a
digit, and the wrong reading wins. So the CNN may also learn from the images
segmentation makes of composed numbers (``worker.trainer.tools.numbers``), each labelled by the
digit whose ink it holds (``make_models train --number-parts N``; the shipped CNN did not):

- a part with nearly all of one digit's ink and little of any other's is that digit
  (digits with a neighbour's stroke at the edge, cut where they touched);
- a part holding much of two digits, or only a piece of one (unless the piece is a
  narrow stroke, which anyone would read as a 1), is "not a digit";
- anything between is left out, rather than taught either way.

Composed from the digits the models train on, never from their validation digits, which
the development number set is made of (``numbers.dev_number_set``).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from shared import answers
from shared.canvas import working_ink
from shared.errors import DigitsError
from shared.imaging import (
    MAX_DIGITS,
    ink_canvas_png,
    ink_from_image,
    load_png,
    to_mnist,
)
from shared.segmentation import segment
from worker.trainer.arrays import no_images, no_labels
from worker.trainer.tools.numbers import DigitInk, compose_layers

#: The models that learn from parts. Not the FNN: a multilayer perceptron on the pixels,
#: it lost MNIST test accuracy with them (98.94 % against 99.06 %) and refused fewer
#: held-out drawings that are not digits (87 % against 92 %), where the CNN has room.
MODELS = ("cnn",)
#: A part is a digit when it holds at least this share of the digit's ink ...
WHOLE = 0.9
#: ... and at most this share of any other digit's.
LEAK = 0.15
#: A part holding at least this share of two digits' ink each is two digits, not one.
MERGED = 0.35
#: A part holding at most this share of its digit's ink (and of every other's) is a piece.
PIECE = 0.6
#: ... taught as "not a digit" only if at least this wide for its height: a narrow piece
#: (the stem of a 4, the side of a 0) is a stroke anyone would read as a 1.
NARROW = 0.45
#: Ways to cut a broad group in two: more than web offers (``segmentation.OTHER_CUTS``),
#: so the models know a bad cut wherever it falls.
CUTS = 3
#: The seed of the numbers parts are cut from (the evaluation's is 1234, the dev set's 2025).
SEED = 77


def number_parts(
    digits: np.ndarray, labels: np.ndarray, numbers: int, seed: int = SEED
) -> tuple[np.ndarray, np.ndarray]:
    """The parts segmentation cuts from ``numbers`` numbers composed of ``digits``:
    (n, 28, 28) uint8 images and their labels (a digit, or ``answers.NOT_DIGIT``)."""
    rng = np.random.default_rng(seed)
    images: list[np.ndarray] = []
    found: list[int] = []
    for _ in range(numbers):
        picks = rng.choice(len(digits), size=int(rng.integers(2, 7)))
        canvas, layers = compose_layers([digits[i] for i in picks], rng)
        png = ink_canvas_png(Image.fromarray(canvas), int(rng.integers(0, 60)))
        for image, label in _labelled_parts(png, layers, [int(labels[i]) for i in picks]):
            images.append(image)
            found.append(label)
    if not images:
        return no_images(), no_labels()
    return np.stack(images), np.asarray(found, np.int64)


def _labelled_parts(
    png: bytes, layers: list[np.ndarray], truth: list[int]
) -> list[tuple[np.ndarray, int]]:
    """Every part of every way segmentation offers to read ``png``, with its label; the
    parts that are neither clearly one digit nor clearly not one are left out."""
    work, _ = working_ink(ink_from_image(load_png(png, 4096)))
    try:
        groups, _ = segment(work, MAX_DIGITS, cuts=CUTS, counter=False)
    except DigitsError:
        return []
    digit_ink = DigitInk.of(layers)
    seen: set[tuple[int, int, int, int]] = set()
    out = []
    for ways in groups:
        for way in ways:
            for part in way:
                if part.box in seen:
                    continue
                seen.add(part.box)
                height, width = part.ink.shape
                label = _label(digit_ink.shares(part), truth, width >= NARROW * height)
                if label is None:
                    continue
                try:
                    out.append((to_mnist(part.ink), label))
                except DigitsError:
                    continue
    return out


def _label(shares: list[float], truth: list[int], broad: bool = True) -> int | None:
    """A part's label from the share of each digit's ink it holds, or None if unclear
    (a ``broad`` part may be a piece; a narrow one might be a 1)."""
    order = np.argsort(shares)[::-1]
    first = shares[order[0]]
    second = shares[order[1]] if len(order) > 1 else 0.0
    if first >= WHOLE and second <= LEAK:
        return truth[order[0]]
    if second >= MERGED or (broad and first <= PIECE and second <= LEAK):
        return answers.NOT_DIGIT
    return None
