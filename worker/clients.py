"""The settings and clients a worker process needs, each made once per process, after fork."""

from __future__ import annotations

from functools import cache

import redis

from shared.celery_config import ssl_options
from shared.settings import Settings
from shared.storage import Store, open_store


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
    """Job records and counters (the broker connection is Celery's own)."""
    url = settings().redis_url
    return redis.Redis.from_url(url, **(ssl_options(url) or {}))
