"""The predict worker's Celery app (queues ``predict`` and ``samples``)."""

from __future__ import annotations

from worker.celery_base import make_worker_app

app = make_worker_app("digits-predict", "worker.predict.tasks")
