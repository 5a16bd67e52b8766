"""`make bench`: measure the real stack on this machine and print what was measured.

- in-worker inference time per image for each model (LiteRT, the .tflite the worker serves);
- end-to-end latency of POST-then-poll against gunicorn + a Celery worker + valkey;
- resident memory (RSS) of the web and worker processes after the run.

Results go to stdout and to bench/results/latest.json. Traffic goes to 127.0.0.1 only,
bounded in count. Rate limits are switched off for the run (one client address).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.imaging import render_canvas_png  # noqa: E402
from tests import services  # noqa: E402
from worker.inference import LiteModel  # noqa: E402

SAMPLE = ROOT / "tests" / "data" / "mnist_sample.npz"


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def rss_mb(pid: int) -> dict[str, float]:
    """Resident memory of a process tree in MB: the total and its largest process."""
    sizes = []
    for proc in [pid, *children(pid)]:
        try:
            for line in Path(f"/proc/{proc}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
        except FileNotFoundError:
            continue
    return {
        "total": sum(sizes),
        "largest_process": max(sizes, default=0.0),
        "processes": len(sizes),
    }


def children(pid: int) -> list[int]:
    found = []
    for path in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = path.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, IndexError):
            continue
        if int(fields[1]) == pid:
            child = int(path.parent.name)
            found += [child, *children(child)]
    return found


def bench_inference(repeats: int) -> dict[str, dict[str, float]]:
    with np.load(SAMPLE) as data:
        digits = data["x_test"][:32]
    figures = {}
    for name in ("fnn", "cnn"):
        model = LiteModel.from_path(ROOT / "models" / f"{name}.tflite")
        single = []
        for i in range(repeats):
            started = time.perf_counter()
            model.predict(digits[i % 32 : i % 32 + 1])
            single.append((time.perf_counter() - started) * 1000)
        batch = []
        for _ in range(max(repeats // 10, 10)):
            started = time.perf_counter()
            model.predict(digits)
            batch.append((time.perf_counter() - started) * 1000)
        figures[name] = {
            "single_median_ms": statistics.median(single),
            "batch32_median_ms": statistics.median(batch),
        }
    return figures


def post_then_poll(client: httpx.Client, base: str, image: str) -> float:
    started = time.perf_counter()
    answer = client.post(f"{base}/api/predictions", json={"image": image})
    answer.raise_for_status()
    status_url = answer.json()["status_url"]
    while True:
        body = client.get(f"{base}{status_url}", params={"wait": 5}).json()
        if body["status"] == "done":
            return (time.perf_counter() - started) * 1000
        if body["status"] == "failed":
            raise RuntimeError(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="sequential POST-then-poll runs")
    parser.add_argument("--repeats", type=int, default=2000, help="inference calls per model")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "latest.json"))
    args = parser.parse_args()

    report: dict[str, object] = {"inference": bench_inference(args.repeats)}
    for name, figures in report["inference"].items():  # type: ignore[union-attr]
        print(
            f"inference {name}: {figures['single_median_ms']:.3f} ms/image, "
            f"{figures['batch32_median_ms']:.3f} ms/batch of 32"
        )

    work = Path(tempfile.mkdtemp(prefix="digits-bench-"))
    valkey = services.start_valkey(work / "valkey")
    port = services.free_port()
    env = dict(
        os.environ,
        REDIS_URL=valkey.url,
        STORAGE_URL=str(work / "store"),
        WEIGHTS_DIR=str(ROOT / "models"),
        RATE_LIMITS_ENABLED="false",
        PORT=str(port),
        BIND_HOST="127.0.0.1",
        WEB_CONCURRENCY="2",
    )
    worker = services.start_celery_worker(
        env, "predict,samples", work / "worker.log", "bench", concurrency=1, redis_url=valkey.url
    )
    web = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "python:web.gunicorn_conf",
            "--access-logfile",
            "/dev/null",
            "web:create_app()",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        services.wait_until(lambda: httpx.get(f"{base}/healthz").status_code == 200, 30, "web", web)
        with np.load(SAMPLE) as data:
            images = [
                "data:image/png;base64," + base64.b64encode(render_canvas_png(d)).decode()
                for d in data["x_test"][:50]
            ]
        with httpx.Client(timeout=30) as client:
            for image in images[:20]:  # warm the worker: models load on first use
                post_then_poll(client, base, image)
            latencies = [
                post_then_poll(client, base, images[i % len(images)]) for i in range(args.requests)
            ]
        report["end_to_end"] = {
            "requests": args.requests,
            "p50_ms": percentile(latencies, 50),
            "p95_ms": percentile(latencies, 95),
            "p99_ms": percentile(latencies, 99),
        }
        report["rss_mb"] = {"web": rss_mb(web.pid), "worker": rss_mb(worker.proc.pid)}
        e2e = report["end_to_end"]
        print(
            f"end-to-end POST-then-poll, 1 client, {args.requests} requests: "
            f"p50 {e2e['p50_ms']:.1f} ms, p95 {e2e['p95_ms']:.1f} ms, p99 {e2e['p99_ms']:.1f} ms"
        )
        rss = report["rss_mb"]
        for name, sizes in rss.items():
            print(
                f"RSS {name}: {sizes['total']:.0f} MB in {sizes['processes']} processes, "
                f"largest {sizes['largest_process']:.0f} MB"
            )
    finally:
        services.stop(web)
        worker.stop()
        valkey.stop()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"report written to {out}")


if __name__ == "__main__":
    main()
