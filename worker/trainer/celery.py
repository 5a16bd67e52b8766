"""The trainer's Celery app (queue ``train``, one job at a time)."""

from __future__ import annotations

from worker.celery_base import make_worker_app

app = make_worker_app(
    "digits-trainer",
    "worker.trainer.tasks",
    # Trainer processes grow with each TensorFlow graph: start fresh now and then.
    worker_max_tasks_per_child=200,
)
