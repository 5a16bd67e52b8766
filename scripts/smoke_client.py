"""HTTP driver of the end-to-end smoke test: one step per run, against a deployed web.

Each step prints one line of what it measured (a value for the calling script on the last
line) or exits 1 with the reason. httpx, numpy, Pillow, ``shared``: not the code under test."""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image, ImageDraw

from shared.fine_tune_jobs import FINISHED
from shared.imaging import ink_canvas_png, render_canvas_png
from shared.names import MODEL_NAMES

SAMPLE = Path(__file__).resolve().parent.parent / "tests" / "data" / "mnist_sample.npz"
#: Seconds for one HTTP call: above the API's longest long-poll (POLL_WAIT).
HTTP_TIMEOUT, POLL_WAIT = 20.0, 5
PREDICTION_TIMEOUT = SAMPLES_TIMEOUT = 60.0
#: Compose keeps rate limits on (60 writes a minute per client): 429s are waited out so long.
RATE_LIMIT_PATIENCE = 150.0


class SmokeFailure(Exception):
    """A wrong answer or a failed call: the step's message, exit status 1."""


def call(client: httpx.Client, method: str, path: str, *ok: int, **kw: Any) -> httpx.Response:
    """One request; any status but ``ok`` (200 by default) after waiting out 429s fails."""
    expect, give_up = ok or (200,), time.monotonic() + RATE_LIMIT_PATIENCE
    while True:
        try:
            response = client.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise SmokeFailure(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 429 or 429 in expect or time.monotonic() > give_up:
            break
        retry_after = response.headers.get("Retry-After", "")
        time.sleep(min(int(retry_after) if retry_after.isdigit() else 5, 60) + 1)  # rounded down
    if response.status_code not in expect:
        raise SmokeFailure(f"{method} {path}: {response.status_code} {response.text[:300]}")
    return response


def example_of(label: int, nth: int = 0) -> np.ndarray:
    """The nth test digit shipped in tests/data with this label (never trained on)."""
    with np.load(SAMPLE) as data:
        return np.asarray(data["x_test"][np.flatnonzero(data["y_test"] == label)[nth]])


def submit(client: httpx.Client, png: bytes, path: str = "/api/predictions", **more: int) -> Any:
    """POST a canvas as the page does (a PNG data URL, no strokes); the answer."""
    body = {"image": "data:image/png;base64," + base64.b64encode(png).decode(), **more}
    return call(client, "POST", path, 202, json=body).json()


def predict(client: httpx.Client, png: bytes) -> tuple[dict[str, Any], float]:
    """A canvas read to the end, long-polling as the page does: the result and seconds."""
    started, status_url = time.monotonic(), submit(client, png)["status_url"]
    while time.monotonic() - started < PREDICTION_TIMEOUT:
        job = call(client, "GET", status_url, params={"wait": POLL_WAIT}).json()
        if job["status"] == "done":
            return job["result"], time.monotonic() - started
        if job["status"] == "failed":
            raise SmokeFailure(f"prediction {status_url} failed: {job.get('error')}")
    raise SmokeFailure(f"prediction {status_url} not done in {PREDICTION_TIMEOUT:g} s")


def reading(result: dict[str, Any], name: str) -> str:
    said, digit = result[name], result[name]["digit"]
    share = said["not_digit"] if digit is None else said["probabilities"][digit]
    return f"{name.upper()} {'not a digit' if digit is None else digit} ({share * 100:.1f} %)"


def read_all(client: httpx.Client, cases: dict[str, tuple[bytes, Any]]) -> str:
    """Each canvas read against its answer (None: not a digit): the CNN must be right on
    all, the FNN on all but one at most. What each said, and in how long."""
    parts, fnn_misses = [], 0
    for name, (png, expected) in cases.items():
        result, took = predict(client, png)
        said = f"{name}: {reading(result, 'cnn')} {reading(result, 'fnn')}"
        if result["cnn"]["digit"] != expected:
            raise SmokeFailure(f"the CNN is wrong on {said}")
        fnn_misses += result["fnn"]["digit"] != expected
        parts.append(f"{said} {took:.2f} s")
    if fnn_misses > 1:
        raise SmokeFailure(f"the FNN is wrong {fnn_misses} times: {'; '.join(parts)}")
    return "; ".join(parts)


def step_wait_healthy(client: httpx.Client, args: argparse.Namespace) -> str:
    """Until /healthz answers 200 (Redis, store, a worker) and --workers all answer too."""
    started, last, wanted = time.monotonic(), "no answer", set(args.workers.split(",")) - {""}
    while (waited := time.monotonic() - started) < args.timeout:
        try:
            body = call(client, "GET", "/healthz", 200, 503).json()
            names = sorted(body["checks"].get("worker_names", []))
            if body["status"] != "down" and wanted <= set(names):
                return f"wait-healthy: {body['status']} after {waited:.1f} s, {names}"
            last = json.dumps(body["checks"])
        except (SmokeFailure, ValueError, KeyError) as exc:  # not up yet, or not web
            last = str(exc)
        time.sleep(1)
    raise SmokeFailure(f"/healthz not healthy in {args.timeout:g} s; last: {last}")


def step_digit(client: httpx.Client, args: argparse.Namespace) -> str:
    """Test digits of different labels, one per canvas as the page draws them."""
    labels = range(0, 10, 10 // args.count)[: args.count]
    cases = {str(n): (render_canvas_png(example_of(n)), n) for n in labels}
    return "digit: " + read_all(client, cases)


def number_canvas(text: str, side: int = 200, gap: int = 40) -> bytes:
    """MNIST digits side by side, apart, on the page's 3:1 number pad (840x280)."""
    ink = Image.new("L", (840, 280), 0)
    left = (840 - len(text) * side - (len(text) - 1) * gap) // 2
    for i, char in enumerate(text):
        digit = Image.fromarray(example_of(int(char), 1))
        ink.paste(digit.resize((side, side)), (left + i * (side + gap), (280 - side) // 2))
    return ink_canvas_png(ink)


def step_number(client: httpx.Client, args: argparse.Namespace) -> str:
    """Each number, drawn whole on one canvas, must be read whole (the CNN's text)."""
    said = []
    for text in args.numbers:
        result, took = predict(client, number_canvas(text))
        if result["number"]["text"] != text:
            raise SmokeFailure(f"drew {text}, read {result['number']['text']!r}")
        said.append(f"{text} in {took:.2f} s")
    return f"number: read as drawn: {', '.join(said)}"


def hand_drawn(strokes: list[list[tuple[int, int]]], pen: int = 20) -> bytes:
    """A 280x280 canvas with each stroke drawn by a round pen, as the page's pad does."""
    ink = Image.new("L", (280, 280), 0)
    draw = ImageDraw.Draw(ink)
    for stroke in strokes:
        draw.line(stroke, fill=255, width=pen, joint="curve")
        for x, y in (stroke[0], stroke[-1]):
            draw.ellipse((x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2), fill=255)
    return ink_canvas_png(ink)


def step_not_digit(client: httpx.Client, args: argparse.Namespace) -> str:
    """Letters tests/worker/trainer/test_not_a_digit.py shows the shipped models refuse."""
    k = hand_drawn([[(80, 40), (80, 240)], [(200, 40), (85, 150), (200, 240)]])
    w = hand_drawn([[(30, 50), (80, 230), (140, 90), (200, 230), (250, 50)]])
    return "not-digit: " + read_all(client, {"letter K": (k, None), "letter W": (w, None)})


def samples_counted(client: httpx.Client, at_least: int, wait: float) -> int:
    """The stored count once it is ``at_least``: samples are stored after web answers."""
    give_up = time.monotonic() + wait
    while (total := int(call(client, "GET", "/api/samples/counts").json()["total"])) < at_least:
        if time.monotonic() > give_up:
            raise SmokeFailure(f"{total} samples counted, not {at_least}, in {wait:g} s")
        time.sleep(0.5)
    return total


def step_collect(client: httpx.Client, args: argparse.Namespace) -> str:
    """N labelled drawings as the collect page sends them; then the stored count N up
    (with --no-wait, the count right after sending)."""
    before, started = samples_counted(client, 0, 0), time.monotonic()
    for i in range(args.n):
        submit(client, render_canvas_png(example_of(i % 10, 2)), "/api/samples", label=i % 10)
    total = samples_counted(client, 0 if args.no_wait else before + args.n, SAMPLES_TIMEOUT)
    return f"collect: +{args.n} in {time.monotonic() - started:.1f} s: {before} -> {total}\n{total}"


def step_count_samples(client: httpx.Client, args: argparse.Namespace) -> str:
    """The stored count; as wait-samples N, once it is N or more (within --timeout s)."""
    started, total = time.monotonic(), samples_counted(client, args.n, args.timeout)
    return f"{args.step}: {total} samples stored ({time.monotonic() - started:.1f} s)\n{total}"


def step_models(client: httpx.Client, args: argparse.Namespace) -> str:
    """Each model's current version, and its live challenger's while one races."""
    models = call(client, "GET", "/api/models").json()["models"]
    versions = {name: models[name]["current"] for name in MODEL_NAMES}
    for name in MODEL_NAMES:
        if models[name]["challenger"]:
            versions[f"{name}_challenger"] = models[name]["challenger"]["version"]
    return f"models: current versions\n{json.dumps(versions, separators=(',', ':'))}"


def job_state(client: httpx.Client, job_id: str, wait: float = 0) -> dict[str, Any]:
    """The job's record; with ``wait``, once it has ended (not within wait s: a failure)."""
    give_up = time.monotonic() + wait
    while True:
        state = dict(call(client, "GET", f"/api/fine-tunes/{job_id}").json())
        if state["status"] in FINISHED or not wait:
            return state
        if time.monotonic() > give_up:
            raise SmokeFailure(f"job {job_id} still {state['status']} after {wait:g} s")
        time.sleep(2)


def step_fine_tune(client: httpx.Client, args: argparse.Namespace) -> str:
    """An admin fine-tune (retried while another job holds the lock, 409, for --retry-409 s)
    to its outcome: "failed", or none in --timeout s, fails. As fine-tune-start, its id."""
    started = time.monotonic()
    answer = call(client, "POST", "/api/fine-tunes", 202, 409, headers=args.admin)
    while answer.status_code == 409:
        if time.monotonic() - started >= args.retry_409:
            raise SmokeFailure(f"fine-tune refused (409): {answer.json()['error']['message']}")
        time.sleep(5)
        answer = call(client, "POST", "/api/fine-tunes", 202, 409, headers=args.admin)
    job_id = answer.json()["id"]
    if args.step == "fine-tune-start":
        return f"fine-tune-start: job queued\n{job_id}"
    state = job_state(client, job_id, args.timeout)
    took = time.monotonic() - started
    if state["status"] == "failed":
        raise SmokeFailure(f"fine-tune {job_id} failed after {took:.0f} s: {state.get('error')}")
    models = (state.get("result") or {}).get("models", {})
    each = ", ".join(f"{n} {m['outcome']} {m.get('version') or ''}" for n, m in models.items())
    return f"fine-tune: {job_id} {state['status']} in {took:.0f} s, {state['total']} steps ({each})"


def step_job_status(client: httpx.Client, args: argparse.Namespace) -> str:
    """A job's status; with --wait-finished S, once it has ended, however (interrupted too)."""
    state = job_state(client, args.id, args.wait_finished)
    said = f"{state['status']} at step {state.get('step')}/{state.get('total')}"
    return f"job-status: {args.id} {said} {state.get('error') or ''}\n{state['status']}"


def step_metrics(client: httpx.Client, args: argparse.Namespace) -> str:
    """Prometheus text holding web's own families and those read from the workers' counts."""
    response = call(client, "GET", "/metrics", headers=args.admin)
    if not response.headers.get("Content-Type", "").startswith("text/plain"):
        raise SmokeFailure(f"/metrics is {response.headers.get('Content-Type')}, not text/plain")
    lines = response.text.splitlines()
    families = {ln.split()[2].removesuffix("_total") for ln in lines if ln.startswith("# TYPE")}
    series = [line for line in lines if line and not line.startswith("#")]
    wanted = {"digits_http_requests", "digits_queue_depth", "digits_prediction_jobs"}
    if not wanted <= families:
        raise SmokeFailure(f"/metrics lacks {sorted(wanted - families)}")
    alive = [s.removeprefix("digits_workers_alive") for s in series if "workers_alive{" in s]
    return f"metrics: {len(families)} families, {len(series)} series; workers alive {alive}"


def step_flood(client: httpx.Client, args: argparse.Namespace) -> str:
    """N predictions sent and not waited for: work in flight for a stop to meet."""
    sent = [submit(client, render_canvas_png(example_of(i % 10, 3))) for i in range(args.n)]
    return f"flood: {len(sent)} predictions accepted, not waited for\n{len(sent)}"


STEPS = {name[5:].replace("_", "-"): f for name, f in globals().items() if name.startswith("step_")}
STEPS |= {"fine-tune-start": step_fine_tune, "wait-samples": step_count_samples}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    top.add_argument("--base-url", required=True, help="web's base URL, http://HOST:PORT")
    top.add_argument("--admin-token", default="", help="sent on admin calls only")
    steps = top.add_subparsers(dest="step", required=True)
    each = {name: steps.add_parser(name) for name in STEPS}
    for name, seconds in {"wait-healthy": 180, "wait-samples": 120, "fine-tune": 900}.items():
        each[name].add_argument("--timeout", type=float, default=seconds)
    each["wait-healthy"].add_argument("--workers", default="", help="e.g. worker,trainer")
    each["digit"].add_argument("--count", type=int, default=5, choices=range(1, 11))
    each["number"].add_argument("numbers", nargs="*", default=["47", "305"])
    for name in ("collect", "flood", "wait-samples"):
        each[name].add_argument("n", type=int)
    each["collect"].add_argument("--no-wait", action="store_true", help="do not wait for counts")
    each["count-samples"].set_defaults(n=0, timeout=0)
    for name in ("fine-tune", "fine-tune-start"):
        each[name].add_argument("--retry-409", type=float, default=0, metavar="SECONDS")
    each["job-status"].add_argument("id")
    each["job-status"].add_argument("--wait-finished", type=float, default=0, metavar="SECONDS")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.admin = {"Authorization": f"Bearer {args.admin_token}"}
    # Idle connections dropped before gunicorn's keepalive (2 s) ends them under a request.
    base, limits = args.base_url.rstrip("/"), httpx.Limits(keepalive_expiry=1.0)
    with httpx.Client(base_url=base, timeout=HTTP_TIMEOUT, limits=limits) as client:
        try:
            print(STEPS[args.step](client, args), flush=True)
        except SmokeFailure as failure:
            print(f"smoke {args.step} FAILED: {failure}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
