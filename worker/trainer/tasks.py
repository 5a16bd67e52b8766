"""The trainer's tasks: run one training job (a fine-tune or a full retrain) and record its
progress and outcome in Redis."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from shared import fine_tune_jobs, metrics, names
from shared.errors import describe_error
from worker.clients import redis_client, settings, store
from worker.trainer.celery import app
from worker.trainer.fine_tuning import run_fine_tune
from worker.trainer.retraining import run_retrain
from worker.trainer.rounds import Report

log = logging.getLogger(__name__)

#: ``train(report, job, pending)``: the round's outcome, given the job's record and the
#: samples still new when it started.
Train = Callable[[Report, dict[str, Any], set[str]], dict[str, Any]]


def run_job(job_id: str, train: Train) -> dict[str, Any]:
    """Run one job of any kind; a redelivered job that already finished does nothing."""
    client = redis_client()
    job = fine_tune_jobs.read_job(client, job_id)
    if job is None or job["status"] in fine_tune_jobs.FINISHED:
        return {"id": job_id, "status": job["status"] if job else "unknown"}
    # A job redelivered after its trainer died may have outlived its lock: take it again,
    # unless another job started meanwhile (then this one must not run beside it).
    if not fine_tune_jobs.claim(client, job_id, fine_tune_jobs.KINDS[job["kind"]][1]):
        error = "another training job started meanwhile"
        fine_tune_jobs.finish(client, job_id, "failed", error=error)
        return {"id": job_id, "status": "failed"}
    pending = fine_tune_jobs.pending_samples(client)
    fine_tune_jobs.update(client, job_id, status="running", started_at=time.time())
    started = time.monotonic()

    def report(step: int, total: int, loss: float) -> None:
        fine_tune_jobs.update(client, job_id, step=step, total=total, loss=round(loss, 5))

    try:
        outcome = train(report, job, pending)
    except Exception as exc:
        # The record is public (GET /api/fine-tunes/<id>): no paths or hosts in it; the
        # exception, raised again, is logged whole.
        fine_tune_jobs.finish(client, job_id, "failed", error=describe_error(exc))
        count_job(job["kind"], "failed", time.monotonic() - started)
        raise
    used = outcome.pop("used_sample_ids")
    fine_tune_jobs.finish(client, job_id, outcome["outcome"], result=outcome)
    count_job(job["kind"], outcome["outcome"], time.monotonic() - started)
    if not outcome["skipped"]:  # a racing model has not seen them yet: they stay new
        fine_tune_jobs.clear_pending(client, pending)
    log.info("%s %s %s in %s s", job["kind"], job_id, outcome["outcome"], outcome["seconds"])
    return {"id": job_id, "status": outcome["outcome"], "samples": len(used)}


def count_job(kind: str, outcome: str, seconds: float) -> None:
    """The job's outcome and duration in the workers' metrics (web exports them)."""
    tally = metrics.Tally().count("training_jobs", kind=kind, outcome=outcome)
    metrics.add(redis_client(), tally.observe("training_job_seconds", seconds, kind=kind))


@app.task(
    name=names.FINE_TUNE,
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=fine_tune_jobs.TIME_LIMIT,
    soft_time_limit=fine_tune_jobs.TIME_LIMIT - 60,
)
def fine_tune(job_id: str) -> dict[str, Any]:
    """Run one fine-tune job on the samples still new."""

    def train(report: Report, job: dict[str, Any], pending: set[str]) -> dict[str, Any]:
        return run_fine_tune(
            store(), settings().mnist_path, settings().weights_dir, report, new_ids=pending,
            challenger_pairs=settings().challenger_pairs, keep_versions=settings().keep_versions,
        )  # fmt: skip

    return run_job(job_id, train)


@app.task(
    name=names.RETRAIN,
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=fine_tune_jobs.RETRAIN_TIME_LIMIT,
    soft_time_limit=fine_tune_jobs.RETRAIN_TIME_LIMIT - 60,
)
def retrain(job_id: str) -> dict[str, Any]:
    """Run one full retrain with the options its record holds (``epochs``, ``mnist_limit``).

    It trains on every sample, the pending ones too, so they are new no more once it ends.
    """

    def train(report: Report, job: dict[str, Any], pending: set[str]) -> dict[str, Any]:
        options = job.get("options") or {}
        return run_retrain(
            store(), settings().mnist_path, settings().weights_dir, report,
            epochs=options.get("epochs"), mnist_limit=options.get("mnist_limit"),
            challenger_pairs=settings().challenger_pairs, keep_versions=settings().keep_versions,
        )  # fmt: skip

    return run_job(job_id, train)
