"""Canvas-like augmentation of MNIST-style digits, numpy only, and the Keras dataset that serves it.

Users draw with a mouse or a finger, so their digits differ from MNIST in stroke width,
slant, aspect ratio and wobble. Every augmented digit is normalised again with the same
MNIST recipe the web preprocessing uses, so the models train on what they will see.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from shared.errors import EmptyCanvas
from shared.imaging import to_mnist
from worker.trainer.mnist import SIZE, to_inputs

_CENTRE = (SIZE - 1) / 2


def _shifted_max(x: np.ndarray) -> np.ndarray:
    """Grey dilation with a 3x3 cross: strokes grow by about one pixel on each side."""
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    return np.maximum.reduce(
        [
            padded[:, 1:-1, 1:-1],
            padded[:, :-2, 1:-1],
            padded[:, 2:, 1:-1],
            padded[:, 1:-1, :-2],
            padded[:, 1:-1, 2:],
        ]
    )


def _vary_thickness(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blend towards a dilated or eroded copy: continuous pen widths, thin to bold."""
    amount = rng.uniform(-0.5, 1.3, size=(len(x), 1, 1)).astype(np.float32)
    thick = _shifted_max(x)
    thicker = _shifted_max(thick)
    thin = -_shifted_max(-x)
    grown = np.where(
        amount <= 1, x + amount * (thick - x), thick + (amount - 1) * (thicker - thick)
    )
    shrunk = x + (-amount) * (thin - x)
    return np.where(amount >= 0, grown, shrunk)


def _bilinear(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Sample each image at fractional coordinates; outside the image is background."""
    n = len(x)
    r0, c0 = np.floor(rows).astype(np.int64), np.floor(cols).astype(np.int64)
    fr, fc = (rows - r0).astype(np.float32), (cols - c0).astype(np.float32)
    batch = np.arange(n)[:, None, None]
    out = np.zeros(rows.shape, dtype=np.float32)
    for dr, dc, weight in (
        (0, 0, (1 - fr) * (1 - fc)),
        (0, 1, (1 - fr) * fc),
        (1, 0, fr * (1 - fc)),
        (1, 1, fr * fc),
    ):
        r, c = r0 + dr, c0 + dc
        inside = (r >= 0) & (r < SIZE) & (c >= 0) & (c < SIZE)
        values = x[batch, np.clip(r, 0, SIZE - 1), np.clip(c, 0, SIZE - 1)]
        out += np.where(inside, values, 0) * weight
    return out


def _elastic_field(n: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Smooth random displacements: a coarse 4x4 grid of offsets, bilinearly upsampled."""
    grid = rng.normal(0.0, strength, size=(n, 2, 4, 4)).astype(np.float32)
    pos = np.linspace(0, 3, SIZE, dtype=np.float32)
    i0 = np.minimum(np.floor(pos).astype(np.int64), 2)
    f = pos - i0
    # separable linear interpolation along rows then columns
    rows = (
        grid[:, :, i0, :] * (1 - f)[None, None, :, None]
        + grid[:, :, i0 + 1, :] * f[None, None, :, None]
    )
    return rows[:, :, :, i0] * (1 - f) + rows[:, :, :, i0 + 1] * f


def _warp(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random rotation, scale, aspect, shear and shift, plus elastic wobble on 40 % of digits."""
    n = len(x)
    angle = np.radians(rng.uniform(-12, 12, n))
    scale = rng.uniform(0.85, 1.15, n)
    aspect = np.exp(rng.uniform(-0.15, 0.15, n))
    shear = rng.uniform(-0.2, 0.2, n)
    shift = rng.uniform(-2, 2, size=(n, 2))
    cos, sin = np.cos(angle), np.sin(angle)
    # forward map A = R @ Shear @ diag(sx, sy); sample with its inverse
    sx, sy = scale * aspect, scale / aspect
    a = np.stack(
        [
            np.stack([cos * sy, (cos * shear - sin) * sx], -1),
            np.stack([sin * sy, (sin * shear + cos) * sx], -1),
        ],
        -2,
    )
    inv = np.linalg.inv(a).astype(np.float32)
    ys, xs = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    dy = ys[None] - _CENTRE - shift[:, 0, None, None]
    dx = xs[None] - _CENTRE - shift[:, 1, None, None]
    rows = inv[:, 0, 0, None, None] * dy + inv[:, 0, 1, None, None] * dx + _CENTRE
    cols = inv[:, 1, 0, None, None] * dy + inv[:, 1, 1, None, None] * dx + _CENTRE
    field = _elastic_field(n, rng, strength=1.0)
    wobble = (rng.random(n) < 0.4)[:, None, None]
    rows = rows + np.where(wobble, field[:, 0], 0)
    cols = cols + np.where(wobble, field[:, 1], 0)
    return _bilinear(x, rows, cols)


def _renormalise(warped: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Crop, fit to 20 px and centre by mass, as the web does; keep the original if lost."""
    out = np.empty_like(original)
    for i, image in enumerate(np.clip(np.rint(warped), 0, 255).astype(np.uint8)):
        try:
            out[i] = to_mnist(image)
        except EmptyCanvas:
            out[i] = original[i]
    return out


def _jitter(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shift by at most one pixel: centring by mass rounds, so the models must not care."""
    out = np.zeros_like(x)
    shifts = rng.integers(-1, 2, size=(len(x), 2))
    for i, (dy, dx) in enumerate(shifts):
        out[i] = np.roll(x[i], (dy, dx), axis=(0, 1))
    return out


def augment_batch(x_uint8: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Canvas-like variants of MNIST-style digits: (n, 28, 28) uint8 in, same out."""
    x = np.asarray(x_uint8, dtype=np.uint8)
    if len(x) == 0:
        return x.copy()
    ink = _vary_thickness(x.astype(np.float32), rng)
    warped = _warp(ink, rng)
    return _jitter(_renormalise(warped, x), rng)


class AugmentedDigits(keras.utils.PyDataset):
    """Batches of augmented digits, a fresh draw each epoch, reproducible from ``seed``."""

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int = 128,
        seed: int = 0,
        augment_fraction: float = 0.7,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.seed = seed
        self.augment_fraction = augment_fraction
        self.epoch = 0
        self._order = np.random.default_rng([seed, 0]).permutation(len(x))

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        # one generator per (epoch, batch): the same draw whatever thread asks first
        rng = np.random.default_rng([self.seed, self.epoch, index])
        picked = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        x = self.x[picked].copy()
        chosen = rng.random(len(x)) < self.augment_fraction
        if chosen.any():
            x[chosen] = augment_batch(x[chosen], rng)
        return to_inputs(x), self.y[picked]

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.x))
