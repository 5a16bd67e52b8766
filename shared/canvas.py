"""What the models read from one canvas: the whole of it as one digit, and its digits.

Web reads every canvas this way: the whole canvas through the MNIST recipe
(``shared.imaging``), as single-digit clients expect, and each digit that
``shared.segmentation`` finds on it, with the ways an unsure group may be read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from shared.errors import CanvasTooWide, EmptyCanvas, TooManyDigits
from shared.imaging import (
    MAX_IMAGES,
    check_readable,
    decode_data_url,
    ink_from_image,
    load_png,
    to_mnist,
)
from shared.segmentation import Box, ink_box, segment

#: A canvas may be at most this many times as wide as it is high (a row of digits).
MAX_ASPECT = 8
#: Canvases are segmented at about this height (an integer factor down from theirs).
WORK_HEIGHT = 140


@dataclass(frozen=True)
class Canvas:
    """What the models read from one canvas, and the ways its digits may be read.

    ``images[0]`` is the whole canvas as one digit; the others are digits found on it.
    ``readings`` holds, per group of strokes left to right, the ways to read the group as
    lists of indices into ``images``: the one segmentation prefers first, then the others
    (cut elsewhere, cut in two, slanted, or left whole; at most
    ``shared.number_reading.MAX_WAYS`` in all). The predict worker keeps, per group, the
    reading whose least sure digit is surest (``shared.number_reading.choose``).
    """

    images: list[np.ndarray]
    #: The box of each image on the canvas (x0, y0, x1, y1); the whole canvas's ink first.
    boxes: list[Box]
    readings: list[list[list[int]]]

    @property
    def whole(self) -> np.ndarray:
        return self.images[0]


def preprocess_canvas_png(
    png: bytes,
    max_side: int,
    max_parts: int,
    max_pixels: int | None = None,
    readable: bool = False,
) -> Canvas:
    """PNG bytes to the whole canvas as one 28x28 digit plus the digits found on it.

    ``readable``: refuse ink too small to read (``imaging.check_readable``), as web does.
    """
    image = load_png(png, max_side, max_pixels)
    width, height = image.size
    if width > MAX_ASPECT * height:
        raise CanvasTooWide(
            f"the canvas is {width}x{height}; it may be at most {MAX_ASPECT} times as wide as high"
        )
    ink = ink_from_image(image)
    if readable:
        check_readable(ink)
    whole = to_mnist(ink)
    work, scale = working_ink(ink)
    groups, all_ink = segment(work, max_parts)
    if 1 + sum(len(way) for ways in groups for way in ways) > MAX_IMAGES:
        # Each group read several ways: more images than the worker takes for one canvas.
        raise TooManyDigits(
            f"the canvas holds more digits than can be read (over {MAX_IMAGES} images)"
        )
    whole_box = ink_box(ink) or (0, 0, width, height)  # to_mnist found ink: never the default
    if len(groups) == 1 and len(groups[0]) == 1 and len(groups[0][0]) == 1 and all_ink:
        # One digit, all the ink: it reads as the whole canvas does, no second image.
        return Canvas([whole], [whole_box], [[[0]]])
    images, boxes, readings = [whole], [whole_box], []
    for ways in groups:
        indices = []
        for way in ways:
            try:
                digits = [to_mnist(part.ink) for part in way]
            except EmptyCanvas:  # a sliver left by a cut: not a way to read it
                continue
            indices.append(list(range(len(images), len(images) + len(digits))))
            images += digits
            boxes += [_scaled(part.box, scale, width, height) for part in way]
        if indices:
            readings.append(indices)
    return Canvas(images, boxes, readings or [[[0]]])


def working_ink(ink: np.ndarray) -> tuple[np.ndarray, int]:
    """``ink`` at the resolution it is segmented at, and the factor it was reduced by.

    A digit's 28x28 image comes from a 20 px box, so even the draw page's 840x280 holds
    about four times the pixels segmentation needs (a client's 2x canvas, sixteen).
    """
    scale = max(1, ink.shape[0] // WORK_HEIGHT)
    return (np.asarray(Image.fromarray(ink).reduce(scale)) if scale > 1 else ink), scale


def _scaled(box: Box, scale: int, width: int, height: int) -> Box:
    """A box found at the working resolution, in the posted image's pixels."""
    x0, y0, x1, y1 = box
    return (x0 * scale, y0 * scale, min(width, x1 * scale), min(height, y1 * scale))


def preprocess_canvas_data_url(
    data_url: object, max_bytes: int, max_side: int, max_parts: int, max_pixels: int | None = None
) -> Canvas:
    """Validate and preprocess a canvas data URL that may hold several digits."""
    png = decode_data_url(data_url, max_bytes)
    return preprocess_canvas_png(png, max_side, max_parts, max_pixels)
