"""The clients a request needs, built once per app and found through ``current_services``."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from celery import Celery
from flask import current_app

from shared.celery_config import SOCKET_TIMEOUT, make_celery, ssl_options
from shared.settings import Settings
from shared.storage import Store, open_store
from web.decode_slots import DecodeSlots
from web.prediction_sender import PredictionSender
from web.result_listener import ResultListener

#: Each web process's reply channel is this prefix and a random token.
REPLY_CHANNEL_PREFIX = "digits:predictions:replies:"


@dataclass(frozen=True)
class Services:
    settings: Settings
    celery: Celery
    redis: redis.Redis
    store: Store
    #: Wakes the requests waiting for a prediction's outcome (one subscription per process).
    results: ResultListener
    #: Sends the predictions accepted together as one message.
    sender: PredictionSender
    #: At most MAX_DECODES images decoded at once in the process.
    decodes: DecodeSlots

    @classmethod
    def create(cls, settings: Settings) -> Services:
        tls = ssl_options(settings.redis_url) or {}
        # Blocking: with hundreds of requests in flight, a request waits for a free
        # connection (then a 503) instead of failing at once or opening hundreds.
        pool = redis.BlockingConnectionPool.from_url(
            settings.redis_url,
            max_connections=settings.web_redis_connections,
            timeout=SOCKET_TIMEOUT,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=1.0,
            health_check_interval=30,
            **tls,
        )
        client = redis.Redis(connection_pool=pool)
        celery = make_celery(settings, main="digits-web")
        results = ResultListener(client, REPLY_CHANNEL_PREFIX)
        sender = PredictionSender(
            client,
            celery,
            results,
            record_ttl=settings.result_ttl,
            expires=settings.predict_expires,
            max_size=settings.batch_max_size,
            max_wait=settings.batch_max_wait_ms / 1000,
        )
        return cls(
            settings=settings,
            celery=celery,
            redis=client,
            store=open_store(settings.storage_url, settings.s3_endpoint_url),
            results=results,
            sender=sender,
            decodes=DecodeSlots(settings.max_decodes, settings.decode_wait),
        )


def current_services() -> Services:
    services: Services = current_app.extensions["digits"]
    return services
