"""The Celery configuration web (to send) and both worker apps (to run) share.

``make_celery`` builds an app; ``send`` enqueues a task by the name ``shared.names``
declares, letting ``task_routes`` pick its queue, so no caller names a queue twice.
"""

from __future__ import annotations

import ssl
from typing import Any

from celery import Celery
from celery.result import AsyncResult
from kombu import Queue

from shared import names
from shared.settings import Settings

#: Redis commands must answer fast: a down Redis is a quick 503, not a hung request.
SOCKET_TIMEOUT = 2.0
#: Broker connections a process keeps for sending (Celery's default is 10, and kombu opens
#: two Redis connections for each): a send takes a millisecond, so one serves a web
#: process's batches and a worker's replies (docs/deploy.md, "Redis on a small plan"). A
#: remote control call must bring a connection of its own (``web.health``'s ping does): it
#: holds one while it waits for replies and takes a producer from this pool as well.
BROKER_POOL_LIMIT = 1


def ssl_options(redis_url: str) -> dict[str, Any] | None:
    """Heroku Redis speaks TLS with a self-signed certificate: accept it for rediss://."""
    if redis_url.startswith("rediss://"):
        return {"ssl_cert_reqs": ssl.CERT_NONE}
    return None


def make_celery(settings: Settings, main: str = "digits") -> Celery:
    """A Celery app talking to ``settings.redis_url``, JSON only, explicit queues.

    No result backend: no one reads a Celery result (predictions have their records,
    training and export jobs their hashes), so none is stored and none is subscribed to.
    """
    app = Celery(main, broker=settings.redis_url)
    tls = ssl_options(settings.redis_url)
    app.conf.update(
        # JSON only: no pickle anywhere a client's bytes can reach.
        task_serializer="json",
        accept_content=["json"],
        # Explicit queues: a typo in a route fails instead of creating a queue no one reads.
        task_queues=[Queue(queue) for queue in names.QUEUES],
        task_routes={task: {"queue": queue} for task, queue in names.TASK_QUEUES.items()},
        task_default_queue=names.QUEUE_PREDICT,
        task_create_missing_queues=False,
        broker_connection_retry_on_startup=True,
        broker_pool_limit=BROKER_POOL_LIMIT,
        broker_connection_timeout=SOCKET_TIMEOUT,
        broker_transport_options={
            # A job a lost worker held is redelivered after this; above the fine-tune
            # time limit, so a running fine-tune is never redelivered. Each worker app
            # sets its own (worker/celery_base.py): minutes for the short queues.
            "visibility_timeout": settings.broker_visibility_timeout,
            "socket_timeout": SOCKET_TIMEOUT,
            "socket_connect_timeout": SOCKET_TIMEOUT,
        },
        broker_use_ssl=tls,
    )
    return app


def send(app: Celery, task_name: str, args: list[Any], **options: Any) -> AsyncResult:
    """Enqueue ``task_name`` on the queue its route gives; fail at once if Redis is down.

    ``retry=False``: a request must answer 503 quickly rather than wait on a retry loop.
    """
    if task_name not in names.TASK_QUEUES:
        raise ValueError(f"unknown task name {task_name!r}")
    return app.send_task(task_name, args=args, retry=False, **options)
