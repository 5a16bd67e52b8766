"""What several test modules share: paths, the admin header, images and waiting for results."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import signal
import struct
import time
import zlib
from pathlib import Path

import numpy as np
from flask import Flask
from PIL import Image, ImageDraw

from shared import fine_tune_jobs, prediction_records, registry
from shared.imaging import ink_canvas_png, render_canvas_png
from shared.storage import LocalStore
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


#: What shows that each page's script has drawn what it loads: (selector, text or None).
PAGE_READY: dict[str, tuple[str, re.Pattern[str] | None]] = {
    "/": ("#undo", None),
    "/collect": ("#saved-count", re.compile(r"\d")),
    "/models": ("#cnn-current", re.compile(r"^v\d+$")),
    "/samples": ("#samples-summary", re.compile(r"\w")),
    "/stats": ("#stat-workers", re.compile(r"^\d+$")),
    "/about": ("#step-store", None),
    "/forget": ("#forget-status", re.compile(r"\w")),
    "/no-such-page": ("h1", None),
}


def touch_drag(page, points: list[tuple[float, float]], steps: int = 12) -> None:
    """A one-finger drag through ``points`` (fractions of the canvas), sent as real touches
    (``steps`` moves per segment: few make a fast flick)."""
    box = page.locator("#canvas").bounding_box()
    assert box is not None
    cdp = page.context.new_cdp_session(page)

    def at(fx: float, fy: float) -> list[dict[str, float]]:
        return [{"x": box["x"] + fx * box["width"], "y": box["y"] + fy * box["height"], "id": 1}]

    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": at(*points[0])})
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        for step in range(1, steps + 1):
            f = step / steps
            point = at(x0 + (x1 - x0) * f, y0 + (y1 - y0) * f)
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": point})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


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


# -- challenger races (test_challenger, test_race_evidence) ----------------------------------


def address(index: int) -> str:
    """The address of client number ``index`` behind the trusted proxy: the first octets
    differ, so no two share a client id whatever prefix ids are keyed by."""
    return f"{11 + index % 89}.{index // 89 % 256}.7.1"


def publish_copy(store, name: str, files: dict[str, bytes], metrics: dict) -> int:
    """A new complete version of ``name`` made of ``files``; its number."""
    version = registry.next_version(store, name)
    registry.publish_version(store, name, version, files, metrics)
    return version


def bad_model_bytes() -> bytes:
    """A network that was never trained: it reads digits at chance (needs the train extra)."""
    import keras

    from worker.trainer.builders import build_fnn
    from worker.trainer.conversion import to_tflite

    keras.utils.set_random_seed(3)
    return to_tflite(build_fnn(hidden_units=16))


class RaceStack:
    """Web (in-process), a predict worker and a store of their own, with small races."""

    def __init__(self, stack_env, valkey, tmp_path: Path, database: int, **extra: str) -> None:
        self.env = dict(
            stack_env,
            REDIS_URL=valkey.url.rsplit("/", 1)[0] + f"/{database}",
            STORAGE_URL=str(tmp_path / "store"),
            CHALLENGER_PAIRS="20",
            MODEL_CHECK_INTERVAL="0.2",
            **extra,
        )
        self.tmp_path = tmp_path
        self.store = LocalStore(tmp_path / "store")
        self.current = registry.ensure_initial_versions(self.store, ROOT / "models")
        self.worker = self.start_worker("a")
        self.app = web(self.env)
        self.client = self.app.test_client()
        self.redis = self.app.extensions["digits"].redis

    def start_worker(self, tag: str) -> processes.Service:
        return processes.start_celery_worker(
            self.env, "predict,samples", self.tmp_path / f"worker-{tag}.log", f"race-{tag}",
            concurrency=2, redis_url=self.env["REDIS_URL"], pool="threads",
        )  # fmt: skip

    def files(self, name: str, version: int) -> dict[str, bytes]:
        key = registry.version_key
        return {f: self.store.get_bytes(key(name, version, f)) for f in registry.ARTIFACTS}

    def predict(self, digit: np.ndarray) -> dict:
        return predict(self.client, digit)

    def feedback(self, job_id: str, label: int, client: int = 0, consent: bool = True) -> int:
        """A label from client number ``client``; consented unless told (a consented label
        stores its drawing, and only it races)."""
        sent = self.client.post(
            f"/api/predictions/{job_id}/feedback",
            json={"label": label, "consent": consent},
            headers={"X-Forwarded-For": address(client)},
        )
        return sent.status_code

    def challenger(self, name: str) -> dict | None:
        return self.client.get("/api/models").get_json()["models"][name]["challenger"]

    def wait_shadow(self, name: str, version: int, digit: np.ndarray) -> None:
        """Until the worker has loaded the challenger (it checks every 0.2 s)."""

        def shadowed() -> bool:
            done = self.predict(digit)
            outcome = json.loads(prediction_records.read(self.redis, done["id"])["outcome"])
            return outcome["result"].get("shadow", {}).get(name, {}).get("version") == version

        wait_for(shadowed, 30, "the challenger's shadow answers")

    def close(self) -> None:
        self.worker.stop()
        self.redis.flushdb()


def label_traffic(stack: RaceStack, digits, labels, count: int, first_client: int = 0) -> None:
    """``count`` predictions, each answered with its true label by a client of its own
    (numbers from ``first_client`` on)."""
    for index, (digit, label) in enumerate(list(zip(digits, labels, strict=True))[:count]):
        done = stack.predict(digit)
        assert stack.feedback(done["id"], int(label), first_client + index) == 202
