"""Canvas PNG to the 28x28 image the models see, following the MNIST recipe.

The browser sends ``canvas.toDataURL("image/png")``: RGBA, a fully transparent
background and dark strokes. MNIST digits are white on black, fit in a 20x20 box
(aspect ratio kept) and are centred by centre of mass in 28x28.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import struct
import zlib

import numpy as np
from PIL import Image

from shared.errors import (
    EmptyCanvas,
    ImageTooLarge,
    ImageTooSmall,
    InkTooSmall,
    InvalidImage,
    UnsupportedImage,
)

SIZE = 28
BOX = 20
#: Grey level (0-255, after inversion) above which a pixel counts as ink.
INK_THRESHOLD = 40
#: Most digits one canvas may hold: a number of up to six digits.
MAX_DIGITS = 6
#: Most 28x28 images one prediction sends the models: the whole canvas, then per digit at
#: most nine (shared.segmentation: a group sure to hold several, which may count as one
#: digit, is read cut in two four ways, two straight and two slanted, and whole).
MAX_IMAGES = 1 + 9 * MAX_DIGITS
#: Fewer ink pixels than this is a stray click, not a digit.
MIN_INK_PIXELS = 4
#: Smallest side we accept: a 1x1 or 4x4 "drawing" carries no digit.
MIN_SIDE = 8

_DATA_URL = re.compile(r"^data:image/png;base64,(?P<payload>[A-Za-z0-9+/=\s]*)$")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def decode_data_url(data_url: object, max_bytes: int) -> bytes:
    """Return the PNG bytes inside a ``data:image/png;base64,`` URL, or raise."""
    if not isinstance(data_url, str):
        raise InvalidImage("image must be a string holding a data:image/png;base64 URL")
    if not data_url.startswith("data:"):
        raise InvalidImage("image must be a data URL (data:image/png;base64,...)")
    if not data_url.startswith("data:image/png;"):
        raise UnsupportedImage("only PNG images are accepted (data:image/png;base64,...)")
    # base64 inflates by 4/3: refuse before decoding anything that cannot fit.
    if len(data_url) > max_bytes * 4 // 3 + 64:
        raise ImageTooLarge(f"image is larger than {max_bytes} bytes")
    match = _DATA_URL.match(data_url)
    if match is None:
        raise InvalidImage("image is not a base64 data URL")
    try:
        raw = base64.b64decode(match.group("payload"), validate=False)
    except (binascii.Error, ValueError) as exc:
        raise InvalidImage("image data is not valid base64") from exc
    if len(raw) > max_bytes:
        raise ImageTooLarge(f"image is larger than {max_bytes} bytes")
    if not raw.startswith(_PNG_SIGNATURE):
        raise UnsupportedImage("image bytes are not a PNG")
    return raw


def open_png(png: bytes, max_side: int, max_pixels: int | None = None) -> Image.Image:
    """Open PNG bytes and check their dimensions from the header; no pixel is decoded yet.

    Decoding costs memory and time in proportion to width × height (a 2048x2048 canvas
    took about 70 MB and 100-180 ms), so both caps are checked before a pixel is read.
    """
    try:
        image = Image.open(io.BytesIO(png), formats=["PNG"])
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge("image dimensions are too large") from exc
    except Exception as exc:  # Pillow raises several types for corrupt data
        raise UnsupportedImage("image bytes are not a readable PNG") from exc
    width, height = image.size
    if width > max_side or height > max_side:
        raise ImageTooLarge(f"image is {width}x{height}; each side must be at most {max_side} px")
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLarge(
            f"image is {width}x{height}, {width * height} pixels; at most {max_pixels} are decoded"
        )
    if width < MIN_SIDE or height < MIN_SIDE:
        raise ImageTooSmall(f"image is {width}x{height}; each side must be at least {MIN_SIDE} px")
    return image


def load_png(png: bytes, max_side: int, max_pixels: int | None = None) -> Image.Image:
    """Open PNG bytes, checking dimensions from the header (``open_png``), and decode them."""
    image = open_png(png, max_side, max_pixels)
    try:
        image.load()
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge("image dimensions are too large") from exc
    except Exception as exc:
        raise InvalidImage("image data is truncated or corrupt") from exc
    return image


def ink_from_image(image: Image.Image) -> np.ndarray:
    """Grey ink intensity (0 = paper, 255 = full ink) of any PNG mode."""
    rgba = image.convert("RGBA")
    paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    grey = Image.alpha_composite(paper, rgba).convert("L")
    return 255 - np.asarray(grey, dtype=np.uint8)


#: The ink's longest side must reach this share of the image's shorter side for web to read
#: it: a dot, or a digit a few pixels tall, would be blown up to fill the 28x28 box and
#: read as a confident 0 or 8. On the 280 px pad that is 34 px, about two pen widths.
MIN_INK_SHARE = 0.12


def check_readable(ink: np.ndarray, share: float = MIN_INK_SHARE) -> None:
    """Refuse ink too small to read (422 ``ink_too_small``), and a canvas with none."""
    mask = ink > INK_THRESHOLD
    if int(mask.sum()) < MIN_INK_PIXELS:
        raise EmptyCanvas("the drawing has no ink: draw a digit first")
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    extent = max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)
    if extent < share * min(ink.shape):
        raise InkTooSmall(
            f"the drawing is {extent} px across, too small to read: draw the digit larger "
            f"(at least {round(share * 100)} % of the pad's height)"
        )


def to_mnist(ink: np.ndarray) -> np.ndarray:
    """Crop the ink (uint8), fit its longest side to 20 px and centre by mass in 28x28."""
    return mnist_of_image(Image.fromarray(ink))


#: Pillow's lookup table for "ink" (``point``): a pixel darker than INK_THRESHOLD or not.
_INK_TABLE = [255 if value > INK_THRESHOLD else 0 for value in range(256)]


def mnist_of_image(ink: Image.Image, drawn: bool = False) -> np.ndarray:
    """``to_mnist`` of ink as a Pillow "L" image: the count, the crop and the resize in
    Pillow, the 28x28 in NumPy (a drawing's ink, about 128 px across, never becomes an
    array: ``shared.stroke_render.mnist_image``).

    ``drawn``: the ink was drawn without anti-aliasing, each pixel paper (0) or a full
    stroke, so its own box is its ink's and no count is needed (its pen is several pixels
    wide); the threshold's table cost a third of this function."""
    if drawn:
        found = ink.getbbox()
    elif sum(ink.histogram()[INK_THRESHOLD + 1 :]) < MIN_INK_PIXELS:
        found = None
    else:
        found = ink.point(_INK_TABLE).getbbox() or (0, 0, 0, 0)
    if found is None:
        raise EmptyCanvas("the drawing has no ink: draw a digit first")
    left, top, right, bottom = found
    height, width = bottom - top, right - left
    scale = BOX / max(height, width)
    new_w = max(1, round(width * scale))
    new_h = max(1, round(height * scale))
    # BOX filter = area averaging, the anti-aliasing MNIST's normalisation used.
    crop = ink.crop((left, top, right, bottom))
    resized = crop.resize((new_w, new_h), Image.Resampling.BOX)
    digit = np.frombuffer(resized.tobytes(), dtype=np.uint8).reshape(new_h, new_w)

    top, left = (SIZE - new_h) // 2, (SIZE - new_w) // 2
    total = float(digit.sum(dtype=np.float64))
    if total <= 0:
        raise EmptyCanvas("the drawing has no ink: draw a digit first")
    # The centre of mass from the digit's row and column sums: no 28x28 index grids.
    com_y = top + float(digit.sum(axis=1, dtype=np.float64) @ np.arange(new_h)) / total
    com_x = left + float(digit.sum(axis=0, dtype=np.float64) @ np.arange(new_w)) / total
    # Shift so the centre of mass lands on the image centre, keeping the box inside.
    shift_y = min(max(round((SIZE - 1) / 2 - com_y), -top), SIZE - new_h - top)
    shift_x = min(max(round((SIZE - 1) / 2 - com_x), -left), SIZE - new_w - left)
    out = np.zeros((SIZE, SIZE), dtype=np.uint8)
    out[top + shift_y : top + shift_y + new_h, left + shift_x : left + shift_x + new_w] = digit
    return out


def preprocess_png(
    png: bytes, max_side: int = 2048, max_pixels: int | None = None, readable: bool = False
) -> np.ndarray:
    """PNG bytes (as a canvas exports them) to a 28x28 uint8 MNIST-style image.

    ``readable``: refuse ink too small to read (web's requests; training data is made
    at sizes of its own choosing).
    """
    ink = ink_from_image(load_png(png, max_side, max_pixels))
    if readable:
        check_readable(ink)
    return to_mnist(ink)


def preprocess_data_url(
    data_url: object, max_bytes: int, max_side: int, max_pixels: int | None = None
) -> np.ndarray:
    """Validate and preprocess a canvas data URL in one step."""
    return preprocess_png(decode_data_url(data_url, max_bytes), max_side, max_pixels)


def png_bytes(pixels: np.ndarray) -> bytes:
    """Encode a 2-D uint8 array as an 8-bit greyscale PNG.

    Written here rather than by Pillow: every answer carries two or more 28x28 previews,
    and Pillow's save machinery took about 170 us for each against 30 us for these three
    chunks (``python -m bench.previews``). Pillow reads them back in the tests.
    """
    image = np.asarray(pixels, dtype=np.uint8)
    if image.ndim != 2:
        raise ValueError(f"a PNG preview is one 2-D image, not shape {image.shape}")
    height, width = image.shape
    rows = np.zeros((height, width + 1), np.uint8)  # each row starts with filter type 0
    rows[:, 1:] = image
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey, no interlace
    return b"".join(
        (
            _PNG_SIGNATURE,
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)),
            _png_chunk(b"IEND", b""),
        )
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_data_url(pixels: np.ndarray) -> str:
    """Encode a 2-D uint8 array as a PNG data URL (the ``preview`` of a result)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(pixels)).decode("ascii")


def encode_pixels(pixels: np.ndarray) -> str:
    """28x28 uint8 (or several, stacked) to a compact JSON-safe string for a task argument."""
    return base64.b64encode(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()).decode("ascii")


def decode_digits(text: str, max_count: int) -> np.ndarray:
    """Inverse of :func:`encode_pixels` for 1 to ``max_count`` stacked 28x28 images.

    Raises InvalidImage on anything else.
    """
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidImage("pixels are not base64") from exc
    count, rest = divmod(len(raw), SIZE * SIZE)
    if rest or not 1 <= count <= max_count:
        raise InvalidImage(
            f"pixels must be 1 to {max_count} images of {SIZE * SIZE} bytes, got {len(raw)} bytes"
        )
    return np.frombuffer(raw, dtype=np.uint8).reshape(count, SIZE, SIZE)


def decode_pixels(text: str) -> np.ndarray:
    """Inverse of :func:`encode_pixels` for one 28x28 image; raises InvalidImage otherwise."""
    return decode_digits(text, 1)[0]


def render_canvas_png(
    digit: np.ndarray,
    canvas_side: int = 280,
    digit_height: int = 200,
    offset: tuple[int, int] = (0, 0),
) -> bytes:
    """Render a 28x28 MNIST digit the way a browser canvas would export it.

    Dark strokes on a transparent RGBA background: the ink goes into alpha.
    Used by tests and by the canvas-style evaluation.
    """
    scaled = Image.fromarray(np.asarray(digit, dtype=np.uint8)).resize(
        (digit_height, digit_height), Image.Resampling.BICUBIC
    )
    alpha = Image.new("L", (canvas_side, canvas_side), 0)
    x = (canvas_side - digit_height) // 2 + offset[0]
    y = (canvas_side - digit_height) // 2 + offset[1]
    alpha.paste(scaled, (x, y))
    return ink_canvas_png(alpha)


def ink_canvas_png(ink: Image.Image, shade: int = 17) -> bytes:
    """Ink (mode "L", 255 = full stroke) as a canvas PNG: grey ``shade`` strokes in alpha, on
    a fully transparent background, as ``canvas.toDataURL("image/png")`` exports them."""
    rgba = Image.new("RGBA", ink.size, (shade, shade, shade, 0))
    rgba.putalpha(ink)
    buffer = io.BytesIO()
    rgba.save(buffer, format="PNG")
    return buffer.getvalue()
