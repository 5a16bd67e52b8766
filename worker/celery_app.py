"""The Celery app the worker and trainer processes run (`celery -A worker.celery_app worker`)."""

from __future__ import annotations

from celery.signals import after_setup_logger, after_setup_task_logger

from shared.celery_client import make_celery
from shared.logs import celery_handlers_to_stdout
from shared.settings import Settings

settings = Settings.from_env()
app = make_celery(settings)
app.conf.update(
    include=["worker.tasks"],
    # One task at a time per process: a long job must not hold short ones hostage.
    worker_prefetch_multiplier=1,
    # Heroku sends SIGTERM and kills 30 s later: requeue unfinished work before that.
    worker_soft_shutdown_timeout=15.0,
    # Trainer processes grow with each TensorFlow graph: start fresh now and then.
    worker_max_tasks_per_child=200,
)
# Platforms read stdout, one line per event: Celery's handlers write multi-line tracebacks to stderr.
after_setup_logger.connect(celery_handlers_to_stdout)
after_setup_task_logger.connect(celery_handlers_to_stdout)
