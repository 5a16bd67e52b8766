"""In-worker inference time per image: Keras ``model.predict``, a direct call, and LiteRT.

LiteRT runs in the bench process (it is what the predict worker serves). Keras runs in
a child process (``python -m bench.inference --keras``) so the bench itself never
imports TensorFlow; it prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "data" / "mnist_sample.npz"
NAMES = ("fnn", "cnn")


def digits(n: int = 32) -> np.ndarray:
    with np.load(SAMPLE) as data:
        return np.asarray(data["x_test"][:n], dtype=np.uint8)


def timed(call: Callable[[], object], repeats: int, warmup: int = 3) -> dict[str, float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return {
        "median_ms": statistics.median(samples),
        "p95_ms": float(np.percentile(samples, 95)),
        "repeats": repeats,
    }


def figures(single: dict[str, float], batch: dict[str, float]) -> dict[str, Any]:
    return {
        "single_ms": single["median_ms"],
        "single_p95_ms": single["p95_ms"],
        "batch32_ms": batch["median_ms"],
        "batch32_per_image_ms": batch["median_ms"] / 32,
    }


def lite(repeats: int) -> dict[str, dict[str, Any]]:
    from worker.lite_model import LiteModel

    x = digits()
    out = {}
    for name in NAMES:
        model = LiteModel.from_path(ROOT / "models" / f"{name}.tflite")
        one = x[:1]
        single = timed(lambda m=model, one=one: m.predict(one), repeats)
        batch = timed(lambda m=model: m.predict(x), max(repeats // 10, 20))
        out[name] = figures(single, batch)
    return out


def shadow(repeats: int, rounds: int = 10) -> dict[str, Any]:
    """Model CPU per prediction in the predict worker, without and with a live challenger.

    ``predict_digits`` as the worker calls it, on the images of real canvas predictions
    (the whole canvas, and for about a third of single digits the alternative readings
    segmentation offers), one prediction a call and eight; a challenger reads only the
    whole canvas. The challenger is a copy of each model's version 1 (the cost is the
    same whatever it learned). CPU time, not wall time; the three set-ups take turns in
    ``rounds`` rounds and each figure is the median of its rounds, so a slow spell of
    this shared machine weighs on all three alike.
    """
    import tempfile

    from shared import challengers, registry
    from shared.canvas import preprocess_canvas_png
    from shared.imaging import MAX_DIGITS, render_canvas_png
    from shared.storage import LocalStore
    from worker.predict.inference import ModelCache, predict_digits

    jobs = [preprocess_canvas_png(render_canvas_png(d), 4096, MAX_DIGITS).images
            for d in digits(32)]  # fmt: skip

    def cpu_ms(cache: ModelCache, per_call: int, times: int) -> float:
        calls = [jobs[i : i + per_call] for i in range(0, len(jobs), per_call)]
        flat = [([image for job in c for image in job],
                 [i == 0 for job in c for i in range(len(job))]) for c in calls]  # fmt: skip
        started = time.process_time()
        for _ in range(times):
            for images, marks in flat:
                predict_digits(cache, images, marks)
        return (time.process_time() - started) * 1000 / (times * len(jobs))

    setups = {"champions only": (), "cnn challenger": ("cnn",), "both challengers": NAMES}
    per_round = max(1, repeats // rounds)
    samples: dict[str, dict[int, list[float]]] = {k: {1: [], 8: []} for k in setups}
    with tempfile.TemporaryDirectory() as tmp:
        caches = {}
        for label, racing in setups.items():
            store = LocalStore(f"{tmp}/{len(caches)}")
            registry.ensure_initial_versions(store, ROOT / "models")
            for name in racing:
                version = registry.next_version(store, name)
                files = {f: store.get_bytes(registry.version_key(name, 1, f))
                         for f in registry.ARTIFACTS}  # fmt: skip
                registry.publish_version(store, name, version, files, {"outcome": "challenger"})
                challengers.start(store, name, version, champion=1)
            caches[label] = ModelCache(store, 3600.0, str(ROOT / "models"))
            cpu_ms(caches[label], 8, 1)  # load and warm up
        for _ in range(rounds):
            for label, cache in caches.items():
                for batch in (1, 8):
                    samples[label][batch].append(cpu_ms(cache, batch, per_round))
    out: dict[str, Any] = {"images_per_prediction": sum(map(len, jobs)) / len(jobs)}
    for label, by_batch in samples.items():
        out[label] = {f"batch{b}_ms_per_prediction": statistics.median(v)
                      for b, v in by_batch.items()}  # fmt: skip
    return out


def keras_figures(repeats: int) -> dict[str, dict[str, Any]]:
    """Runs in the child process: TensorFlow is imported here only."""
    started = time.perf_counter()
    import keras
    import tensorflow as tf

    import_s = time.perf_counter() - started
    x = digits().astype(np.float32).reshape(-1, 28, 28, 1) / 255.0
    one = x[:1]
    out: dict[str, dict[str, Any]] = {}
    for name in NAMES:
        model = keras.saving.load_model(ROOT / "models" / f"{name}.keras", compile=False)
        few = max(repeats // 10, 5)
        slow = max(repeats // 20, 3)  # model.predict costs a few hundred ms a call here
        out[f"{name}/predict"] = figures(
            timed(lambda m=model: m.predict(one, verbose=0), slow, warmup=2),
            timed(lambda m=model: m.predict(x, verbose=0), slow, warmup=1),
        )
        out[f"{name}/direct"] = figures(
            timed(lambda m=model: m(one, training=False), repeats // 2),
            timed(lambda m=model: m(x, training=False), few),
        )
        graph = tf.function(lambda t, m=model: m(t, training=False), reduce_retracing=True)
        t_one, t_x = tf.constant(one), tf.constant(x)
        out[f"{name}/tf.function"] = figures(
            timed(lambda g=graph, t=t_one: g(t), repeats),
            timed(lambda g=graph, t=t_x: g(t), few),
        )
    out["_import_tensorflow_s"] = {"seconds": import_s}
    return out


def keras(repeats: int, timeout: float = 300) -> dict[str, Any]:
    """Keras figures from a child process; an error is reported, not raised."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench.inference", "--keras", "--repeats", str(repeats)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"keras timing took more than {timeout} s"}
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description="inference timings")
    parser.add_argument("--keras", action="store_true", help="Keras figures (imports TensorFlow)")
    parser.add_argument("--shadow", action="store_true", help="the challenger's CPU cost")
    parser.add_argument("--repeats", type=int, default=400)
    args = parser.parse_args()
    if args.shadow:
        result = shadow(args.repeats)
    else:
        result = keras_figures(args.repeats) if args.keras else lite(args.repeats)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
