"""The Celery app the worker and trainer processes run (`celery -A worker.celery_app worker`)."""

from __future__ import annotations

from shared.celery_client import make_celery
from shared.settings import Settings

settings = Settings.from_env()
app = make_celery(settings)
app.conf.update(
    include=["worker.tasks"],
    # One task at a time per process: a long job must not hold short ones hostage.
    worker_prefetch_multiplier=1,
    # Heroku sends SIGTERM and kills 30 s later: requeue unfinished work before that.
    worker_soft_shutdown_timeout=20.0,
    worker_enable_soft_shutdown_on_idle=True,
    # Trainer processes grow with each TensorFlow graph: start fresh now and then.
    worker_max_tasks_per_child=200,
)
