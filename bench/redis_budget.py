"""Redis on a small plan: the connections the stack opens and the memory a prediction keeps.

``python -m bench.redis_budget``: starts valkey, web (gunicorn, 2 gevent processes), a
predict worker (threads, 8) and a trainer as the Procfile runs them, on loopback, with
rate limits on (at limits no client here reaches) and a local-directory store; then

- connections: ``CLIENT LIST`` when idle (after a request of each kind) and at its peak
  under a bounded load (predictions from a few clients, with feedback, samples,
  ``/api/stats`` and ``/healthz`` beside them), each connection attributed through /proc
  to the process that holds it;
- memory: ``INFO memory`` before and after P predictions, F feedback answers and K
  samples, and ``MEMORY USAGE`` of the prediction records;
- records: ``MEMORY USAGE`` of six-digit numbers' records through the stack, and of the
  worst record the code allows (``worst_record``: every image incompressible, the most
  images a canvas may send), before and after the worker keeps only what it shows;
- what fits each Heroku Redis plan: predictions a day at a steady rate, given RESULT_TTL.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import redis

from bench import load, stack
from bench.drawings import SAMPLE, canvas_images, number_images
from bench.report import say
from shared import answers, prediction_records
from shared.dataset import sample_index
from shared.imaging import MAX_DIGITS, MAX_IMAGES, encode_pixels
from shared.settings import Settings
from tests import processes
from web import stats

#: Heroku Data for Redis plans: name, memory (MB), connections (Heroku Dev Center,
#: "Heroku Redis Technical Characterization"; mini was called hobby-dev there).
PLANS = (("mini", 25, 20), ("premium-0", 50, 40), ("premium-1", 100, 80),
         ("premium-2", 250, 200))  # fmt: skip
#: Share of a plan's memory the app may plan for (the rest: fragmentation, bursts).
USABLE = 0.8
#: Connections kept free for a one-off dyno (``heroku run``) or ``heroku redis:cli``.
SPARE_CONNECTIONS = 2
#: Share of predictions that get a feedback answer, and a dataset size, for the plan table.
FEEDBACK_SHARE = 0.25
DATASET = 10_000
UNLIMITED = "1000000 per minute"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", type=int, default=500)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--numbers", type=int, default=100, help="six-digit predictions")
    parser.add_argument("--clients", type=int, default=16, help="clients of the load phase")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of the load phase")
    return parser.parse_args()


# ---- connections, attributed to processes --------------------------------------------


def roles(procs: dict[str, Any]) -> dict[int, str]:
    """Process id -> what it is: each gunicorn process, the worker, the trainer's two."""
    found: dict[int, str] = {}
    for name, proc in procs.items():
        if name == "valkey":
            continue
        tree = processes.process_tree(proc.pid)
        for index, pid in enumerate(tree):
            if name == "web":
                found[pid] = "web master" if pid == proc.pid else f"web process {index}"
            elif name == "trainer":
                found[pid] = "trainer" if pid == proc.pid else "trainer pool"
            else:
                found[pid] = name
    found[os.getpid()] = "bench"
    return found


def socket_pids(pids: list[int]) -> dict[int, int]:
    """Socket inode -> the process holding it, for the given processes."""
    owners = {}
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    owners[int(target[8:-1])] = pid
        except OSError:
            continue  # gone meanwhile
    return owners


def port_inodes() -> dict[int, int]:
    """Local TCP port -> socket inode, for this machine's IPv4 sockets."""
    found = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        found[int(fields[1].rsplit(":", 1)[1], 16)] = int(fields[9])
    return found


def kind_of(client: dict[str, Any]) -> str:
    if int(client.get("sub", 0)) or int(client.get("psub", 0)) or "P" in client["flags"]:
        return "subscription"
    if client["cmd"] in {"brpop", "blpop", "bzpopmin", "blmove"}:
        return "blocking pop"
    return "commands"


def connections(client: redis.Redis, who: dict[int, str]) -> list[tuple[str, str]]:
    """(role, kind) of every client connection valkey has now."""
    entries = client.client_list()
    owners, inodes = socket_pids(list(who)), port_inodes()
    found = []
    for entry in entries:
        port = int(entry["addr"].rsplit(":", 1)[1])
        pid = owners.get(inodes.get(port, -1), -1)
        found.append((who.get(pid, "closed meanwhile"), kind_of(entry)))
    return found


def tally(found: list[tuple[str, str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for role, _ in found:
        if role != "bench":
            counts[role] = counts.get(role, 0) + 1
    return dict(sorted(counts.items()))


def show_connections(title: str, found: list[tuple[str, str]]) -> dict[str, int]:
    counts = tally(found)
    kinds: dict[str, int] = {}
    for role, kind in found:
        if role != "bench":
            kinds[kind] = kinds.get(kind, 0) + 1
    say(f"  {title}: {sum(counts.values())} connections; {counts}; {kinds}")
    return counts


# ---- requests -----------------------------------------------------------------------


def predict(http: httpx.Client, base: str, image: str) -> str:
    """One prediction to its end (Prefer: wait); its id."""
    answer = http.post(f"{base}/api/predictions", json={"image": image}, headers=load.PREFER_WAIT)
    answer.raise_for_status()
    body = answer.json()
    while body.get("status") not in {"done", "failed"}:
        body = http.get(f"{base}{answer.headers['Location']}", params={"wait": 5}).json()
    return str(body["id"])


def feedback(http: httpx.Client, base: str, job_id: str, label: int) -> None:
    answer = http.post(f"{base}/api/predictions/{job_id}/feedback",
                       json={"label": label, "consent": False})  # fmt: skip
    answer.raise_for_status()


def sample(http: httpx.Client, base: str, image: str, label: int) -> None:
    http.post(f"{base}/api/samples", json={"image": image, "label": label}).raise_for_status()


def one_of_each(base: str, image: str, label: int) -> None:
    """A request of every kind, each on a new connection so both web processes see some."""
    for _ in range(4):
        with httpx.Client(timeout=30) as http:
            feedback(http, base, predict(http, base, image), label)
            sample(http, base, image, label)
            for path in ("/api/stats", "/healthz", "/api/models", "/api/samples/counts"):
                http.get(f"{base}{path}")


def side_traffic(base: str, image: str, label: int, until: float) -> None:
    """Beside the load: feedback, samples, stats and health, a few a second."""
    with httpx.Client(timeout=30) as http:
        while time.time() < until:
            feedback(http, base, predict(http, base, image), label)
            sample(http, base, image, label)
            http.get(f"{base}/api/stats")
            http.get(f"{base}/healthz")
            time.sleep(0.2)


def peak_under_load(running: stack.Stack, client: redis.Redis, args: argparse.Namespace,
                    images: list[str], labels: list[int]) -> dict[str, Any]:  # fmt: skip
    """The most connections seen, in all and per process, while the load runs."""
    who = roles(running.procs)
    received = int(client.info("stats")["total_connections_received"])
    done: dict[str, Any] = {}

    def run() -> None:
        done.update(load.run_load("async", running.web_url, images, args.clients, args.seconds))

    threads = [threading.Thread(target=run),
               threading.Thread(target=side_traffic, args=(running.web_url, images[0], labels[0],
                                                           time.time() + args.seconds))]  # fmt: skip
    for thread in threads:
        thread.start()
    peak_total, peak = 0, {}
    at_peak: list[tuple[str, str]] = []
    while threads[0].is_alive():
        found = connections(client, who)
        counts = tally(found)
        for role, n in counts.items():
            peak[role] = max(peak.get(role, 0), n)
        if sum(counts.values()) > peak_total:
            peak_total, at_peak = sum(counts.values()), found
        time.sleep(0.2)
    for thread in threads:
        thread.join()
    opened = int(client.info("stats")["total_connections_received"]) - received
    say(f"  load: {args.clients} clients, {done['done']} predictions in {done['duration_s']} s, "
        f"{done['errors']} errors {done['error_samples'][:2]}")  # fmt: skip
    show_connections("at the peak", at_peak)
    say(f"  peak per process: {dict(sorted(peak.items()))}; {opened} connections opened")
    return {"peak_total": peak_total, "peak": peak, "opened": opened, "load": done}


# ---- memory -------------------------------------------------------------------------


def used(client: redis.Redis) -> int:
    time.sleep(1.0)  # replies and query buffers drained
    return int(client.info("memory")["used_memory"])


def measure_memory(running: stack.Stack, client: redis.Redis, args: argparse.Namespace,
                   images: list[str], labels: list[int]) -> dict[str, Any]:  # fmt: skip
    """Bytes a prediction, its feedback answer and a sample keep in Redis (INFO memory)."""
    base = running.web_url
    before = used(client)
    with ThreadPoolExecutor(8) as pool, httpx.Client(timeout=30) as http:
        ids = list(pool.map(lambda i: predict(http, base, images[i % len(images)]),
                            range(args.predictions)))  # fmt: skip
        after_predictions = used(client)
        records = [client.memory_usage(prediction_records.record_key(i), samples=0) for i in ids]
        list(pool.map(lambda i: feedback(http, base, i[1], labels[i[0] % len(labels)]),
                      enumerate(ids)))  # fmt: skip
        after_feedback = used(client)
        indexed = client.hlen(sample_index.META_KEY)
        list(pool.map(lambda i: sample(http, base, images[i % len(images)], labels[i % len(labels)]),
                      range(args.samples)))  # fmt: skip
    processes.wait_until(lambda: client.hlen(sample_index.META_KEY) >= indexed + args.samples,
                         120, "samples indexed")  # fmt: skip
    after_samples = used(client)
    figures = {
        "per_prediction": (after_predictions - before) / len(ids),
        "record_memory_usage": statistics.mean(r or 0 for r in records),
        "per_feedback": (after_feedback - after_predictions) / len(ids),
        "per_sample": (after_samples - after_feedback) / args.samples,
        "record_ttl_s": client.ttl(prediction_records.record_key(ids[-1])),
    }
    say(f"  per prediction {figures['per_prediction']:.0f} B (MEMORY USAGE of its record "
        f"{figures['record_memory_usage']:.0f} B, TTL {figures['record_ttl_s']} s); per "
        f"feedback answer {figures['per_feedback']:.0f} B; per sample "
        f"{figures['per_sample']:.0f} B")  # fmt: skip
    return figures


def number_records(running: stack.Stack, client: redis.Redis, count: int) -> dict[str, Any]:
    """``MEMORY USAGE`` and TTL of six-digit numbers' records, once answered."""
    with ThreadPoolExecutor(8) as pool, httpx.Client(timeout=30) as http:
        ids = list(pool.map(lambda image: predict(http, running.web_url, image),
                            number_images(count, MAX_DIGITS)))  # fmt: skip
    keys = [prediction_records.record_key(i) for i in ids]
    sizes = [client.memory_usage(key, samples=0) or 0 for key in keys]
    found = {"mean": statistics.mean(sizes), "most": max(sizes),
             "ttl": max(client.ttl(key) for key in keys)}  # fmt: skip
    say(f"  six-digit numbers: record {found['mean']:.0f} B on average, {found['most']} B at "
        f"most, TTL {found['ttl']} s ({count} predictions)")  # fmt: skip
    return found


def worst_record(client: redis.Redis, ttl: int, pending_ttl: int) -> dict[str, int]:
    """The largest record the code allows, written and answered as web and the worker do:
    MAX_IMAGES images of noise (incompressible) at four-digit boxes, six digits shown,
    both models' answers with a live challenger's, and a feedback answer."""
    rng = np.random.default_rng(0)
    images = np.zeros((MAX_IMAGES, 28, 28), np.uint8)
    images[:, 4:24, 4:24] = rng.integers(1, 256, (MAX_IMAGES, 20, 20))
    boxes = json.dumps([[1999, 999, 2047, 1023]] * MAX_IMAGES)
    job_id, pixels = "f" * 32, encode_pixels(images)
    prediction_records.create(client, {job_id: {prediction_records.PIXELS: pixels,
                              prediction_records.BOXES: boxes}}, ttl, pending_ttl)  # fmt: skip
    key = prediction_records.record_key(job_id)
    pending = {"pending": client.memory_usage(key, samples=0) or 0, "pending_ttl": client.ttl(key)}
    one = answers.model_answers(rng.random((1, 11)) / 11, 0.5, 999)[0]
    part = {"cnn": one, "fnn": one}
    chosen = list(range(MAX_IMAGES - MAX_DIGITS, MAX_IMAGES))  # far from the whole canvas
    result = {**part, "shadow": {"cnn": one, "fnn": one}, "parts": [part] * MAX_DIGITS,
              "chosen": chosen}  # fmt: skip
    outcomes = {job_id: {"result": result}}
    shown = prediction_records.compacted([[job_id, pixels, []]], outcomes, ttl)
    prediction_records.deliver(client, "bench-replies", outcomes, None, shown)
    client.hset(key, "feedback", json.dumps({"label": None, "number": "9" * MAX_DIGITS,
                                             "consent": True}))  # fmt: skip
    found = {
        **pending,
        "answered": client.memory_usage(key, samples=0) or 0,
        "ttl": client.ttl(key),
    }
    client.delete(key)
    say(f"  worst record: {found['pending']} B for {found['pending_ttl']} s until answered, "
        f"then {found['answered']} B for {found['ttl']} s ({MAX_IMAGES} images of noise, "
        f"{MAX_DIGITS} digits shown)")  # fmt: skip
    return found


def key_families(client: redis.Redis) -> dict[str, dict[str, Any]]:
    """Every key, grouped by its name with ids and numbers taken out: count, TTLs, bytes."""
    families: dict[str, dict[str, Any]] = {}
    for raw in client.scan_iter(count=1000):
        key = raw.decode(errors="replace")
        name = re.sub(r"\d+", "<n>", re.sub(r"[0-9a-f]{32}", "<id>", key))
        family = families.setdefault(name, {"keys": 0, "bytes": 0, "ttl": set()})
        family["keys"] += 1
        family["bytes"] += client.memory_usage(raw, samples=0) or 0
        ttl = client.ttl(raw)
        family["ttl"].add("none" if ttl == -1 else "ttl" if ttl >= 0 else "gone")
    for name, family in sorted(families.items()):
        say(f"  {name}: {family['keys']} keys, {family['bytes']:,} B, "
            f"{'/'.join(sorted(family['ttl']))}")  # fmt: skip
    return families


def per_day(mem: dict[str, Any], plan_mb: int, ttl: int, dataset: int) -> int:
    """Predictions a day, at a steady rate, that fit the plan's usable memory.

    A record lives ``ttl`` seconds; a feedback answer's event id lives SEEN_SECONDS.
    """
    budget = plan_mb * 2**20 * USABLE - mem["fixed"] - dataset * mem["per_sample"]
    held = ttl * mem["per_prediction"]
    held += FEEDBACK_SHARE * stats.SEEN_SECONDS * mem["per_feedback"]
    return max(0, int(budget / held * 86400))


def plan_table(mem: dict[str, Any], peak: dict[str, int], ttl: int, worst: int) -> list[str]:
    """Markdown rows: what each plan holds, in predictions a day and in processes, and in
    predictions alive at once when every one is the worst record (``worst`` bytes)."""
    whole = sum(n for role, n in peak.items() if role != "closed meanwhile")
    no_trainer = whole - peak.get("trainer", 0) - peak.get("trainer pool", 0)
    rows = [f"| plan | memory | connections | predictions/day at RESULT_TTL {ttl} | same, "
            f"beside {DATASET:,} samples | same at RESULT_TTL 86400 | worst records in any "
            f"{ttl} s | web (2) + worker + trainer, {whole} at most | web (2) + worker, "
            f"{no_trainer} |", "|---|---:|---:|---:|---:|---:|---:|---|---|"]  # fmt: skip
    for name, mb, limit in PLANS:
        room = limit - SPARE_CONNECTIONS
        at_worst = int((mb * 2**20 * USABLE - mem["fixed"]) / worst)
        rows.append(f"| {name} | {mb} MB | {limit} | {per_day(mem, mb, ttl, 0):,} | "
                    f"{per_day(mem, mb, ttl, DATASET):,} | {per_day(mem, mb, 86400, 0):,} | "
                    f"{at_worst:,} | {'fits' if whole <= room else 'no'} | "
                    f"{'fits' if no_trainer <= room else 'no'} |")  # fmt: skip
    return rows


def start(running: stack.Stack) -> None:
    """Web, then the predict worker and the trainer as the Procfile runs them."""
    stack.first_answer(f"{running.web_url}/healthz", running.start_web())
    for name, queues, pool, concurrency in (("worker", "predict,samples", "threads", 8),
                                            ("trainer", "train", "prefork", 1)):  # fmt: skip
        log = running.work / f"{name}.log"
        running.procs[name] = stack.celery_worker(running.env, queues, name, pool, concurrency,
                                                  log)  # fmt: skip
        stack.wait_log(log, "ready.", running.procs[name], 120)


def main() -> None:
    args = parse_args()
    images, labels = canvas_images("test", 50)
    with stack.running(Path(tempfile.mkdtemp(prefix="digits-redis-")), str(SAMPLE)) as running:
        running.env.update(RATE_LIMITS_ENABLED="true", RATE_LIMIT=UNLIMITED,
                           READ_RATE_LIMIT=UNLIMITED)  # fmt: skip
        settings = Settings.from_env(running.env)
        say(f"== stack: web 2 processes (WEB_REDIS_CONNECTIONS {settings.web_redis_connections}), "
            f"worker threads 8, trainer; RESULT_TTL {settings.result_ttl}")  # fmt: skip
        start(running)
        client = redis.Redis.from_url(running.env["REDIS_URL"])
        one_of_each(running.web_url, images[0], labels[0])
        time.sleep(3.0)
        say("== connections")
        show_connections("idle", connections(client, roles(running.procs)))
        fixed = used(client)
        conn = peak_under_load(running, client, args, images, labels)
        time.sleep(3.0)
        show_connections("idle after the load", connections(client, roles(running.procs)))
        say(f"== memory (used_memory {fixed / 2**20:.2f} MB after a request of each kind)")
        mem = {"fixed": fixed, **measure_memory(running, client, args, images, labels)}
        say("== records")
        number_records(running, client, args.numbers)
        pending = int(settings.predict_expires) + prediction_records.PENDING_GRACE
        worst = worst_record(client, settings.result_ttl, min(settings.result_ttl, pending))
        say("== keys")
        key_families(client)
        say(f"== Heroku plans ({USABLE:.0%} of memory usable, {FEEDBACK_SHARE:.0%} of "
            f"predictions answered, {SPARE_CONNECTIONS} connections spare)")  # fmt: skip
        for line in plan_table(mem, conn["peak"], settings.result_ttl, worst["answered"]):
            say(line)
        client.close()


if __name__ == "__main__":
    main()
