"""What both worker apps share: the Celery configuration of a worker process, its logs, and
publishing the shipped weights on a fresh store."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import redis
from celery import Celery
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    task_failure,
    task_retry,
    worker_ready,
)

from shared import metrics, registry
from shared.celery_config import make_celery, ssl_options
from shared.dataset import sample_index
from shared.logs import celery_handlers_to_stdout
from shared.storage import open_store
from worker.clients import redis_client, settings

log = logging.getLogger(__name__)
#: The kombu Redis transport options naming its bookkeeping of unacknowledged jobs.
UNACKED_KEYS = ("unacked_key", "unacked_index_key", "unacked_mutex_key")


def make_worker_app(
    main: str, tasks_module: str, visibility_timeout: int, unacked_prefix: str = "", **conf: Any
) -> Celery:
    """A worker's Celery app running the tasks of ``tasks_module``; ``conf`` adds app-only settings.

    ``visibility_timeout``: how long a job this app holds may stay unacknowledged before
    another process of the stack hands it out again. Kombu keeps unacknowledged jobs in
    one hash (``unacked``) and any consumer restores those older than *its own* timeout,
    so an app with another timeout keeps its own hash (``unacked_prefix``): the predict
    worker's short one must never hand out a fine-tune that is still running.
    """
    app = make_celery(settings(), main)
    transport = {**app.conf.broker_transport_options, "visibility_timeout": visibility_timeout}
    if unacked_prefix:
        transport.update({key: f"{unacked_prefix}{key}" for key in UNACKED_KEYS})
    app.conf.broker_transport_options = transport
    app.conf.update(
        include=[tasks_module],
        # One task at a time per process: a long job must not hold short ones hostage.
        worker_prefetch_multiplier=1,
        # No one reads a Celery result (``shared.celery_config.make_celery`` has no backend).
        task_ignore_result=True,
        # Heroku sends SIGTERM and kills 30 s later: requeue unfinished work before that.
        # Celery sleeps the whole timeout whenever a job is active, however short
        # (celery#9505), and the cold shutdown after it has once taken over 15 s more (a
        # CI run of `make run`, SIGKILLed at 30 s): predictions and samples take
        # milliseconds, a fine-tune is requeued anyway, so 5 s is wait enough.
        worker_soft_shutdown_timeout=5.0,
        **conf,
    )
    return app


# Platforms read stdout, one line per event: Celery's handlers write multi-line tracebacks to stderr.
after_setup_logger.connect(celery_handlers_to_stdout)
after_setup_task_logger.connect(celery_handlers_to_stdout)


@task_failure.connect
def count_failure(sender: Any = None, **_: Any) -> None:
    """A task that failed for good, in the workers' metrics (web exports them)."""
    count_task("task_failures", sender)


@task_retry.connect
def count_retry(sender: Any = None, **_: Any) -> None:
    """A task's retry, in the workers' metrics."""
    count_task("task_retries", sender)


def count_task(metric: str, task: Any) -> None:
    """One more of ``metric`` for the task (the signals' sender)."""
    label = metrics.task_label(getattr(task, "name", None))
    try:
        metrics.add(redis_client(), metrics.Tally().count(metric, task=label))
    except Exception:  # Redis down: the failure is logged anyway, the count is an aid
        log.warning("counting a task %s failed", metric, exc_info=True)


#: How long a worker keeps trying to publish the shipped weights while the store is not up
#: yet (compose starts the S3 server and the workers together), and the pause between tries.
PUBLISH_PATIENCE = 180.0
PUBLISH_PAUSE = 3.0


@worker_ready.connect
def publish_shipped_models(**_: Any) -> None:
    """First start: publish the shipped weights as version 1 (a copy of bytes, no TensorFlow).

    Whichever worker starts first does it, in a thread that retries while the store is
    unreachable, so a worker that started before its S3 server still serves once it is up.
    Runs in the parent process, so it opens its own store instead of the per-child one of
    ``worker.clients``.
    """
    threading.Thread(target=_publish_until_done, name="publish-shipped", daemon=True).start()


def _publish_until_done(patience: float = PUBLISH_PATIENCE) -> None:
    deadline = time.monotonic() + patience
    while True:
        try:
            store = open_store(settings().storage_url, settings().s3_endpoint_url)
            versions = registry.ensure_initial_versions(store, settings().weights_dir)
        except Exception:  # the store is not up yet, or is down: try again for a while
            if time.monotonic() > deadline:
                log.exception("publishing the shipped weights failed for %.0f s", patience)
                return
            log.warning("the store is not ready: publishing the shipped weights again soon")
            time.sleep(PUBLISH_PAUSE)
            continue
        log.info("current model versions: %s", versions)
        return


@worker_ready.connect
def rebuild_sample_index(**_: Any) -> None:
    """After a Redis wipe (or on the first start after an upgrade), index the stored samples.

    In a thread, so the worker serves meanwhile; one process in the whole stack does it.
    """
    url = settings().redis_url
    client = redis.Redis.from_url(url, **(ssl_options(url) or {}))
    store = open_store(settings().storage_url, settings().s3_endpoint_url)

    def rebuild() -> None:
        try:
            done = sample_index.rebuild_once(client, store)
        except Exception:  # the index is an aid: a failed rebuild must not stop the worker
            log.exception("rebuilding the sample index failed")
            return
        finally:
            client.close()  # a connection no one would use again
        if done is not None:
            log.info("rebuilt the sample index: %s", done)

    threading.Thread(target=rebuild, name="sample-index-rebuild", daemon=True).start()
