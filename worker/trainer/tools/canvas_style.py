"""Canvas-style digits: MNIST test digits drawn as a browser canvas exports them, then sent
through the web's preprocessing, to measure the models on what the page sends."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from shared.imaging import ink_canvas_png, preprocess_png

CANVAS_SIDE = 280
#: Side of the rendered 28x28 box on the canvas (the ink is about 20/28 of it).
DIGIT_HEIGHTS = (120, 260)
#: Stroke growth in MNIST pixels: negative thins the pen, positive thickens it.
THICKNESS = (-0.4, 1.0)


def render_canvas_style(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """One MNIST digit as a canvas PNG: random size, place and pen width, dark opaque ink.

    Like ``shared.imaging.render_canvas_png`` but with a pen: strokes are made solid (a
    canvas stroke is opaque with anti-aliased edges) and grown or thinned.
    """
    height = int(rng.integers(DIGIT_HEIGHTS[0], DIGIT_HEIGHTS[1] + 1))
    scale = height / 28
    grow = float(rng.uniform(*THICKNESS))
    radius = int(round(abs(grow) * scale))
    scaled = Image.fromarray(np.asarray(digit, dtype=np.uint8)).resize(
        (height, height), Image.Resampling.BICUBIC
    )
    ink = np.asarray(scaled, dtype=np.float32)
    ink = np.clip((ink - 60.0) * (255.0 / 100.0), 0, 255).astype(np.uint8)  # solid strokes
    pen = Image.fromarray(ink)
    if grow > 0 and radius:
        pen = pen.crop((-radius, -radius, height + radius, height + radius))  # room to grow
    rank = ImageFilter.MaxFilter(3) if grow > 0 else ImageFilter.MinFilter(3)
    for _ in range(radius):
        pen = pen.filter(rank)
    side = max(pen.size)
    room = max(CANVAS_SIDE - side, 0)
    x, y = (int(v) for v in rng.integers(0, room + 1, size=2))
    alpha = Image.new("L", (CANVAS_SIDE, CANVAS_SIDE), 0)
    alpha.paste(pen, (x, y))
    shade = int(rng.integers(0, 60))
    return ink_canvas_png(alpha, shade)


def canvas_style_set(digits: np.ndarray, seed: int) -> np.ndarray:
    """The 28x28 images the models see for canvas renderings of ``digits``."""
    rng = np.random.default_rng(seed)
    return np.stack([preprocess_png(render_canvas_style(d, rng)) for d in digits])
