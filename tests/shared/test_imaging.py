"""Preprocessing: canvas PNG to the 28x28 MNIST-style image, and every way input is refused."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from shared import errors
from shared.imaging import (
    decode_data_url,
    decode_pixels,
    encode_pixels,
    png_bytes,
    png_data_url,
    preprocess_data_url,
    preprocess_png,
    render_canvas_png,
)
from tests.helpers import png_header_only

MAX_BYTES = 1_000_000


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def canvas_png(draw_fn, size: tuple[int, int] = (280, 280), mode: str = "RGBA") -> bytes:
    """A canvas as the browser exports it: transparent, dark strokes drawn by ``draw_fn``."""
    background = (0, 0, 0, 0) if mode == "RGBA" else (255, 255, 255)
    image = Image.new(mode, size, background)
    draw_fn(ImageDraw.Draw(image))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def bbox(pixels: np.ndarray) -> tuple[int, int]:
    rows = np.flatnonzero((pixels > 40).any(axis=1))
    cols = np.flatnonzero((pixels > 40).any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def centre_of_mass(pixels: np.ndarray) -> tuple[float, float]:
    ys, xs = np.indices(pixels.shape)
    total = pixels.sum()
    return float((ys * pixels).sum() / total), float((xs * pixels).sum() / total)


def test_transparent_background_becomes_black_and_strokes_white(mnist_sample):
    out = preprocess_png(render_canvas_png(mnist_sample["x_test"][0]))
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert out[0].max() == 0 and out[-1].max() == 0 and out[:, 0].max() == 0
    assert out.max() > 200


def best_shifted_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation allowing a one-pixel misalignment (centring rounds to whole pixels)."""
    return max(
        float(np.corrcoef(a.ravel(), np.roll(b, (dy, dx), axis=(0, 1)).ravel())[0, 1])
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
    )


def test_preprocessed_canvas_resembles_the_original_mnist_digit(mnist_sample):
    digits = mnist_sample["x_test"][:20].astype(np.float32)
    outs = [preprocess_png(render_canvas_png(d)).astype(np.float32) for d in digits]
    correlations = [best_shifted_correlation(a, b) for a, b in zip(digits, outs, strict=True)]
    assert np.median(correlations) > 0.8, correlations


def test_off_centre_digit_is_centred_by_mass(mnist_sample):
    out = preprocess_png(
        render_canvas_png(mnist_sample["x_test"][1], digit_height=90, offset=(-90, 80))
    )
    com_y, com_x = centre_of_mass(out.astype(np.float64))
    assert abs(com_y - 13.5) < 1.0 and abs(com_x - 13.5) < 1.0


def test_tiny_digit_is_scaled_up_to_the_20px_box():
    png = canvas_png(
        lambda d: d.line([(100, 100), (100, 112), (108, 112)], fill=(0, 0, 0, 255), width=2)
    )
    height, width = bbox(preprocess_png(png))
    assert max(height, width) in (19, 20, 21)


def test_wide_digit_keeps_its_aspect_ratio():
    png = canvas_png(lambda d: d.rectangle([20, 130, 260, 150], fill=(17, 17, 17, 255)))
    height, width = bbox(preprocess_png(png))
    assert width >= 19 and height <= 4


def test_opaque_white_background_png_is_read_the_same_way():
    png = canvas_png(
        lambda d: d.ellipse([80, 60, 200, 220], outline=(0, 0, 0), width=18), mode="RGB"
    )
    out = preprocess_png(png)
    assert out[0].max() == 0 and out.max() > 200
    assert max(bbox(out)) in (19, 20, 21)


def test_empty_canvas_is_rejected():
    with pytest.raises(errors.EmptyCanvas):
        preprocess_png(canvas_png(lambda d: None))


def test_a_stray_dot_is_an_empty_canvas():
    with pytest.raises(errors.EmptyCanvas):
        preprocess_png(canvas_png(lambda d: d.point([(5, 5)], fill=(0, 0, 0, 255))))


def test_one_pixel_image_is_too_small():
    with pytest.raises(errors.ImageTooSmall):
        preprocess_png(canvas_png(lambda d: None, size=(1, 1)))


def test_huge_dimensions_are_refused_before_decoding():
    bomb = png_header_only(20_000, 20_000)
    assert len(bomb) < 1_000  # a tiny file that would decode to 400 MB
    with pytest.raises(errors.ImageTooLarge):
        preprocess_png(bomb, max_side=2048)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (None, errors.InvalidImage),
        (42, errors.InvalidImage),
        ("hello", errors.InvalidImage),
        ("data:image/jpeg;base64,/9j/4AAQ", errors.UnsupportedImage),
        ("data:image/png;base64,@@@not-base64@@@", errors.InvalidImage),
        (
            "data:image/png;base64," + base64.b64encode(b"GIF89a....").decode(),
            errors.UnsupportedImage,
        ),
        ("data:image/png;base64," + "A" * 2_000_000, errors.ImageTooLarge),
    ],
)
def test_malformed_data_urls_get_a_clear_error(value, error):
    with pytest.raises(error):
        decode_data_url(value, MAX_BYTES)


def test_truncated_png_is_refused():
    png = canvas_png(lambda d: d.ellipse([80, 60, 200, 220], outline=(0, 0, 0, 255), width=18))
    with pytest.raises(errors.DigitsError):
        preprocess_data_url(data_url(png[: len(png) // 2]), MAX_BYTES, 2048)


def test_pixels_round_trip_through_a_task_argument(mnist_sample):
    digit = mnist_sample["x_test"][3]
    assert np.array_equal(decode_pixels(encode_pixels(digit)), digit)
    with pytest.raises(errors.InvalidImage):
        decode_pixels("AAAA")


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 40).flatmap(
        lambda h: st.integers(1, 40).flatmap(
            lambda w: st.binary(min_size=h * w, max_size=h * w).map(
                lambda b: np.frombuffer(b, np.uint8).reshape(h, w)
            )
        )
    )
)
def test_previews_are_pngs_that_pillow_reads_back_pixel_for_pixel(pixels):
    image = Image.open(io.BytesIO(png_bytes(pixels)))
    image.load()  # checks every chunk's CRC and the compressed data
    assert image.format == "PNG" and image.mode == "L"
    assert np.array_equal(np.asarray(image), pixels)
    url = png_data_url(pixels)
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == png_bytes(pixels)


def test_a_preview_is_one_2d_image(mnist_sample):
    with pytest.raises(ValueError):
        png_bytes(mnist_sample["x_test"][:2])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_escape_as_anything_but_a_digits_error(payload):
    try:
        preprocess_data_url(data_url(b"\x89PNG\r\n\x1a\n" + payload), MAX_BYTES, 2048)
    except errors.DigitsError:
        pass
