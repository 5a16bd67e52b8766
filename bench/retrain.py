"""How long a full retrain takes: ``python -m bench.retrain --mnist mnist.npz --samples 10000``.

Collects ``--samples`` labelled drawings into a temporary local store (MNIST test digits
after the 3,000 the gate and the thresholds use, drawn on a canvas and preprocessed as web
does; past 7,000, the same digits again in a simulated writer's hand), 40 % from four
trusted collectors and 60 % from anonymous clients at the per-client cap, then runs
``run_retrain`` in this process with the default epochs and prints the wall time of each
model's training, of the whole retrain, the peak memory, and what the gate decided.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from bench.report import say
from shared.dataset.samples import write_sample
from shared.imaging import preprocess_png, render_canvas_png
from shared.storage import LocalStore
from worker.trainer.mnist import load_mnist
from worker.trainer.retraining import run_retrain
from worker.trainer.rounds import MNIST_HOLDOUT
from worker.trainer.tools.population import render_png, writer_style
from worker.trainer.user_samples import MAX_PER_CLIENT

ROOT = Path(__file__).resolve().parent.parent
#: Test digits the gate (the first MNIST_HOLDOUT) and the threshold digits (the next 1,000)
#: use: never collected, so the gate's MNIST figures stay honest.
FIRST_COLLECTED = MNIST_HOLDOUT + 1000
COLLECTORS = 4
COLLECTOR_SHARE = 0.4


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.retrain", description=__doc__)
    parser.add_argument("--mnist", required=True, help="mnist.npz path (all 60,000 digits)")
    parser.add_argument("--samples", type=int, default=10_000, help="collected samples")
    parser.add_argument("--epochs", type=int, help="epochs of both models (default: per model)")
    parser.add_argument("--weights", default=str(ROOT / "models"), help="shipped weights")
    parser.add_argument("--json", help="also write the figures to this file")
    return parser.parse_args(argv)


def collect(store: LocalStore, mnist_x: np.ndarray, mnist_y: np.ndarray, count: int) -> dict:
    """Write ``count`` canvas-drawn samples: collectors' first, then anonymous clients'."""
    pool = len(mnist_x) - FIRST_COLLECTED
    from_collectors = int(count * COLLECTOR_SHARE)
    written = {"collectors": 0, "anonymous": 0}
    for index in range(count):
        digit = mnist_x[FIRST_COLLECTED + index % pool]
        label = int(mnist_y[FIRST_COLLECTED + index % pool])
        if index < pool:
            png = render_canvas_png(digit)
        else:  # the pool again, in another hand
            png = render_png(digit, writer_style(index % 30))
        meta: dict[str, Any] = {"label": label, "consent": True, "source": "collect"}
        if index < from_collectors:
            collector = index % COLLECTORS
            meta |= {"client": f"collector-{collector}", "collector": f"school-{collector}"}
            written["collectors"] += 1
        else:
            meta["client"] = f"anonymous-{(index - from_collectors) // MAX_PER_CLIENT}"
            written["anonymous"] += 1
        write_sample(store, uuid.uuid4().hex, preprocess_png(png), meta)
    return written


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mnist = load_mnist(args.mnist)
    say(f"load average before: {os.getloadavg()}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="bench-retrain-") as tmp:
        store = LocalStore(tmp)
        started = time.perf_counter()
        written = collect(store, mnist.x_test, mnist.y_test, args.samples)
        say(f"collected {written} in {time.perf_counter() - started:.0f} s")
        began, last = time.perf_counter(), [0.0]

        def report(step: int, total: int, loss: float) -> None:
            if time.monotonic() - last[0] >= 60 or step == total:
                last[0] = time.monotonic()
                say(f"  step {step}/{total}, loss {loss:.4f}, {time.perf_counter() - began:.0f} s")

        outcome = run_retrain(store, args.mnist, args.weights, report, epochs=args.epochs)
        total = time.perf_counter() - began
    figures = summary(outcome, total, args.samples)
    say(json.dumps(figures, indent=2))
    say(f"load average after: {os.getloadavg()}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


def summary(outcome: dict[str, Any], total: float, samples: int) -> dict[str, Any]:
    """Per model: epochs, training time, the gate's decision and figures; and in all."""
    models = {}
    for name, decided in outcome["models"].items():
        training = decided.get("training", {})
        holdout = decided.get("holdout", {})
        models[name] = {
            "outcome": decided["outcome"],
            "gate_failures": decided.get("gate_failures"),
            "epochs": training.get("recipe", {}).get("epochs"),
            "epochs_run": training.get("epochs_run"),
            "train_seconds": training.get("train_seconds"),
            "mnist": training.get("mnist"),
            "users": training.get("users"),
            "user_samples": training.get("user_samples"),
            "parent": holdout.get("parent"),
            "candidate": holdout.get("candidate"),
            "user_holdout_samples": holdout.get("user_samples"),
        }
    return {
        "samples_collected": samples,
        "total_seconds": round(total, 1),
        "outcome": outcome["outcome"],
        # This process's peak RSS (Linux: KiB): collecting, both fits, the gate.
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "models": models,
    }


if __name__ == "__main__":
    raise SystemExit(main())
