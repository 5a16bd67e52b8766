"""The trainer's Celery app (queue ``train``, one job at a time)."""

from __future__ import annotations

from worker.celery_base import make_worker_app
from worker.clients import settings

app = make_worker_app(
    "digits-trainer",
    "worker.trainer.tasks",
    # Long jobs, and a bookkeeping of their own: a running fine-tune is never handed out
    # again, whatever the predict workers' shorter timeout.
    settings().broker_visibility_timeout,
    unacked_prefix="train_",
    # Trainer processes grow with each TensorFlow graph: start fresh now and then.
    worker_max_tasks_per_child=200,
)
