"""`make bench`: measure the real stack on this machine against a synchronous baseline.

Starts its own valkey, Celery predict worker(s), trainer and gunicorn web on free
loopback ports (rate limits off, a local-directory store under a temp dir), plus the
synchronous same-work baseline (bench/baseline_app.py) and, for the page's requests, the
classic demo (bench/classic_app.py), and measures:

- the page's requests (a PNG and the strokes it was drawn from, bench/page_drawings.py)
  at 1 and 32 clients: Digits beside the same-work baseline and a classic demo
  (bench/classic_app.py), throughput, latency and web CPU per prediction side by side,
  with issue 40's targets (bench/page.py);
- inference time per image: Keras ``model.predict``, a direct call, LiteRT;
- end-to-end latency and throughput at 1, 8, 32, 128 clients (one POST with
  ``Prefer: wait=10``, long-polling only after a 202), and the same load against the
  baseline (client processes: bench/load.py), image-only requests as before issue 40;
- one client sending five-digit numbers against one sending single digits on the same 3:1
  pad (p50 ratio; also against 280x280 single digits);
- server CPU per prediction of each process kind from the kernel's accounting, and
  the dynos it takes for 100, 1,000 and 10,000 predictions/s (bench/capacity.py);
- what a CNN challenger in shadow costs the worker: estimated in this process, and
  measured on the real worker at 32 and 128 clients, with and without one, taking turns
  (bench/shadow.py);
- cold start of web and worker, memory of web, worker and trainer;
- a fine-tune on 200 samples; prefork ``-c 2`` vs threads ``-c 8`` (batching) at 32 clients;
- the dataset at 1,000 and 100,000 samples (bench/dataset.py): listing, stats, export
  memory and index rebuild.

Writes bench/results/report.json, report.md, latency.png and throughput.png, and
prints the figures as it goes. ``--quick`` is a short run (no Keras, no fine-tune).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bench import capacity, dataset, inference, load, page, report, shadow, stack
from bench.drawings import canvas_images, number_images
from bench.fine_tune import measure_fine_tune
from bench.page_drawings import page_requests
from bench.report import say, show_load, show_memory

ROOT = Path(__file__).resolve().parent.parent
POOLS = {"threads -c 8 (batching)": ("threads", 8), "prefork -c 2": ("prefork", 2)}


def main() -> None:
    args = parse_args()
    run_started = time.perf_counter()
    result = describe_run(args)
    result["inference"] = measure_inference(args)
    work = Path(tempfile.mkdtemp(prefix="digits-bench-"))
    images, _ = canvas_images("test", 50)
    requests = [] if args.skip_page else page_requests()
    with stack.running(work, args.mnist) as running:
        cold = measure_cold_start(running, images, args.pool, args.concurrency)
        memory = {f"{name} (idle)": running.memory(name) for name in ("web", "worker")}
        result["load"] = measure_load(running, images, args)
        result["numbers"] = measure_numbers(running, images, args)
        if requests:
            result["page"] = measure_page(running, requests, args)
        result["capacity"] = show_capacity(capacity.model(result["load"]))
        result["shadow"] = measure_shadow(result["load"]["digits"], 300 if args.quick else 2000)
        if not args.skip_live_shadow:
            levels = [n for n in args.levels if n >= 32] or args.levels[-1:]
            result["shadow"]["live"] = shadow.measure(
                running, images, levels, args.duration, args.shadow_turns or (2 if args.quick else 3),
                args.client_processes,
            )  # fmt: skip
        memory |= memory_after_load(running)
        if not args.skip_pools:
            digits_rows, worker_cold_s = result["load"]["digits"], cold["worker_first_prediction_s"]
            result |= compare_pools(
                running, images, args, digits_rows, memory["worker"], worker_cold_s
            )
        running.end("baseline")
        if not (args.quick or args.skip_fine_tune):
            result["fine_tune"], trainer_memory = measure_fine_tune(running, args.fine_tune_samples)
            memory |= trainer_memory
    result["memory"] = memory
    result["cold_start"] = cold
    if not args.skip_dataset:
        samples = 5_000 if args.quick else 100_000
        result["dataset"] = dataset.measure(samples, samples, 0 if args.quick else 5_000, 30)
    result["targets"] = report.targets(result)
    result["elapsed_s"] = time.perf_counter() - run_started
    write_report(result, Path(args.out))
    shutil.rmtree(work, ignore_errors=True)


def parse_args() -> argparse.Namespace:
    """The options, with ``duration`` resolved, ``levels`` parsed and ``out`` created."""
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
    parser.add_argument(
        "--skip-live-shadow", action="store_true", help="no live challenger runs on the worker"
    )
    parser.add_argument(
        "--shadow-turns",
        type=int,
        help="runs without and with a live challenger per level (default 3; 2 with --quick): "
        "more turns, steadier medians",
    )
    parser.add_argument(
        "--skip-page", action="store_true", help="no run of the page's requests (issue 40)"
    )
    parser.add_argument(
        "--skip-classic", action="store_true", help="no classic demo beside the page's requests"
    )
    parser.add_argument(
        "--skip-page-image-only",
        action="store_true",
        help="Digits not also sent the page's drawings without their strokes",
    )
    parser.add_argument("--fine-tune-samples", type=int, default=200)
    parser.add_argument(
        "--skip-dataset", action="store_true", help="no 100,000-sample dataset phase"
    )
    parser.add_argument(
        "--mnist", default="", help="MNIST_PATH for the trainer (default: models/replay.npz)"
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args()
    args.duration = args.duration or (2.0 if args.quick else 8.0)
    args.levels = [int(c) for c in args.clients.split(",")]
    Path(args.out).mkdir(parents=True, exist_ok=True)
    return args


def describe_run(args: argparse.Namespace) -> dict[str, Any]:
    """When, on what machine and with which settings the bench runs."""
    return {
        "started_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, load avg "
        + " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "settings": {
            "duration_s": args.duration,
            "clients": args.levels,
            "pool": args.pool,
            "concurrency": args.concurrency,
            "client_processes": args.client_processes,
            "web": "gunicorn gevent 2 workers (web/gunicorn_conf.py)",
            "baseline": "gunicorn gthread 2 workers x 4 threads",
            "classic": "gunicorn gthread 2 workers x 4 threads",
            "requests": "load, numbers, pools, shadow: image-only (a PNG); page: PNG and strokes",
        },
    }


def measure_inference(args: argparse.Namespace) -> dict[str, Any]:
    """Per-call inference times: LiteRT here, Keras in a child process unless skipped."""
    say("== inference (LiteRT in this process)")
    figures = {"litert": inference.lite(2000 if not args.quick else 300)}
    for name, row in figures["litert"].items():
        say(f"  {name} LiteRT: {row['single_ms']:.3f} ms/image, {row['batch32_ms']:.3f} ms/batch32")
    if args.quick or args.skip_keras:
        return figures
    say("== inference (Keras, in a child process that imports TensorFlow)")
    figures["keras"] = inference.keras(60)
    for name, row in figures["keras"].items():
        if "single_ms" in row:
            say(f"  {name}: {row['single_ms']:.2f} ms/image, {row['batch32_ms']:.2f} ms/batch32")
        else:
            say(f"  {name}: {row}")
    return figures


def measure_cold_start(
    running: stack.Stack, images: list[str], pool: str, concurrency: int
) -> dict[str, float]:
    """Start web, predict worker and baseline; seconds from each start to its first answer."""
    say("== cold start")
    cold: dict[str, float] = {}
    started = time.perf_counter()
    cold["web_first_answer_s"] = stack.first_answer(
        f"{running.web_url}/healthz", running.start_web()
    )
    with httpx.Client(timeout=10) as client:
        url = f"{running.web_url}/api/predictions"
        while client.post(url, json={"image": images[0]}).status_code != 202:
            time.sleep(0.01)
    cold["web_first_post_accepted_s"] = time.perf_counter() - started
    say(f"  web: first answer {cold['web_first_answer_s']:.2f} s, first POST accepted "
        f"{cold['web_first_post_accepted_s']:.2f} s")  # fmt: skip
    cold["worker_first_prediction_s"] = running.start_worker(
        images[1], pool, concurrency, "worker.log"
    )
    say(f"  worker ({pool} -c {concurrency}): first prediction done "
        f"{cold['worker_first_prediction_s']:.2f} s after start")  # fmt: skip
    started = time.perf_counter()
    stack.first_answer(f"{running.base_url}/healthz", running.start_baseline())
    with httpx.Client(timeout=10) as client:
        url = f"{running.base_url}/api/predictions"
        client.post(url, json={"image": images[0]}).raise_for_status()
    cold["baseline_first_prediction_s"] = time.perf_counter() - started
    say(f"  baseline: first prediction {cold['baseline_first_prediction_s']:.2f} s")
    return cold


def measure_load(
    running: stack.Stack, images: list[str], args: argparse.Namespace
) -> dict[str, list[dict[str, Any]]]:
    """Digits and the baseline at each client count: one load row per system and level."""
    say(f"== load (image-only: a PNG of an MNIST digit on 280x280, as before issue 40): "
        f"{args.duration:g} s a level, clients {args.levels}, "
        f"{args.client_processes} client processes")  # fmt: skip
    load.warm("async", running.web_url, images)
    load.warm("sync", running.base_url, images)
    rows: dict[str, list[dict[str, Any]]] = {"digits": [], "baseline": []}
    systems = (("digits", "async", running.web_url), ("baseline", "sync", running.base_url))
    for clients in args.levels:
        for name, mode, url in systems:
            pids = {kind: running.procs[kind].pid for kind in capacity.KINDS[name]}
            level = partial(
                load.run_load, mode, url, images, clients, args.duration, args.client_processes
            )
            row = capacity.metered(pids, level) | {"requests": "image-only"}
            rows[name].append(row)
            show_load(name, row)
            say(capacity.show_cpu(name, row))
        ratio = capacity.ratio(rows["digits"][-1], rows["baseline"][-1])
        say(f"  cpu digits/baseline: {ratio}×")
    return rows


def measure_numbers(
    running: stack.Stack, images: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    """One client, single digits then five-digit numbers: what a number costs in latency.

    The target compares canvases of one shape: the page sends every drawing on its 3:1
    pad, and a wide PNG costs web about twice a 280x280 one to decode and read, whatever
    it holds. The ratio against the 280x280 single digits the other phases send is
    printed too.
    """
    say("== numbers: 1 client, single digits then five-digit numbers")
    rows = {}
    phases = (
        ("single", images),
        ("single_pad", number_images(50, 1)),
        ("five", number_images(50, 5)),
    )
    for name, drawings in phases:
        load.warm("async", running.web_url, drawings)
        rows[name] = load.run_load("async", running.web_url, drawings, 1, args.duration, 1)
        show_load(f"digits {name}", rows[name])
    ratio = rows["five"]["p50_ms"] / rows["single_pad"]["p50_ms"]
    square = rows["five"]["p50_ms"] / rows["single"]["p50_ms"]
    say(f"  five-digit p50 / single-digit p50, both on the 3:1 pad: {ratio:.2f}×")
    say(f"  five-digit p50 / single-digit p50 on a 280x280 canvas: {square:.2f}×")
    return {**rows, "p50_ratio": round(ratio, 2), "p50_ratio_square": round(square, 2)}


def measure_page(
    running: stack.Stack, requests: list[dict[str, Any]], args: argparse.Namespace
) -> dict[str, Any]:
    """The page's requests against Digits and both baselines (``bench.page``); the classic
    demo runs for this phase only."""
    systems = ["digits", "baseline"]
    if not args.skip_page_image_only:
        systems.insert(1, "digits image-only")
    if not args.skip_classic:
        systems.append("classic")
        seconds = page.start_classic(running, requests[0])
        say(f"  classic demo: first prediction {seconds:.2f} s after its start")
    try:
        return page.measure(running, requests, args.duration, args.client_processes, systems)
    finally:
        if "classic" in running.procs:
            running.end("classic")


def measure_shadow(rows: list[dict[str, Any]], repeats: int) -> dict[str, Any]:
    """What a live challenger adds to the worker's CPU per prediction (issue 17: <= 15 %).

    The models' CPU is measured in this process (``bench.inference.shadow``); the worker's
    whole CPU per prediction at each load level comes from the load phase just run.
    """
    say("== challenger in shadow (model CPU per prediction, this process)")
    costs = inference.shadow(repeats)
    base = costs["champions only"]
    say(f"  {costs['images_per_prediction']:.2f} images per prediction (whole canvas and readings)")
    worker = {row["clients"]: row["cpu_ms"]["worker"] / row["done"] for row in rows if row["done"]}
    share: dict[str, dict[str, float]] = {}
    for label in ("cnn challenger", "both challengers"):
        cost = costs[label]
        # One prediction a model call at 1 client; about 8 under load.
        extra = {1: cost["batch1_ms_per_prediction"] - base["batch1_ms_per_prediction"]}
        extra |= {n: cost["batch8_ms_per_prediction"] - base["batch8_ms_per_prediction"]
                  for n in worker if n > 1}  # fmt: skip
        share[label] = {str(n): round(extra[n] / ms, 4) for n, ms in worker.items() if n in extra}
        say(f"  {label}: " + ", ".join(f"{n} clients +{v:.1%}" for n, v in share[label].items()))
    return {"model_cpu": costs, "worker_cpu_ms_per_prediction": worker, "extra_share": share}


def show_capacity(cap: dict[str, Any]) -> dict[str, Any]:
    """Print the capacity model as it is computed; the model, for the report."""
    say("== capacity model (server CPU per prediction → dynos)")
    for line in capacity.capacity_lines(cap):
        say(f"  {line}")
    return cap


def memory_after_load(running: stack.Stack) -> dict[str, Any]:
    memory = {name: running.memory(name) for name in ("web", "worker", "baseline")}
    for name, mem in memory.items():
        show_memory(f"{name} (after load)", mem)
    return memory


def compare_pools(
    running: stack.Stack,
    images: list[str],
    args: argparse.Namespace,
    digits_rows: list[dict[str, Any]],
    worker_memory: dict[str, Any],
    worker_cold_s: float,
) -> dict[str, Any]:
    """The configured pool and those of POOLS at 32 clients: ``pools`` and ``recommendation``."""
    say("== predict worker pools at 32 clients")
    this = f"{args.pool} -c {args.concurrency}" + (" (batching)" if args.pool == "threads" else "")
    pools: dict[str, Any] = {}
    if 32 in args.levels:
        pools[this] = {"load": digits_rows[args.levels.index(32)], "memory": worker_memory,
                       "cold_start_s": worker_cold_s}  # fmt: skip
    for name, (pool, concurrency) in POOLS.items():
        if name not in pools:
            pools[name] = measure_pool(running, images, pool, concurrency, args)
    for name, entry in pools.items():
        show_load(name.split(" (")[0], entry["load"])
        show_memory(name, entry["memory"])
        say(f"  {name}: cold start {entry['cold_start_s']:.2f} s")
    best = max(pools, key=lambda n: pools[n]["load"]["throughput_per_s"])
    recommendation = recommend(pools, best)
    say(f"  recommendation: {recommendation}")
    return {"pools": pools, "recommendation": recommendation}


def measure_pool(
    running: stack.Stack, images: list[str], pool: str, concurrency: int, args: argparse.Namespace
) -> dict[str, Any]:
    """Replace the predict worker by one with this pool; its load row at 32 clients."""
    running.end("worker")
    first = running.start_worker(images[2], pool, concurrency, f"worker-{pool}.log")
    load.warm("async", running.web_url, images)
    row = load.run_load("async", running.web_url, images, 32, args.duration, args.client_processes)
    return {"load": row, "memory": running.memory("worker"), "cold_start_s": first}


def recommend(pools: dict[str, Any], best: str) -> str:
    parts = []
    for name, entry in pools.items():
        row, mem = entry["load"], entry["memory"]
        parts.append(
            f"{name}: {row['throughput_per_s']:.0f}/s, p99 {row['p99_ms'] or 0:.0f} ms, "
            f"{mem['pss_total']:.0f} MB PSS"
        )
    return f"{best} (highest throughput at 32 clients; " + "; ".join(parts) + ")"


def write_report(result: dict[str, Any], out: Path) -> None:
    """report.json, report.md and the plots in ``out``; print the targets and where they went."""
    (out / "report.json").write_text(json.dumps(result, indent=2))
    (out / "report.md").write_text(report.markdown(result))
    written = report.plots(result, out)
    say("== targets")
    for row in result["targets"]:
        met = {True: "met", False: "NOT MET", None: "?"}[row["met"]]
        say(f"  {met:<7} {row['target']}: {row['measured']}")
    say(f"report: {out / 'report.json'}, {out / 'report.md'}"
        + (f", plots: {', '.join(written)}" if written else " (no plots: pip install '.[bench]')"))  # fmt: skip
    say(f"elapsed {result['elapsed_s']:.0f} s")


if __name__ == "__main__":
    main()
