"""The fine-tune phase: start the trainer, post samples in a hand of their own, fine-tune.

Measures the trainer's memory when ready and during the round, the round's time, and
how much the candidate learned on held-out samples of that hand.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from bench import drawings, stack
from bench.report import say, show_memory
from shared.fine_tune_jobs import FINISHED
from tests import processes


def measure_fine_tune(running: stack.Stack, samples: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fine-tune figures, and the trainer's memory when ready and after the round."""
    say("== trainer and fine-tune")
    ready_s, ready_memory = start_trainer(running)
    # Users with a hand of their own: the holdout part shows how much the round learned.
    urls, labels = drawings.canvas_images("train", samples, style=drawings.slanted_heavy)
    with httpx.Client(timeout=30) as client:
        post_samples(client, running, urls, labels)
        seconds, job, peak = fine_tune(client, running)
    after = running.memory("trainer") | {"pss_peak_sampled": peak}
    show_memory("trainer (after fine-tune)", after)
    result = job.get("result") or {}
    holdout = holdouts(result)
    summary = summarize(seconds, job.get("status"), holdout)
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
    return tune, {"trainer (ready)": ready_memory, "trainer (after fine-tune)": after}


def start_trainer(running: stack.Stack) -> tuple[float, dict[str, Any]]:
    """Start the trainer: seconds until it is ready, and its memory then."""
    log = running.work / "trainer.log"
    started = time.perf_counter()
    trainer = stack.celery_worker(running.env, "train", "trainer", "prefork", 1, log)
    running.procs["trainer"] = trainer
    ready_s = stack.wait_log(log, "ready.", trainer, 90)
    time.sleep(1.0)
    memory = running.memory("trainer")
    show_memory("trainer (ready)", memory)
    say(f"  trainer ready in {ready_s:.2f} s (started {time.perf_counter() - started:.1f} s ago)")
    return ready_s, memory


def post_samples(
    client: httpx.Client, running: stack.Stack, urls: list[str], labels: list[int]
) -> None:
    """Post labelled samples and wait until the store holds every one."""
    for url, label in zip(urls, labels, strict=True):
        answer = client.post(f"{running.web_url}/api/samples", json={"image": url, "label": label})
        answer.raise_for_status()
    samples_dir = Path(running.env["STORAGE_URL"]) / "samples"

    def stored() -> bool:
        return len(list(samples_dir.glob("*.json"))) >= len(urls)

    processes.wait_until(stored, 60, "samples stored")
    say(f"  {len(urls)} samples stored")


def fine_tune(client: httpx.Client, running: stack.Stack) -> tuple[float, dict[str, Any], float]:
    """Start a round and poll it to the end: seconds, the job, the trainer's peak PSS seen."""
    headers = {"Authorization": f"Bearer {running.env['ADMIN_TOKEN']}"}
    posted = time.perf_counter()
    answer = client.post(f"{running.web_url}/api/fine-tunes", headers=headers)
    answer.raise_for_status()
    job_url = f"{running.web_url}{answer.json()['status_url']}"
    peak = 0.0
    job: dict[str, Any] = {}
    while time.perf_counter() - posted < 600:
        job = client.get(job_url).json()
        peak = max(peak, running.memory("trainer")["pss_total"])
        if job.get("status") in FINISHED:
            break
        time.sleep(0.5)
    return time.perf_counter() - posted, job, peak


def holdouts(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per model: the outcome, and parent vs candidate accuracy on both holdouts."""
    return {
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


def summarize(seconds: float, status: str | None, holdout: dict[str, dict[str, Any]]) -> str:
    return f"{seconds:.1f} s, {status}; " + ", ".join(
        f"{n} {h['outcome']} (MNIST holdout {h['parent_mnist']:.3f} → {h['candidate_mnist']:.3f},"
        f" held-out user samples {h['parent_user']:.3f} → {h['candidate_user']:.3f})"
        for n, h in holdout.items()
    )
