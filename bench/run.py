"""`make bench`: measure the real stack on this machine against a synchronous baseline.

Starts its own valkey, Celery predict worker(s), trainer and gunicorn web on free
loopback ports (rate limits off, a local-directory store under a temp dir), plus the
synchronous baseline (bench/baseline_app.py), and measures:

- inference time per image: Keras ``model.predict``, a direct call, LiteRT;
- end-to-end POST-then-long-poll latency and throughput at 1, 8, 32, 128 clients,
  and the same load against the baseline (client processes: bench/load.py);
- cold start of web and worker, memory of web, worker and trainer;
- a fine-tune on 200 samples; prefork ``-c 2`` vs threads ``-c 8`` (batching) at 32 clients.

Writes bench/results/report.json, report.md, latency.png and throughput.png, and
prints the figures as it goes. ``--quick`` is a short run (no Keras, no fine-tune).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import inference, load, report, stack  # noqa: E402
from shared.imaging import render_canvas_png  # noqa: E402
from tests import services  # noqa: E402

SAMPLE = ROOT / "tests" / "data" / "mnist_sample.npz"
POOLS = {"threads -c 8 (batching)": ("threads", 8), "prefork -c 2": ("prefork", 2)}


def say(text: str) -> None:
    print(text, flush=True)


def slanted_heavy(digit: np.ndarray) -> np.ndarray:
    """A distinctive hand for the fine-tune: strongly slanted, heavy strokes."""
    slanted = Image.fromarray(digit).transform(
        (28, 28), Image.Transform.AFFINE, (1, 0.7, -9.8, 0, 1, 0), Image.Resampling.BILINEAR
    )
    heavy = slanted.filter(ImageFilter.MaxFilter(3))
    return np.asarray(heavy, dtype=np.uint8)


def canvas_images(
    key: str, n: int, offset: int = 0, style: Callable[[np.ndarray], np.ndarray] | None = None
) -> tuple[list[str], list[int]]:
    with np.load(SAMPLE) as data:
        x, y = data[f"x_{key}"][offset : offset + n], data[f"y_{key}"][offset : offset + n]
    if style is not None:
        x = np.stack([style(d) for d in x])
    urls = ["data:image/png;base64," + base64.b64encode(render_canvas_png(d)).decode() for d in x]
    return urls, [int(label) for label in y]


def show_load(name: str, row: dict[str, Any]) -> None:
    def ms(key: str) -> str:
        return "–" if row[key] is None else f"{row[key]:.1f}"

    say(
        f"  {name:<9} {row['clients']:>3} clients: p50 {ms('p50_ms')} p95 {ms('p95_ms')} "
        f"p99 {ms('p99_ms')} ms, {row['throughput_per_s']:.0f}/s, {row['done']} done, "
        f"{row['errors']} errors, {row['lost']} lost"
        + (f"  e.g. {row['error_samples'][0]}" if row["error_samples"] else "")
    )


def show_memory(name: str, mem: dict[str, Any]) -> None:
    say(
        f"  memory {name}: {mem['pss_total']:.0f} MB PSS, {mem['rss_total']:.0f} MB RSS in "
        f"{mem['processes']} process(es), largest {mem['rss_largest']:.0f} MB"
    )


def warm(mode: str, base: str, images: list[str]) -> None:
    load.run_load(mode, base, images, clients=1, duration=0.5, processes=1, cap_per_client=30)
    load.run_load(mode, base, images, clients=8, duration=0.5, processes=2, cap_per_client=10)


def wait_prediction(client: httpx.Client, base: str, status_url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"{base}{status_url}", params={"wait": 5}).json()
        if body["status"] == "done":
            return
        if body["status"] == "failed":
            raise RuntimeError(f"first prediction failed: {body}")
    raise TimeoutError("no first prediction")


def start_predict_worker(
    env: dict[str, str], base: str, image: str, pool: str, concurrency: int, log: Path
) -> tuple[Any, float]:
    """Enqueue a job, start the worker, and time process start → that job done."""
    with httpx.Client(timeout=30) as client:
        answer = client.post(f"{base}/api/predictions", json={"image": image})
        answer.raise_for_status()
        started = time.perf_counter()
        proc = stack.celery_worker(env, "predict,samples", "predict", pool, concurrency, log)
        try:
            wait_prediction(client, base, answer.json()["status_url"], 60)
        except Exception:
            stack.stop(proc)
            raise
        return proc, time.perf_counter() - started


def fine_tune(
    env: dict[str, str], base: str, work: Path, samples: int, procs: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Trainer memory when ready and after a fine-tune on ``samples`` posted samples."""
    memory: dict[str, Any] = {}
    log = work / "trainer.log"
    started = time.perf_counter()
    trainer = stack.celery_worker(env, "train", "trainer", "prefork", 1, log)
    procs["trainer"] = trainer
    ready_s = stack.wait_log(log, "ready.", trainer, 90)
    time.sleep(1.0)
    memory["trainer (ready)"] = stack.memory_mb(trainer.pid)
    show_memory("trainer (ready)", memory["trainer (ready)"])
    say(f"  trainer ready in {ready_s:.2f} s (started {time.perf_counter() - started:.1f} s ago)")

    train_x = np.load(SAMPLE)["x_train"]
    # Users with a hand of their own: the holdout part shows how much the round learned.
    urls, labels = canvas_images("train", min(samples, len(train_x)), style=slanted_heavy)
    headers = {"Authorization": f"Bearer {env['ADMIN_TOKEN']}"}
    samples_dir = Path(env["STORAGE_URL"]) / "samples"
    with httpx.Client(timeout=30) as client:
        for url, label in zip(urls, labels, strict=True):
            client.post(
                f"{base}/api/samples", json={"image": url, "label": label}
            ).raise_for_status()

        def stored() -> bool:
            return len(list(samples_dir.glob("*.json"))) >= len(urls)

        services.wait_until(stored, 60, "samples stored")
        say(f"  {len(urls)} samples stored")
        posted = time.perf_counter()
        answer = client.post(f"{base}/api/fine-tunes", headers=headers)
        answer.raise_for_status()
        job_url = f"{base}{answer.json()['status_url']}"
        peak = 0.0
        job: dict[str, Any] = {}
        while time.perf_counter() - posted < 600:
            job = client.get(job_url).json()
            mem = stack.memory_mb(trainer.pid)
            peak = max(peak, mem["pss_total"])
            if job.get("status") in {"promoted", "rejected", "failed"}:
                break
            time.sleep(0.5)
        seconds = time.perf_counter() - posted
    memory["trainer (after fine-tune)"] = stack.memory_mb(trainer.pid)
    memory["trainer (after fine-tune)"]["pss_peak_sampled"] = peak
    show_memory("trainer (after fine-tune)", memory["trainer (after fine-tune)"])
    result = job.get("result") or {}
    holdout = {
        name: {
            "outcome": entry.get("outcome"),
            "version": entry.get("version"),
            "parent_mnist": entry["holdout"]["parent"]["mnist"],
            "candidate_mnist": entry["holdout"]["candidate"]["mnist"],
            "parent_user": entry["holdout"]["parent"]["user"],
            "candidate_user": entry["holdout"]["candidate"]["user"],
            "user_holdout_samples": entry["holdout"]["user_samples"],
        }
        for name, entry in (result.get("models") or {}).items()
    }
    summary = f"{seconds:.1f} s, {job.get('status')}; " + ", ".join(
        f"{n} {h['outcome']} (MNIST holdout {h['parent_mnist']:.3f} → {h['candidate_mnist']:.3f},"
        f" held-out user samples {h['parent_user']:.3f} → {h['candidate_user']:.3f})"
        for n, h in holdout.items()
    )
    say(f"  fine-tune on {len(urls)} samples: {summary}")
    tune = {
        "samples": len(urls),
        "seconds": seconds,
        "trainer_reported_seconds": result.get("seconds"),
        "outcome": job.get("status"),
        "error": job.get("error"),
        "models": holdout,
        "trainer_ready_s": ready_s,
        "summary": summary,
    }
    return tune, memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run: 2 s a level, no Keras")
    parser.add_argument("--clients", default="1,8,32,128", help="comma-separated client counts")
    parser.add_argument("--duration", type=float, help="seconds of load per level (default 8)")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--pool", choices=["threads", "prefork"], default="threads")
    parser.add_argument("--concurrency", type=int, default=8, help="predict worker concurrency")
    parser.add_argument("--skip-keras", action="store_true")
    parser.add_argument("--skip-fine-tune", action="store_true")
    parser.add_argument("--skip-pools", action="store_true", help="no prefork vs threads run")
    parser.add_argument("--fine-tune-samples", type=int, default=200)
    parser.add_argument(
        "--mnist", default="", help="MNIST_PATH for the trainer (default: models/replay.npz)"
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--web-threads", default=os.environ.get("WEB_THREADS", "8"))
    args = parser.parse_args()
    duration = args.duration or (2.0 if args.quick else 8.0)
    levels = [int(c) for c in args.clients.split(",")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    run_started = time.perf_counter()

    result: dict[str, Any] = {
        "started_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, load avg "
        + " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "settings": {
            "duration_s": duration,
            "clients": levels,
            "pool": args.pool,
            "concurrency": args.concurrency,
            "client_processes": args.client_processes,
            "web": f"gunicorn gthread 2 workers x {args.web_threads} threads",
            "baseline": "gunicorn gthread 2 workers x 4 threads",
        },  # fmt: skip
    }
    say("== inference (LiteRT in this process)")
    result["inference"] = {"litert": inference.lite(2000 if not args.quick else 300)}
    for name, row in result["inference"]["litert"].items():
        say(f"  {name} LiteRT: {row['single_ms']:.3f} ms/image, {row['batch32_ms']:.3f} ms/batch32")
    if not (args.quick or args.skip_keras):
        say("== inference (Keras, in a child process that imports TensorFlow)")
        keras_rows = inference.keras(60)
        result["inference"]["keras"] = keras_rows
        for name, row in keras_rows.items():
            if "single_ms" in row:
                say(
                    f"  {name}: {row['single_ms']:.2f} ms/image, {row['batch32_ms']:.2f} ms/batch32"
                )
            else:
                say(f"  {name}: {row}")

    work = Path(tempfile.mkdtemp(prefix="digits-bench-"))
    procs: dict[str, Any] = {}
    images, _ = canvas_images("test", 50)
    memory: dict[str, Any] = {}
    cold: dict[str, float] = {}
    try:
        valkey = services.start_valkey(work / "valkey")
        procs["valkey"] = valkey.proc
        web_port, base_port = services.free_port(), services.free_port()
        env = dict(
            os.environ,
            REDIS_URL=valkey.url,
            STORAGE_URL=str(work / "store"),
            WEIGHTS_DIR=str(ROOT / "models"),
            RATE_LIMITS_ENABLED="false",
            ADMIN_TOKEN=secrets.token_hex(16),
            FINE_TUNE_EVERY="1000000",
            MNIST_PATH=args.mnist,
            WEB_CONCURRENCY="2",
            WEB_THREADS=str(args.web_threads),
            BIND_HOST="127.0.0.1",
            PORT=str(web_port),
            TF_CPP_MIN_LOG_LEVEL="2",
        )
        web_url, base_url = f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{base_port}"

        say("== cold start")
        started = time.perf_counter()
        procs["web"] = stack.start_web(env, web_port, work / "web.log")
        cold["web_first_answer_s"] = stack.first_answer(f"{web_url}/healthz", procs["web"])
        with httpx.Client(timeout=10) as client:
            while (
                client.post(f"{web_url}/api/predictions", json={"image": images[0]}).status_code
                != 202
            ):
                time.sleep(0.01)
        cold["web_first_post_accepted_s"] = time.perf_counter() - started
        say(f"  web: first answer {cold['web_first_answer_s']:.2f} s, first POST accepted "
            f"{cold['web_first_post_accepted_s']:.2f} s")  # fmt: skip
        procs["worker"], cold["worker_first_prediction_s"] = start_predict_worker(
            env, web_url, images[1], args.pool, args.concurrency, work / "worker.log"
        )
        say(f"  worker ({args.pool} -c {args.concurrency}): first prediction done "
            f"{cold['worker_first_prediction_s']:.2f} s after start")  # fmt: skip
        started = time.perf_counter()
        procs["baseline"] = stack.start_baseline(env, base_port, work / "baseline.log")
        stack.first_answer(f"{base_url}/healthz", procs["baseline"])
        with httpx.Client(timeout=10) as client:
            client.post(f"{base_url}/api/predictions", json={"image": images[0]}).raise_for_status()
        cold["baseline_first_prediction_s"] = time.perf_counter() - started
        say(f"  baseline: first prediction {cold['baseline_first_prediction_s']:.2f} s")
        memory["web (idle)"] = stack.memory_mb(procs["web"].pid)
        memory["worker (idle)"] = stack.memory_mb(procs["worker"].pid)

        say(f"== load: {duration:g} s a level, clients {levels}, "
            f"{args.client_processes} client processes")  # fmt: skip
        warm("async", web_url, images)
        warm("sync", base_url, images)
        rows: dict[str, list[dict[str, Any]]] = {"digits": [], "baseline": []}
        for clients in levels:
            for name, mode, url in (("digits", "async", web_url), ("baseline", "sync", base_url)):
                row = load.run_load(mode, url, images, clients, duration, args.client_processes)
                rows[name].append(row)
                show_load(name, row)
        result["load"] = rows
        memory["web"] = stack.memory_mb(procs["web"].pid)
        memory["worker"] = stack.memory_mb(procs["worker"].pid)
        memory["baseline"] = stack.memory_mb(procs["baseline"].pid)
        for name in ("web", "worker", "baseline"):
            show_memory(f"{name} (after load)", memory[name])

        if not args.skip_pools:
            say("== predict worker pools at 32 clients")
            this = f"{args.pool} -c {args.concurrency}" + (
                " (batching)" if args.pool == "threads" else ""
            )
            pools: dict[str, Any] = {}
            if 32 in levels:
                pools[this] = {"load": rows["digits"][levels.index(32)], "memory": memory["worker"],
                               "cold_start_s": cold["worker_first_prediction_s"]}  # fmt: skip
            for name, (pool, conc) in POOLS.items():
                if name in pools:
                    continue
                stack.stop(procs.pop("worker"))
                procs["worker"], first = start_predict_worker(
                    env, web_url, images[2], pool, conc, work / f"worker-{pool}.log"
                )
                warm("async", web_url, images)
                row = load.run_load("async", web_url, images, 32, duration, args.client_processes)
                pools[name] = {"load": row, "memory": stack.memory_mb(procs["worker"].pid),
                               "cold_start_s": first}  # fmt: skip
            for name, entry in pools.items():
                show_load(name.split(" (")[0], entry["load"])
                show_memory(name, entry["memory"])
                say(f"  {name}: cold start {entry['cold_start_s']:.2f} s")
            result["pools"] = pools
            best = max(pools, key=lambda n: pools[n]["load"]["throughput_per_s"])
            result["recommendation"] = recommend(pools, best)
            say(f"  recommendation: {result['recommendation']}")

        stack.stop(procs.pop("baseline"))
        if not (args.quick or args.skip_fine_tune):
            say("== trainer and fine-tune")
            result["fine_tune"], trainer_memory = fine_tune(
                env, web_url, work, args.fine_tune_samples, procs
            )
            memory.update(trainer_memory)
    finally:
        for name in ("trainer", "worker", "baseline", "web", "valkey"):
            if name in procs:
                stack.stop(procs.pop(name))
    result["memory"] = memory
    result["cold_start"] = cold
    result["targets"] = report.targets(result)
    result["elapsed_s"] = time.perf_counter() - run_started
    (out / "report.json").write_text(json.dumps(result, indent=2))
    text = report.markdown(result)
    (out / "report.md").write_text(text)
    written = report.plots(result, out)
    say("== targets")
    for row in result["targets"]:
        met = {True: "met", False: "NOT MET", None: "?"}[row["met"]]
        say(f"  {met:<7} {row['target']}: {row['measured']}")
    say(f"report: {out / 'report.json'}, {out / 'report.md'}"
        + (f", plots: {', '.join(written)}" if written else " (no plots: pip install '.[bench]')"))  # fmt: skip
    say(f"elapsed {result['elapsed_s']:.0f} s")
    shutil.rmtree(work, ignore_errors=True)


def recommend(pools: dict[str, Any], best: str) -> str:
    parts = []
    for name, entry in pools.items():
        row, mem = entry["load"], entry["memory"]
        parts.append(
            f"{name}: {row['throughput_per_s']:.0f}/s, p99 {row['p99_ms'] or 0:.0f} ms, "
            f"{mem['pss_total']:.0f} MB PSS"
        )
    return f"{best} (highest throughput at 32 clients; " + "; ".join(parts) + ")"


if __name__ == "__main__":
    main()
