"""MNIST sample digits as the canvas sends them: PNG data URLs, optionally in another hand."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from shared.imaging import render_canvas_png
from worker.trainer.tools.numbers import number_set

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "data" / "mnist_sample.npz"


def slanted_heavy(digit: np.ndarray) -> np.ndarray:
    """A distinctive hand for the fine-tune: strongly slanted, heavy strokes."""
    slanted = Image.fromarray(digit).transform(
        (28, 28), Image.Transform.AFFINE, (1, 0.7, -9.8, 0, 1, 0), Image.Resampling.BILINEAR
    )
    heavy = slanted.filter(ImageFilter.MaxFilter(3))
    return np.asarray(heavy, dtype=np.uint8)


def number_images(n: int, length: int, seed: int = 5) -> list[str]:
    """``n`` canvases of ``length``-digit numbers (sample test digits on the 3:1 pad)."""
    with np.load(SAMPLE) as data:
        numbers = number_set(data["x_test"], data["y_test"], n, seed, (length, length))
    return ["data:image/png;base64," + base64.b64encode(n.png).decode() for n in numbers]


def canvas_images(
    key: str, n: int, offset: int = 0, style: Callable[[np.ndarray], np.ndarray] | None = None
) -> tuple[list[str], list[int]]:
    """``n`` digits of the sample's ``key`` split as data URLs, with their labels."""
    with np.load(SAMPLE) as data:
        x, y = data[f"x_{key}"][offset : offset + n], data[f"y_{key}"][offset : offset + n]
    if style is not None:
        x = np.stack([style(d) for d in x])
    urls = ["data:image/png;base64," + base64.b64encode(render_canvas_png(d)).decode() for d in x]
    return urls, [int(label) for label in y]
