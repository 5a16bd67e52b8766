"""Empty image and label arrays: the shapes a set with nothing in it still has, so that a
replay set without real pens or a round without samples concatenates and scores as is."""

from __future__ import annotations

import numpy as np

from shared.imaging import SIZE


def no_images() -> np.ndarray:
    """No 28x28 uint8 images."""
    return np.zeros((0, SIZE, SIZE), np.uint8)


def no_labels() -> np.ndarray:
    """No labels."""
    return np.zeros(0, np.int64)
