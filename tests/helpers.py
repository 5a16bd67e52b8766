"""What several test modules share: paths, the admin header, images and waiting for results."""

from __future__ import annotations

import base64
import io
import struct
import time
import zlib
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "data" / "mnist_sample.npz"
BUCKET = "digits-test"
ADMIN_TOKEN = "test-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
#: Screenshots and logs the browser tests leave for a person to look at (not committed).
ARTIFACTS = ROOT / "tests" / "artifacts"


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def empty_canvas() -> str:
    buffer = io.BytesIO()
    Image.new("RGBA", (280, 280), (0, 0, 0, 0)).save(buffer, format="PNG")
    return data_url(buffer.getvalue())


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that claims huge dimensions: the shape of a decompression bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 1024, 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def wait_done(client, status_url: str, timeout: float = 60) -> dict:
    """Long-poll a prediction through a Flask test client until it is done or failed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = client.get(status_url + "?wait=5")
        assert answer.status_code == 200, answer.get_json()
        body = answer.get_json()
        assert body["status"] in {"queued", "running", "done", "failed"}
        if body["status"] in {"done", "failed"}:
            return body
    raise AssertionError(f"{status_url} not finished in {timeout} s")


def procfile() -> dict[str, str]:
    """The Procfile's processes: name to command line."""
    processes = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, command = line.partition(":")
            processes[name.strip()] = command.strip()
    return processes


def draw_stroke(page, points: list[tuple[float, float]]) -> None:
    """Drag the mouse through ``points`` (fractions of the canvas) with the button down."""
    box = page.locator("#canvas").bounding_box()
    x0, y0 = box["x"], box["y"]
    first = points[0]
    page.mouse.move(x0 + first[0] * box["width"], y0 + first[1] * box["height"])
    page.mouse.down()
    for fx, fy in points[1:]:
        page.mouse.move(x0 + fx * box["width"], y0 + fy * box["height"], steps=12)
    page.mouse.up()
