"""What several test modules share: paths, the admin header, images, waiting for results
and a stack of a test's own.

Apart: loopback ports (tests/ports.py) and the services (tests/processes.py), digits as
strokes (tests/strokes.py), challenger races (tests/races.py), a fine-tune seen training
(tests/fine_tunes.py), and what the browser tests share (tests/browser/pages.py,
tests/browser/model_listings.py).
"""

from __future__ import annotations

import base64
import io
import os
import signal
import struct
import time
import zlib
from pathlib import Path

import numpy as np
from flask import Flask
from PIL import Image, ImageDraw

from shared import fine_tune_jobs
from shared.imaging import ink_canvas_png, render_canvas_png
from tests import processes
from tests.processes import wait_for
from web import client_ids

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


def predict(client, digit: np.ndarray) -> dict:
    """An MNIST-style digit drawn on a canvas, read through the API to the end."""
    answer = client.post("/api/predictions", json={"image": data_url(render_canvas_png(digit))})
    assert answer.status_code == 202
    done = wait_done(client, answer.get_json()["status_url"])
    assert done["status"] == "done", done
    return done


def run_fine_tune(client) -> dict:
    """Start a fine-tune as the admin and wait for its outcome, watching progress move."""
    answer = client.post("/api/fine-tunes", headers=ADMIN)
    assert answer.status_code == 202, answer.get_json()
    status_url = answer.get_json()["status_url"]
    seen_progress = []

    def finished():
        job = client.get(status_url).get_json()
        seen_progress.append(job.get("step", 0))
        return job if job["status"] in fine_tune_jobs.FINISHED else None

    job = wait_for(finished, 300, "fine-tune outcome")
    assert job["status"] != "failed", job
    assert job["total"] > 0 and max(seen_progress) > 0
    return job


def hand_drawn(
    strokes: list[list[tuple[float, float]]], size: tuple[int, int] = (280, 280), pen: int = 18
) -> bytes:
    """A canvas PNG with each stroke (points in canvas pixels) drawn with a round pen."""
    ink = Image.new("L", size, 0)
    draw = ImageDraw.Draw(ink)
    for stroke in strokes:
        draw.line(stroke, fill=255, width=pen, joint="curve")
        for x, y in (stroke[0], stroke[-1]):
            draw.ellipse((x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2), fill=255)
    return ink_canvas_png(ink)


def procfile() -> dict[str, str]:
    """The Procfile's processes: name to command line."""
    processes = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, command = line.partition(":")
            processes[name.strip()] = command.strip()
    return processes


def keys_written(client) -> list[bytes]:
    """Keys in a Redis database, but Celery's own bindings (``_kombu.*``): those appear
    whenever a background worker ping lands, not because a request wrote anything; nor
    web's count of requests that came without the trusted proxy's entry (the test client
    sends none), which records how a request arrived, not what it sent."""
    ignored = client_ids.BYPASS_KEY.encode()
    return sorted(
        key for key in client.keys("*") if not key.startswith(b"_kombu.") and key != ignored
    )


# -- a stack of its own, for tests that stop or break its parts (test_faults, test_security) --


def stack(redis_url: str, storage_url: str, s3_url: str = "", **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        REDIS_URL=redis_url,
        STORAGE_URL=storage_url,
        S3_ENDPOINT_URL=s3_url,
        WEIGHTS_DIR=str(ROOT / "models"),
        RATE_LIMITS_ENABLED="false",
        ADMIN_TOKEN=ADMIN_TOKEN,
        FINE_TUNE_EVERY="100000",
        MNIST_PATH=str(SAMPLE),
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def web(env: dict[str, str]) -> Flask:
    from web import create_app

    return create_app({"TESTING": True, "SETTINGS_ENV": env})


class Workers:
    """Celery workers this test starts; each is ended by its process id at teardown."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[processes.Service] = []

    def start(self, env: dict[str, str], queues: str, name: str) -> processes.Service:
        logfile = self.tmp_path / f"{name}-{len(self.started)}.log"
        worker = processes.start_celery_worker(
            env, queues, logfile, name, concurrency=1, redis_url=env["REDIS_URL"], timeout=90
        )
        self.started.append(worker)
        return worker

    def stop_all(self) -> None:
        # Their Redis and store die with the test: no need to wait for a warm shutdown.
        for worker in self.started:
            if worker.proc.poll() is None:
                sigkill(worker)


def sigkill(service: processes.Service) -> None:
    """SIGKILL the worker and its pool children (its own process group), as a crash would."""
    os.killpg(service.proc.pid, signal.SIGKILL)
    service.proc.wait(10)
