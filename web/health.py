"""``/healthz``: the state of Redis, the object store and the workers, for load balancers."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify

from web.services import Services, current_services

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)

#: How long to wait for workers to answer a ping; keeps the check well under a second.
PING_TIMEOUT = 0.5


def answering_workers(services: Services) -> list[str]:
    """Names of the Celery workers that answer a ping within PING_TIMEOUT."""
    replies = services.celery.control.ping(timeout=PING_TIMEOUT)
    return sorted(name for reply in replies for name in reply)


def check_health(services: Services) -> dict[str, Any]:
    """Each dependency's state, ``ok`` or the reason it is not."""
    checks: dict[str, Any] = {}
    try:
        services.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:  # any failure is a "down" dependency, reported not raised
        checks["redis"] = f"down: {type(exc).__name__}"
    try:
        services.store.ping()
        checks["store"] = "ok"
    except Exception as exc:
        checks["store"] = f"down: {type(exc).__name__}"
    if checks["redis"] == "ok":
        try:
            workers = answering_workers(services)
            checks["workers"] = "ok" if workers else "down: no worker answered"
            checks["worker_names"] = workers
        except Exception as exc:
            checks["workers"] = f"down: {type(exc).__name__}"
    else:
        checks["workers"] = "unknown: redis is down"
    return checks


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    checks = check_health(current_services())
    healthy = all(checks[part] == "ok" for part in ("redis", "store", "workers"))
    return jsonify(status="ok" if healthy else "down", checks=checks), 200 if healthy else 503
