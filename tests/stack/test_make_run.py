"""`make run`'s supervisor: embedded valkey, the Procfile's processes, stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx

from shared.imaging import render_canvas_png
from tests.helpers import ROOT, data_url
from tests.ports import free_port
from tests.processes import process_tree, wait_for, wait_until


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_make_run_serves_a_prediction_and_stops_every_child_on_sigterm(tmp_path, mnist_sample):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "STORAGE_URL"}}
    env.update(PORT=str(port), STORAGE_URL=str(tmp_path / "store"), WORKER_CONCURRENCY="2")
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "scripts/run.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    children: set[int] = set()
    try:
        wait_until(lambda: httpx.get(f"{base}/healthz").status_code == 200, 90, "make run", proc)
        children = set(process_tree(proc.pid)) - {proc.pid}
        assert len(children) >= 4  # honcho, valkey, web, worker, trainer and their children
        digit = mnist_sample["x_test"][0]
        answer = httpx.post(
            f"{base}/api/predictions", json={"image": data_url(render_canvas_png(digit))}
        )
        assert answer.status_code == 202
        status_url = base + answer.json()["status_url"]

        def done() -> dict | None:
            body = httpx.get(status_url, params={"wait": 5}, timeout=10).json()
            return body if body["status"] == "done" else None

        result = wait_for(done, 60, "prediction through make run")["result"]
        assert result["cnn"]["digit"] == int(mnist_sample["y_test"][0])
        assert result["cnn"]["version"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(40)
        log.close()
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [pid for pid in children if alive(pid)]
    for pid in left:  # only ours: children of the supervisor this test started
        os.kill(pid, signal.SIGKILL)
    assert not left, (tmp_path / "run.log").read_text()[-3000:]


def start_make_run(tmp_path, port: int, log_name: str) -> tuple[subprocess.Popen, object]:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "STORAGE_URL"}}
    env.update(PORT=str(port), STORAGE_URL=str(tmp_path / "store"), WORKER_CONCURRENCY="2")
    log = open(tmp_path / log_name, "wb")  # noqa: SIM115 - closed by the caller
    proc = subprocess.Popen(
        [sys.executable, "scripts/run.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: httpx.get(f"{base}/healthz").status_code == 200, 90, "make run", proc)
    return proc, log


def test_make_run_stops_cleanly_with_samples_in_flight(tmp_path, mnist_sample):
    """SIGTERM right after 20 samples were accepted: nothing half written, none lost."""
    port = free_port()
    proc, log = start_make_run(tmp_path, port, "run.log")
    ids = []
    try:
        for digit, label in zip(
            mnist_sample["x_test"][:20], mnist_sample["y_test"][:20], strict=True
        ):
            answer = httpx.post(
                f"http://127.0.0.1:{port}/api/samples",
                json={"image": data_url(render_canvas_png(digit)), "label": int(label)},
            )
            assert answer.status_code == 202
            ids.append(answer.json()["id"])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        log.close()
    text = (tmp_path / "run.log").read_text()
    assert "SIGKILL" not in text, text[-3000:]  # every process stopped in its own time
    store = tmp_path / "store" / "samples"
    assert not store.exists() or not list(store.glob(".tmp-*"))
    for sample_id in ids:  # a sample is its image and its metadata, or nothing yet
        assert (store / f"{sample_id}.json").exists() <= (store / f"{sample_id}.png").exists()

    # What was still queued waits in Redis (append-only file) for the next start.
    proc, log = start_make_run(tmp_path, port, "run-again.log")
    try:
        wait_for(
            lambda: all((store / f"{i}.json").exists() for i in ids), 90, "every sample stored"
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        log.close()
