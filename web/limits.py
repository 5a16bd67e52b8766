"""Per-client rate limits on the write endpoints and the costly reads (Flask-Limiter).

The client address is the socket's peer, or, behind TRUSTED_PROXY_HOPS proxies, the one
ProxyFix takes from X-Forwarded-For; the counters live in Redis so every web process
shares them. One Limiter per app, so
apps built with different settings (tests) do not share state. Failed admin logins have
a limit of their own (ADMIN_FAILURE_LIMIT, web.admin).
"""

from __future__ import annotations

from flask import Flask, Response, g
from flask_limiter import Limiter

from shared.settings import Settings
from web.client_ids import limit_key

#: Endpoints that accept a client's drawings: the ones worth limiting per client.
WRITE_ENDPOINTS = ("api.create_prediction", "dataset.create_sample", "api.prediction_feedback")
#: Reads that cost the server the most per call: limited per client too, more loosely
#: (READ_RATE_LIMIT), so they cannot be used to load it. /metrics too, for when
#: METRICS_PUBLIC opens it: a scraper every 15 s makes 4 of the 300 a minute.
READ_ENDPOINTS = (
    "api.stats",
    "api.models",
    "health.healthz",
    "dataset.list_samples",
    "dataset.sample_counts",
    "dataset.export_samples",
    "dataset.export_archive",
    "metrics.scrape",
)
#: RFC 9110: Retry-After means "come back then" with a 503 or a 429; with headers on,
#: Flask-Limiter writes it (its window's reset) on every answer of a limited endpoint,
#: 200s, 401s and a /healthz 503 too, where that reset means nothing.
RETRY_STATUSES = frozenset({429, 503})


def init_app(app: Flask, settings: Settings) -> Limiter:
    """Wrap the write endpoints (call after the blueprints are registered)."""
    # Registered before the Limiter's own hook, so it runs after it (Flask runs them in
    # reverse) and sees the headers it wrote.
    app.after_request(retry_after_only_when_refused)
    limiter = Limiter(
        key_func=limit_key,
        enabled=settings.rate_limits_enabled,
        storage_uri=settings.redis_url,
        # The app's own bounded pool (WEB_REDIS_CONNECTIONS): the counters open no more.
        storage_options={"connection_pool": app.extensions["digits"].redis.connection_pool},
        headers_enabled=True,
        # Redis down must not become a 500 here: the view itself answers 503.
        swallow_errors=True,
        key_prefix="digits-limits",
    )
    limiter.init_app(app)
    for endpoints, limit in (
        (WRITE_ENDPOINTS, settings.rate_limit),
        (READ_ENDPOINTS, settings.read_rate_limit),
    ):
        for endpoint in endpoints:
            limited = limiter.limit(limit)(app.view_functions[endpoint])
            app.view_functions[endpoint] = limited  # type: ignore[assignment]
    return limiter


def retry_after_only_when_refused(response: Response) -> Response:
    """Retry-After only on a refusal: on a 429 or 503 with a delay of its own (a busy
    decoder's 1 s, a failed-login check's), that delay, not a reset no limit reached; on
    the Limiter's own 429, its reset; on nothing else."""
    own = g.get("retry_after")
    if own is not None and response.status_code in RETRY_STATUSES:
        response.headers["Retry-After"] = str(own)
    elif response.status_code != 429:
        response.headers.remove("Retry-After")
    return response
