"""CPU per 28x28 preview PNG: Pillow's encoder against ``shared.imaging.png_bytes``.

Every answer carries a preview of the whole canvas and one per digit, rendered by web
when it answers; ``python -m bench.previews`` prints microseconds per image of each.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable

import numpy as np
from PIL import Image

from bench.inference import digits
from shared.imaging import png_bytes


def pillow_png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def cpu_us(encode: Callable[[np.ndarray], bytes], images: np.ndarray, rounds: int) -> float:
    for image in images:
        encode(image)  # warm up
    started = time.process_time()
    for _ in range(rounds):
        for image in images:
            encode(image)
    return (time.process_time() - started) * 1e6 / (rounds * len(images))


def main() -> None:
    images = digits(32)
    figures = {
        name: {
            "us_per_image": round(cpu_us(encode, images, 100), 1),
            "bytes_per_image": sum(len(encode(i)) for i in images) / len(images),
        }
        for name, encode in (("pillow", pillow_png), ("png_bytes", png_bytes))
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
