"""The clients a request needs, built once per app and found through ``current_services``."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from celery import Celery
from flask import current_app

from shared.celery_config import SOCKET_TIMEOUT, make_celery, ssl_options
from shared.settings import Settings
from shared.storage import Store, open_store


@dataclass(frozen=True)
class Services:
    settings: Settings
    celery: Celery
    redis: redis.Redis
    store: Store

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
        return cls(
            settings=settings,
            celery=make_celery(settings, main="digits-web"),
            redis=client,
            store=open_store(settings.storage_url, settings.s3_endpoint_url),
        )


def current_services() -> Services:
    services: Services = current_app.extensions["digits"]
    return services
