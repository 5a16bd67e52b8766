"""The settings and clients a worker process needs, each made once per process, after fork."""

from __future__ import annotations

from functools import cache

import redis

from shared.celery_config import SOCKET_TIMEOUT, ssl_options
from shared.settings import Settings
from shared.storage import Store, open_store

#: Redis connections of a worker process's own client: a batch's delivery or a sample's
#: index write is one round trip, so one serves eight threads, which take turns
#: (docs/deploy.md, "Redis on a small plan").
REDIS_CONNECTIONS = 1


@cache
def settings() -> Settings:
    """Read once; a malformed variable stops the worker at start-up with its name."""
    return Settings.from_env()


@cache
def store() -> Store:
    """The object store, opened once per worker process."""
    return open_store(settings().storage_url, settings().s3_endpoint_url)


@cache
def redis_client() -> redis.Redis:
    """Job records and counters (the broker connection is Celery's own).

    At most REDIS_CONNECTIONS connections, whatever the worker's concurrency: a thread
    waits (up to SOCKET_TIMEOUT) for a free one, as web's requests do.
    """
    url = settings().redis_url
    pool = redis.BlockingConnectionPool.from_url(
        url, max_connections=REDIS_CONNECTIONS, timeout=SOCKET_TIMEOUT, **(ssl_options(url) or {})
    )
    return redis.Redis(connection_pool=pool)
