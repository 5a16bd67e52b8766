"""The dataset at scale: listing, stats, export and index rebuild at 1,000 and 100,000 samples.

``python -m bench.dataset`` (also a phase of ``make bench``): makes samples in the local
store's real layout (a PNG and a JSON per sample, written without the per-file fsync the
app does, so 100,000 take seconds), feedback events through the web's own counters, then
measures a real gunicorn web process: a page of ``/api/samples`` and ``/api/stats`` (p50
over repeated calls), the web's RSS while it streams an export of every sample, and how
fast the index is rebuilt from the store (local directory, and the SeaweedFS S3 server).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import statistics
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import redis
from PIL import Image

from bench import stack
from bench.report import dataset_targets, say
from shared.dataset import sample_index, samples
from shared.storage import LocalStore, S3Store, Store
from tests import processes
from web import stats

ROOT = Path(__file__).resolve().parent.parent
#: Page queries measured: everything, one digit, one digit from one source, a deep page.
QUERIES = ("limit=50", "label=3&limit=50", "label=3&source=collect&limit=50",
           "limit=50&offset=5000")  # fmt: skip


def _pngs(count: int) -> list[bytes]:
    """A few hundred distinct 28x28 PNGs to cycle through (their content does not matter)."""
    with np.load(ROOT / "models" / "replay.npz") as data:
        digits = data["x_test"][:count]
    out = []
    for digit in digits:
        buffer = io.BytesIO()
        Image.fromarray(np.asarray(digit, dtype=np.uint8)).save(buffer, "PNG")
        out.append(buffer.getvalue())
    return out


def _meta(i: int, start: datetime) -> dict[str, Any]:
    label = None if i % 11 == 10 else i % 11
    source = "feedback" if i % 3 == 0 else "collect"
    meta = samples.new_meta(
        label, source, f"client-{i % 997}",
        predictions={m: {"digit": label, "version": 1 + i % 3} for m in ("fnn", "cnn")}
        if source == "feedback" else None,
        collector=f"collector-{i % 4}" if i % 10 == 0 else None,
    )  # fmt: skip
    meta["created_at"] = (start + timedelta(seconds=i * 60)).isoformat()
    return meta


def make_local_samples(root: Path, first: int, count: int, pngs: list[bytes]) -> None:
    """Samples ``first`` .. ``first+count-1`` written straight into ``root/samples``."""
    folder = root / "samples"
    folder.mkdir(parents=True, exist_ok=True)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(first, first + count):
        sample_id = uuid.UUID(int=i + 1).hex
        meta = {"id": sample_id, **_meta(i, start)}
        (folder / f"{sample_id}.png").write_bytes(pngs[i % len(pngs)])
        (folder / f"{sample_id}.json").write_text(json.dumps(meta, sort_keys=True))


def make_s3_samples(store: Store, count: int, pngs: list[bytes]) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def put(i: int) -> None:
        sample_id = uuid.UUID(int=i + 1).hex
        store.put_bytes(samples.image_key(sample_id), pngs[i % len(pngs)], "image/png")
        samples.write_meta(store, sample_id, _meta(i, start))

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(count)))


def add_events(client: redis.Redis, first: int, count: int) -> None:
    """Feedback events counted as web counts them (one Lua step each), pipelined."""
    pipe = client.pipeline(transaction=False)
    for i in range(first, first + count):
        label = i % 10
        predicted = {m: {"digit": (label + (i % 7 == 0)) % 10, "version": 1 + i % 3}
                     for m in ("fnn", "cnn")}  # fmt: skip
        when = time.time() - (i % 90) * 86400
        fields = stats.event_fields(label, predicted, when)
        pipe.eval(stats._ADD_EVENT, 2, stats.SEEN_PREFIX + f"bench-{i}", stats.TOTALS_KEY,
                  stats.SEEN_SECONDS, *fields)  # fmt: skip
        if len(pipe) >= 1000:
            pipe.execute()
    pipe.execute()


def p50_ms(client: httpx.Client, url: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        answer = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        answer.raise_for_status()
    return round(statistics.median(times), 1)


def measure_reads(client: httpx.Client, base: str, repeats: int) -> dict[str, float]:
    figures = {q: p50_ms(client, f"{base}/api/samples?{q}", repeats) for q in QUERIES}
    figures["counts"] = p50_ms(client, f"{base}/api/samples/counts", repeats)
    figures["stats"] = p50_ms(client, f"{base}/api/stats", repeats)
    return figures


def export_rss(base: str, token: str, pid: int, kind: str) -> dict[str, Any]:
    """Stream an export of everything; the web's RSS before and at most during it."""
    peak = [stack.memory_mb(pid)["rss_total"]]
    before = peak[0]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], stack.memory_mb(pid)["rss_total"])
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    size, started = 0, time.perf_counter()
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.stream("GET", f"{base}/api/samples/export?format={kind}", headers=headers,
                      timeout=600) as answer:  # fmt: skip
        answer.raise_for_status()
        for chunk in answer.iter_bytes():
            size += len(chunk)
    seconds = time.perf_counter() - started
    done.set()
    watcher.join()
    return {"format": kind, "mb": round(size / 1e6, 1), "seconds": round(seconds, 1),
            "rss_before_mb": before, "rss_peak_mb": peak[0],
            "rss_growth_mb": round(peak[0] - before, 1)}  # fmt: skip


def rebuild_rate(client: redis.Redis, store: Store, with_manifest: bool) -> dict[str, Any]:
    client.delete(sample_index.BUILT_KEY)
    if with_manifest:
        sample_index.write_manifest(client, store)
    else:
        store.delete(sample_index.MANIFEST_KEY)
    result = sample_index.rebuild(client, store)
    return {**result, "manifest": with_manifest}


def redis_mb(client: redis.Redis) -> float:
    return round(int(client.info("memory")["used_memory"]) / 2**20, 1)


def measure(samples_total: int, events_total: int, s3_samples: int, repeats: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="digits-bench-dataset-"))
    pngs = _pngs(500)
    result: dict[str, Any] = {"samples": samples_total, "events": events_total}
    valkey = processes.start_valkey(work / "valkey")
    client = redis.Redis.from_url(valkey.url)
    token = secrets.token_hex(16)
    # The gallery public, as a site that shows it: listings are measured without a token.
    env = dict(os.environ, REDIS_URL=valkey.url, STORAGE_URL=str(work / "store"),
               WEIGHTS_DIR=str(ROOT / "models"), RATE_LIMITS_ENABLED="false",
               ADMIN_TOKEN=token, WEB_CONCURRENCY="1", PUBLIC_GALLERY="true")  # fmt: skip
    port = processes.free_port()
    web = stack.start_web(env, port, work / "web.log")
    base = f"http://127.0.0.1:{port}"
    store = LocalStore(work / "store")
    try:
        stack.first_answer(f"{base}/healthz", web)
        small = min(1000, samples_total)
        make_local_samples(work / "store", 0, small, pngs)
        add_events(client, 0, min(1000, events_total))
        result["rebuild_local_1000"] = rebuild_rate(client, store, with_manifest=False)
        with httpx.Client(timeout=60) as http:
            result["at_1000"] = measure_reads(http, base, repeats)
            say(f"at {small:,}: {result['at_1000']}")
            started = time.perf_counter()
            make_local_samples(work / "store", small, samples_total - small, pngs)
            add_events(client, 1000, events_total - 1000)
            result["make_seconds"] = round(time.perf_counter() - started, 1)
            result["rebuild_local"] = rebuild_rate(client, store, with_manifest=False)
            say(f"rebuild from {samples_total:,} metadata files: {result['rebuild_local']}")
            result["rebuild_local_manifest"] = rebuild_rate(client, store, with_manifest=True)
            say(f"rebuild with the manifest: {result['rebuild_local_manifest']}")
            result["redis_mb"] = redis_mb(client)
            result["at_full"] = measure_reads(http, base, repeats)
            say(f"at {samples_total:,}: {result['at_full']}")
        result["ratios"] = {
            key: round(result["at_full"][key] / result["at_1000"][key], 2)
            for key in result["at_1000"]
        }
        result["export"] = [export_rss(base, token, web.pid, kind) for kind in ("zip", "npz")]
        say(f"export: {result['export']}")
    finally:
        stack.stop(web)
        valkey.stop()
    if s3_samples:
        result["rebuild_s3"] = measure_s3(work, s3_samples, pngs)
        say(f"S3: {result['rebuild_s3']}")
    return result


def measure_s3(work: Path, count: int, pngs: list[bytes]) -> list[dict[str, Any]]:
    """Rebuild rates on the SeaweedFS S3 test server (every read a real HTTP request)."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    weed = processes.start_seaweedfs(work / "weed", "bench")
    valkey = processes.start_valkey(work / "valkey-s3")
    try:
        store = S3Store("bench", "dataset", weed.url)
        make_s3_samples(store, count, pngs)
        client = redis.Redis.from_url(valkey.url)
        return [rebuild_rate(client, store, with_manifest=m) for m in (False, True)]
    finally:
        valkey.stop()
        weed.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--s3-samples", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    result = measure(args.samples, args.events, args.s3_samples, args.repeats)
    print(json.dumps(result, indent=2))

    def add(name: str, measured: Any, ok: bool | None, note: str = "") -> None:
        say(f"{'met' if ok else 'MISSED'}: {name}: {measured}")

    dataset_targets(result, add)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
