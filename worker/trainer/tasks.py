"""The trainer's tasks: run one training job (a fine-tune or a full retrain) and record its
progress and outcome in Redis.

While a job runs, a heartbeat thread renews its short lock (``fine_tune_jobs.keep_lock``):
if the trainer dies, or is stopped while Redis is down, the lock expires within a minute
and the job is failed as interrupted (``fine_tune_jobs.settle``). A Redis outage the
trainer lives through does not stop the job: progress reports are skipped, the heartbeat
takes the lock back when Redis returns, and the outcome is recorded then.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import redis

from shared import fine_tune_jobs, metrics, names
from shared.errors import describe_error
from shared.shapes import TrainingJob
from worker.clients import redis_client, settings, store
from worker.trainer.celery import app
from worker.trainer.fine_tuning import run_fine_tune
from worker.trainer.retraining import run_retrain
from worker.trainer.rounds import Report

log = logging.getLogger(__name__)

#: ``train(report, job, pending)``: the round's outcome, given the job's record and the
#: samples still new when it started.
Train = Callable[[Report, TrainingJob, set[str]], dict[str, Any]]
#: While Redis does not answer, the heartbeat tries again this often, so that it takes the
#: lock back well within ``ORPHAN_GRACE_SECONDS`` of Redis returning.
RETRY_SECONDS = 1.0
#: How long a job that ended waits for Redis to record its outcome (a Redis restart).
FINISH_PATIENCE = 300.0
#: Why a job stops when its heartbeat finds the lock is no longer its own.
LOST = {
    "taken": "another training job took the lock while this one could not reach Redis",
    "ended": fine_tune_jobs.INTERRUPTED,
}


class JobAbandoned(Exception):
    """The job lost its lock for good: raised at its next progress report to stop it."""

    def __init__(self, state: str) -> None:
        super().__init__(LOST[state])
        self.state = state


class Heartbeat:
    """Renews a running job's lock every HEARTBEAT_SECONDS in a thread, so the lock can be
    short; ``check`` (at each progress report) stops the job once the lock is lost."""

    def __init__(self, client: redis.Redis, job_id: str) -> None:
        self.client, self.job_id = client, job_id
        self.lost: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(fine_tune_jobs.HEARTBEAT_SECONDS)

    def check(self) -> None:
        if self.lost is not None:
            raise JobAbandoned(self.lost)

    def _run(self) -> None:
        wait, down = float(fine_tune_jobs.HEARTBEAT_SECONDS), False
        while not self._stop.wait(wait):
            try:
                state = fine_tune_jobs.keep_lock(self.client, self.job_id)
            except redis.RedisError:
                if not down:
                    log.warning("job %s: Redis unreachable, the lock is not renewed", self.job_id)
                wait, down = RETRY_SECONDS, True
                continue
            wait, down = float(fine_tune_jobs.HEARTBEAT_SECONDS), False
            if state != "held":
                log.warning("job %s lost its lock (%s): it stops", self.job_id, state)
                self.lost = state
                return


def run_job(job_id: str, train: Train) -> dict[str, Any]:
    """Run one job of any kind; a redelivered job that already finished does nothing."""
    client = redis_client()
    job = fine_tune_jobs.read_job(client, job_id)
    if job is None or job["status"] in fine_tune_jobs.FINISHED:
        return {"id": job_id, "status": job["status"] if job else "unknown"}
    # A job redelivered after its trainer died may have outlived its lock: take it again,
    # unless another job started meanwhile (then this one must not run beside it) or the
    # job was failed as interrupted in between.
    state = fine_tune_jobs.keep_lock(client, job_id)
    if state != "held":
        if state == "taken":
            error = "another training job started meanwhile"
            fine_tune_jobs.finish(client, job_id, "failed", error=error)
        return {"id": job_id, "status": "failed"}
    pending = fine_tune_jobs.pending_samples(client)
    fine_tune_jobs.update(client, job_id, status="running", started_at=time.time())
    with Heartbeat(client, job_id) as heartbeat:
        return _run_locked(client, job, pending, train, heartbeat)


def _run_locked(
    client: redis.Redis, job: TrainingJob, pending: set[str], train: Train, heartbeat: Heartbeat
) -> dict[str, Any]:
    """Train and record the outcome while the heartbeat holds the lock."""
    job_id, started = job["id"], time.monotonic()

    def report(step: int, total: int, loss: float) -> None:
        heartbeat.check()
        try:
            fine_tune_jobs.update(client, job_id, step=step, total=total, loss=round(loss, 5))
        except redis.RedisError:  # progress is an aid: the job goes on while Redis is away
            log.debug("job %s: progress not recorded", job_id, exc_info=True)

    try:
        outcome = train(report, job, pending)
    except JobAbandoned as exc:
        log.warning("%s %s stopped: %s", job["kind"], job_id, exc)
        if exc.state == "taken":  # else its record says "failed" already
            finish_patiently(client, job_id, "failed", error=str(exc))
        count_job(job["kind"], "failed", time.monotonic() - started)
        return {"id": job_id, "status": "failed"}
    except Exception as exc:
        # The record is public (GET /api/fine-tunes/<id>): no paths or hosts in it; the
        # exception, raised again, is logged whole.
        finish_patiently(client, job_id, "failed", error=describe_error(exc))
        count_job(job["kind"], "failed", time.monotonic() - started)
        raise
    used = outcome.pop("used_sample_ids")
    finish_patiently(client, job_id, outcome["outcome"], result=outcome)
    count_job(job["kind"], outcome["outcome"], time.monotonic() - started)
    if not outcome["skipped"]:  # a racing model has not seen them yet: they stay new
        fine_tune_jobs.clear_pending(client, pending)
    log.info("%s %s %s in %s s", job["kind"], job_id, outcome["outcome"], outcome["seconds"])
    return {"id": job_id, "status": outcome["outcome"], "samples": len(used)}


def finish_patiently(client: redis.Redis, job_id: str, status: str, **fields: Any) -> None:
    """``fine_tune_jobs.finish``, retried while Redis is away (up to FINISH_PATIENCE): a
    job that ended during a Redis restart records its outcome once Redis is back."""
    deadline = time.monotonic() + FINISH_PATIENCE
    for attempt in range(1_000_000):
        try:
            fine_tune_jobs.finish(client, job_id, status, **fields)
            return
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise
            if not attempt:
                log.warning("job %s: Redis unreachable, its outcome %s waits", job_id, status)
            time.sleep(RETRY_SECONDS)


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

    def train(report: Report, job: TrainingJob, pending: set[str]) -> dict[str, Any]:
        return run_fine_tune(
            store(),
            settings().mnist_path,
            settings().weights_dir,
            report,
            new_ids=pending,
            challenger_pairs=settings().challenger_pairs,
            keep_versions=settings().keep_versions,
            index=redis_client(),
        )

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

    def train(report: Report, job: TrainingJob, pending: set[str]) -> dict[str, Any]:
        options = job.get("options") or {}
        return run_retrain(
            store(),
            settings().mnist_path,
            settings().weights_dir,
            report,
            epochs=options.get("epochs"),
            mnist_limit=options.get("mnist_limit"),
            challenger_pairs=settings().challenger_pairs,
            keep_versions=settings().keep_versions,
            index=redis_client(),
        )

    return run_job(job_id, train)
