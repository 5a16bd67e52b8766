"""The trainer's Celery app (queue ``train``, one job at a time)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import redis
from celery.signals import worker_ready

from shared import fine_tune_jobs
from shared.celery_config import SOCKET_TIMEOUT, ssl_options
from worker.celery_base import make_worker_app
from worker.clients import settings
from worker.trainer import race_sweep

log = logging.getLogger(__name__)
#: How often each trainer looks for jobs whose trainer died (``fine_tune_jobs.settle``).
SWEEP_SECONDS = 30.0

app = make_worker_app(
    "digits-trainer",
    "worker.trainer.tasks",
    # Long jobs, and a bookkeeping of their own: a running fine-tune is never handed out
    # again, whatever the predict workers' shorter timeout.
    settings().broker_visibility_timeout,
    unacked_prefix="train_",
    # Trainer processes grow with each TensorFlow graph: start fresh now and then.
    worker_max_tasks_per_child=200,
    # A Redis restart must not cancel a running job (Celery 6's default would): the job
    # goes on, its heartbeat takes the lock back and it records its outcome once Redis is.
    worker_cancel_long_running_tasks_on_connection_loss=False,
)


@worker_ready.connect
def fail_interrupted_jobs(**_: Any) -> None:
    """Mark failed, at start and then every SWEEP_SECONDS, the jobs whose trainer died or
    was stopped while Redis was down (their lock expired): so no status shows them running
    for ever. A job the broker hands out again before that resumes instead.

    In a thread of the parent process, on a connection opened for each sweep only.
    """

    def sweep_forever() -> None:
        while True:
            sweep_once()
            time.sleep(SWEEP_SECONDS)

    threading.Thread(target=sweep_forever, name="interrupted-jobs", daemon=True).start()


def sweep_once() -> list[str]:
    """One sweep; the jobs it failed (none while Redis is down: the next sweep tries)."""
    url = settings().redis_url
    timeouts = {"socket_timeout": SOCKET_TIMEOUT, "socket_connect_timeout": SOCKET_TIMEOUT}
    try:
        with redis.Redis.from_url(url, **timeouts, **(ssl_options(url) or {})) as client:
            states = fine_tune_jobs.settle(client)
    except redis.RedisError:
        return []
    except Exception:  # the sweep is an aid: it must never stop the worker
        log.exception("looking for interrupted training jobs failed")
        return []
    failed = [job_id for job_id, state in states.items() if state == "failed"]
    for job_id in failed:
        log.warning("training job %s marked failed: it lost its lock", job_id)
    return failed


@worker_ready.connect
def settle_races(**_: Any) -> None:
    """Settle, at start and then every minute, the challenger races whose decision no new
    pair takes (their time ran out): reads never decide (``worker.trainer.race_sweep``)."""
    race_sweep.start()
