"""The predict worker's Celery app (queues ``predict`` and ``samples``)."""

from __future__ import annotations

from shared import names
from shared.logs import quiet_celery_task_lines
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

# Hundreds of prediction batches a second: their "received" and "succeeded" lines are noise
# (their counts are in /metrics); a sample's or an export's lines stay.
quiet_celery_task_lines([names.PREDICT_BATCH])
