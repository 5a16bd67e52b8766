"""How many digits a group of strokes holds: a small CNN, run with NumPy in web.

Segmentation (``shared.segmentation``) groups connected strokes and then has to decide
whether a group is one digit or several that touch. Rules on its width and its ink
profile cannot tell an open 0 from a 1 pressed against a 6; the two models then choose
between readings, and are as sure of half a digit as of a digit. This network looks at
the whole group instead, scaled to a fixed height with its width kept, and says whether
it is a piece of a digit, one digit, or more than one. It is trained on groups cut from
composed numbers (``worker.trainer.tools.group_count``) and shipped as ``group_count.npz``
(about 200,000 weights); web runs it with NumPy, as it imports neither TensorFlow nor
LiteRT.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

#: The weights ``worker.trainer.tools.group_count`` writes.
WEIGHTS = Path(__file__).with_name("group_count.npz")
#: A group is drawn GROUP_INK px high, its width kept (at most MAX_WIDTH), on this image.
HEIGHT, WIDTH = 24, 64
GROUP_INK = 20
MAX_WIDTH = 60
#: The classes, in the network's output order.
PIECE, ONE, SEVERAL = 0, 1, 2
#: The layers' names in the weights file, in order: two 3x3 convolutions (each followed
#: by a ReLU and a 2x2 max pool), a dense ReLU layer and the softmax output.
LAYERS = ("conv1", "conv2", "dense", "out")


def group_image(ink: np.ndarray) -> np.ndarray:
    """A group's ink (cropped to it, 0 = paper) as the network sees it: GROUP_INK px high,
    its width scaled alike (squeezed to MAX_WIDTH if wider), centred on HEIGHT x WIDTH."""
    height, width = ink.shape
    scaled_width = max(1, min(MAX_WIDTH, round(width * GROUP_INK / height)))
    scaled = Image.fromarray(ink).resize((scaled_width, GROUP_INK), Image.Resampling.BOX)
    image = np.zeros((HEIGHT, WIDTH), np.uint8)
    top, left = (HEIGHT - GROUP_INK) // 2, (WIDTH - scaled_width) // 2
    image[top : top + GROUP_INK, left : left + scaled_width] = np.asarray(scaled, np.uint8)
    return image


def digits_held(inks: list[np.ndarray]) -> np.ndarray:
    """For each group's ink, the probabilities that it is a piece of a digit, one digit,
    or several (rows of three, in one forward pass)."""
    if not inks:
        return np.zeros((0, 3), np.float32)
    images = np.stack([group_image(ink) for ink in inks]).astype(np.float32) / 255.0
    return forward(_weights(), images)


def forward(weights: dict[str, np.ndarray], images: np.ndarray) -> np.ndarray:
    """The network on ``images`` (n, HEIGHT, WIDTH), values 0-1: Keras's layers in NumPy."""
    x = images[..., None]
    for name in ("conv1", "conv2"):
        x = _max_pool(
            np.maximum(_conv3x3(x, weights[f"{name}/kernel"], weights[f"{name}/bias"]), 0)
        )
    x = x.reshape(len(x), -1)
    x = np.maximum(x @ weights["dense/kernel"] + weights["dense/bias"], 0)
    logits = x @ weights["out/kernel"] + weights["out/bias"]
    logits -= logits.max(axis=1, keepdims=True)
    odds = np.exp(logits)
    return np.asarray(odds / odds.sum(axis=1, keepdims=True), np.float32)


def _conv3x3(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """A 3x3 convolution with "same" padding over NHWC ``x``; ``kernel`` as Keras keeps it
    (3, 3, in, out). One matrix product over the nine shifted copies of ``x``."""
    n, height, width, channels = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    shifted = [padded[:, dy : dy + height, dx : dx + width] for dy in range(3) for dx in range(3)]
    columns = np.stack(shifted, axis=3).reshape(n * height * width, 9 * channels)
    out = columns @ kernel.reshape(9 * channels, -1) + bias
    return out.reshape(n, height, width, -1)


def _max_pool(x: np.ndarray) -> np.ndarray:
    """2x2 max pooling, stride 2, over NHWC ``x`` (even sides)."""
    return np.maximum(
        np.maximum(x[:, 0::2, 0::2], x[:, 0::2, 1::2]),
        np.maximum(x[:, 1::2, 0::2], x[:, 1::2, 1::2]),
    )


@cache
def _weights() -> dict[str, np.ndarray]:
    """The shipped weights, as float32 (stored as float16: half the size, same answers)."""
    with np.load(WEIGHTS) as stored:
        return {name: stored[name].astype(np.float32) for name in stored.files}
