"""Real pens drawn as the page draws them: UNIPEN's writers, split once into two families.

A writer is in the development family when the first byte of the SHA-256 of its name
(site/writer) is below ``DEV_SHARE`` of 256, else in the training family: no writer is in
both, and the split depends on nothing but the names. The training family's digits are
fitted by ``make_models train --unipen``; the development family's are only measured
(``evaluate``), and no choice was made on them.

Each digit is drawn as a person draws on the Collect page's 280x280 pad: its ink
``stroke_sets.SINGLE_HEIGHTS`` of the pad high, centred with a little play, its strokes
recorded as the page records a pointer (``stroke_sets.recorded``: whole pixels, a point
every few) and drawn into the 28x28 image web's stroke path makes of the whole canvas
(``shared.stroke_render.mnist_image``, the page's pen).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shared import answers
from shared.stroke_render import PEN_RATIO, mnist_image, prepared
from worker.trainer.arrays import no_images
from worker.trainer.hershey import LATIN_LOWER, LATIN_UPPER, MARKS, without
from worker.trainer.pen_forms import FORMED, with_form
from worker.trainer.tools.stroke_sets import SINGLE_HEIGHTS, SQUARE, recorded, scaled
from worker.trainer.unipen import PenCharacter, read_unipen

SOURCE = (
    "UNIPEN train_r01_v07, categories 1a-1d (isolated digits, upper and lower case, symbols), "
    "https://doi.org/10.5281/zenodo.1195803"
)
LICENSE = (
    "CC BY 4.0 (the Zenodo distribution); I. Guyon, L. Schomaker, R. Plamondon, M. Liberman, "
    "S. Janet: UNIPEN project of on-line data exchange and recognizer benchmarks, ICPR 1994"
)
#: The development family's share of the writers.
DEV_SHARE = 0.25
#: Seeds: the development set's drawing, and the training family's.
DEV_SEED, TRAIN_SEED = 3031, 3032
#: Letters and marks that are not digits, by UNIPEN category: the Hershey negatives'
#: (``hershey``: no look-alikes), less the handwritten a, f and t (a 9, an 8 or a 1 with a
#: tick, as people write them).
NOT_DIGITS = {"1b": LATIN_UPPER, "1c": without(LATIN_LOWER, "aft"), "1d": MARKS}
#: Letters and marks (at most) fitted beside the training family's digits, each drawn once.
PEN_NEGATIVES = 20_000


def writer_share(writer: str, byte: int, share: float) -> bool:
    """Whether ``writer`` (site/writer) falls in ``share`` of writers by byte ``byte`` of
    its SHA-256: each byte splits the writers apart from the others."""
    return hashlib.sha256(writer.encode()).digest()[byte] < share * 256


def is_dev_writer(writer: str) -> bool:
    """Whether ``writer`` (site/writer) is in the development family."""
    return writer_share(writer, 0, DEV_SHARE)


def family(root: str | Path, dev: bool) -> list[PenCharacter]:
    """The digits of one family of writers."""
    return [d for d in read_unipen(Path(root)) if is_dev_writer(d.writer) == dev]


def not_digits(root: str | Path, dev: bool, count: int | None, seed: int) -> list[PenCharacter]:
    """At most ``count`` (None: all) letters and marks of one family, picked at random."""
    found = [
        c
        for category, keep in NOT_DIGITS.items()
        for c in read_unipen(Path(root), category, keep)
        if is_dev_writer(c.writer) == dev
    ]
    picked = np.random.default_rng(seed).permutation(len(found))[:count]
    return [found[i] for i in sorted(picked)]


def drawn(digit: PenCharacter, rng: np.random.Generator) -> np.ndarray:
    """The 28x28 image the models see of ``digit`` drawn on the square pad."""
    height = rng.uniform(*SINGLE_HEIGHTS) * SQUARE
    paths, width, tall = scaled(digit.strokes, height, SQUARE)
    play = rng.uniform(-0.5, 0.5, size=2) * (SQUARE - width, SQUARE - tall)
    at = ((SQUARE - width) / 2 + play[0], (SQUARE - tall) / 2 + play[1])
    strokes = [recorded(p + at, SQUARE, SQUARE, rng) for p in paths]
    pen = SQUARE * PEN_RATIO
    return mnist_image(prepared(strokes, pen), pen)


def pen_images(
    characters: Sequence[PenCharacter], seed: int, times: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Each character drawn ``times`` times (other sizes, places and pointer paces); the
    labels (``answers.NOT_DIGIT`` for what is not a digit)."""
    rng = np.random.default_rng(seed)
    images = [drawn(c, rng) for _ in range(times) for c in characters]
    labels = [int(c.char) if c.char.isdigit() else answers.NOT_DIGIT for c in characters]
    x = np.stack(images).astype(np.uint8) if images else no_images()
    return x, np.array(labels * times, dtype=np.int64)


def training_pens(
    root: str | Path | None, times: int, negatives: int = PEN_NEGATIVES, forms: int = 0
) -> tuple[tuple[np.ndarray, np.ndarray] | None, dict[str, Any] | None]:
    """The training family, each digit drawn ``times`` times, each 0, 1 and 7 ``forms``
    times more in a form MNIST hardly has (``pen_forms``), and ``negatives`` of its letters
    and marks drawn once: what ``--unipen`` fits; and the record the metrics keep. Nothing
    for no ``root``."""
    if root is None:
        return None, None
    digits = family(root, dev=False)
    others = not_digits(root, False, negatives, TRAIN_SEED)
    x, y = pen_images(digits, TRAIN_SEED, times)
    x_not, y_not = pen_images(others, TRAIN_SEED + 1)
    x_forms, y_forms = formed_images(digits, TRAIN_SEED + 2, forms)
    record: dict[str, Any] = {
        "source": SOURCE,
        "license": LICENSE,
        "family": f"training (writers not in the development family, {DEV_SHARE:.0%})",
        "writers": len({d.writer for d in digits}),
        "digits": len(digits),
        "drawn_times": times,
        "forms": {
            "recipe": "worker.trainer.pen_forms",
            "digits": len(y_forms),
            "drawn_times": forms,
        },
        "not_digits": len(others),
        "not_digit_characters": NOT_DIGITS,
        "seed": TRAIN_SEED,
    }
    return (np.concatenate([x, x_forms, x_not]), np.concatenate([y, y_forms, y_not])), record


def formed_images(
    digits: Sequence[PenCharacter], seed: int, times: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each 0, 1 and 7 of ``digits`` given its form and drawn, ``times`` times."""
    rng = np.random.default_rng(seed)
    formed = [with_form(d, rng) for _ in range(times) for d in digits if d.char in FORMED]
    return pen_images(formed, seed)


def dev_pens(root: str | Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The development family, each digit drawn once; and each digit's writer."""
    digits = family(root, dev=True)
    x, y = pen_images(digits, DEV_SEED)
    return x, y, [d.writer for d in digits]


def dev_not_digits(root: str | Path) -> tuple[np.ndarray, list[str]]:
    """The development family's letters and marks, each drawn once; and its character."""
    others = not_digits(root, True, None, DEV_SEED)
    return pen_images(others, DEV_SEED + 1)[0], [c.char for c in others]
