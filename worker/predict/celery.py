"""The predict worker's Celery app (queues ``predict`` and ``samples``)."""

from __future__ import annotations

from worker.celery_base import make_worker_app
from worker.clients import settings
from worker.predict import transport

# Short jobs: one held by a worker that died goes to another within minutes; prediction
# batches are not held at all (worker/predict/transport.py).
app = make_worker_app(
    "digits-predict",
    "worker.predict.tasks",
    settings().worker_visibility_timeout,
    broker_transport=transport.NAME,
)
