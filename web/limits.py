"""Per-client rate limits on the write endpoints (Flask-Limiter, counters in Redis).

The client address comes from ProxyFix (X-Forwarded-For behind Heroku's router); the
counters live in Redis so every web process shares them. One Limiter per app, so
apps built with different settings (tests) do not share state.
"""

from __future__ import annotations

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from shared.celery_config import ssl_options
from shared.settings import Settings

#: Endpoints that accept a client's drawings: the ones worth limiting per client.
WRITE_ENDPOINTS = ("api.create_prediction", "dataset.create_sample", "api.prediction_feedback")


def init_app(app: Flask, settings: Settings) -> Limiter:
    """Wrap the write endpoints (call after the blueprints are registered)."""
    limiter = Limiter(
        key_func=get_remote_address,
        enabled=settings.rate_limits_enabled,
        storage_uri=settings.redis_url,
        storage_options=ssl_options(settings.redis_url) or {},
        headers_enabled=True,
        # Redis down must not become a 500 here: the view itself answers 503.
        swallow_errors=True,
        key_prefix="digits-limits",
    )
    limiter.init_app(app)
    for endpoint in WRITE_ENDPOINTS:
        app.view_functions[endpoint] = limiter.limit(settings.rate_limit)(
            app.view_functions[endpoint]
        )
    return limiter
