"""The clients a request needs, built once per app and found through ``current_services``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery
from celery.backends.base import Backend
from celery.backends.redis import RedisBackend
from flask import current_app

from shared.celery_config import SOCKET_TIMEOUT, make_celery, ssl_options
from shared.settings import Settings
from shared.storage import Store, open_store
from web.result_listener import ResultListener


class SendOnlyRedisBackend(RedisBackend):
    """Celery's Redis result backend, minus the subscription it makes as each task is sent.

    That subscription (a PubSub connection per thread, a SUBSCRIBE and UNSUBSCRIBE per
    task) serves ``AsyncResult.get``, which web never calls: its requests wait through
    the process's one ``ResultListener``.
    """

    def on_task_call(self, producer: Any, task_id: str) -> None:
        return None


@dataclass(frozen=True)
class Services:
    settings: Settings
    celery: Celery
    redis: redis.Redis
    store: Store
    #: The result backend, for its key names and decoding only: reads go through ``redis``,
    #: since Celery makes a backend (and a connection pool) per thread.
    backend: Backend
    #: Wakes the requests waiting for a prediction's result (one subscription per process).
    results: ResultListener

    @classmethod
    def create(cls, settings: Settings) -> Services:
        tls = ssl_options(settings.redis_url) or {}
        client = redis.Redis.from_url(
            settings.redis_url,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=1.0,
            health_check_interval=30,
            **tls,
        )
        celery = make_celery(settings, main="digits-web")
        # The same Redis and options, through the backend class above.
        celery.conf.result_backend = f"{__name__}:SendOnlyRedisBackend+{settings.redis_url}"
        backend = celery.backend
        return cls(
            settings=settings,
            celery=celery,
            redis=client,
            store=open_store(settings.storage_url, settings.s3_endpoint_url),
            backend=backend,
            # Every task's result key matches: the backend publishes each state change there.
            results=ResultListener(client, backend.get_key_for_task("*")),
        )


def current_services() -> Services:
    services: Services = current_app.extensions["digits"]
    return services
