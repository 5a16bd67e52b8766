"""Per-client rate limits on the write endpoints and the costly reads (Flask-Limiter).

The client address is the socket's peer, or, behind TRUSTED_PROXY_HOPS proxies, the one
ProxyFix takes from X-Forwarded-For; the counters live in Redis so every web process
shares them. One Limiter per app, so
apps built with different settings (tests) do not share state.
"""

from __future__ import annotations

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from shared.settings import Settings
from web.admin import failed_login_limit

#: Endpoints that accept a client's drawings: the ones worth limiting per client.
WRITE_ENDPOINTS = ("api.create_prediction", "dataset.create_sample", "api.prediction_feedback")
#: Reads that cost the server the most per call: limited per client too, more loosely
#: (READ_RATE_LIMIT), so they cannot be used to load it. /metrics too, for when
#: METRICS_PUBLIC opens it: a scraper every 15 s makes 4 of the 300 a minute.
READ_ENDPOINTS = ("api.stats", "api.models", "health.healthz", "dataset.list_samples",
                  "dataset.sample_counts", "dataset.export_samples",
                  "dataset.export_archive", "metrics.scrape")  # fmt: skip


def init_app(app: Flask, settings: Settings) -> Limiter:
    """Wrap the write endpoints (call after the blueprints are registered)."""
    limiter = Limiter(
        key_func=get_remote_address,
        enabled=settings.rate_limits_enabled,
        storage_uri=settings.redis_url,
        # The app's own bounded pool (WEB_REDIS_CONNECTIONS): the counters open no more.
        storage_options={"connection_pool": app.extensions["digits"].redis.connection_pool},
        headers_enabled=True,
        # Redis down must not become a 500 here: the view itself answers 503.
        swallow_errors=True,
        key_prefix="digits-limits",
        # ADMIN_FAILURE_LIMIT, on every request that carries an admin token (web.admin).
        application_limits=[failed_login_limit(settings)],
    )
    limiter.init_app(app)
    for endpoints, limit in ((WRITE_ENDPOINTS, settings.rate_limit),
                             (READ_ENDPOINTS, settings.read_rate_limit)):  # fmt: skip
        for endpoint in endpoints:
            limited = limiter.limit(limit)(app.view_functions[endpoint])
            app.view_functions[endpoint] = limited  # type: ignore[assignment]
    return limiter
