"""``/healthz``: the state of Redis, the object store and the workers, for load balancers."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from flask import Blueprint, Response, jsonify

from web.services import Services, current_services

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)

#: How long to wait for workers to answer a ping; keeps the check well under a second.
PING_TIMEOUT = 0.5
#: The last ping's answer, shared by every web process; older than REFRESH_AFTER, the
#: next reader starts a new ping in the background and answers with this one meanwhile.
WORKERS_KEY = "digits:workers:answering"
PINGING_KEY = "digits:workers:pinging"
REFRESH_AFTER = 5.0
#: A ping answer older than this is no answer: the workers' state is unknown.
FORGET_AFTER = 60


def answering_workers(services: Services) -> list[str] | None:
    """Names of the Celery workers that answered the last ping, None until one has ended.

    Never waits for a ping: a page request must not cost half a second, nor be a way to
    make the server ping workers (one ping at a time in the whole stack, SET NX).
    """
    raw = services.redis.get(WORKERS_KEY)
    cached = json.loads(raw) if raw else None
    if (cached is None or time.time() - cached["at"] > REFRESH_AFTER) and services.redis.set(
        PINGING_KEY, "1", nx=True, ex=int(REFRESH_AFTER)
    ):
        threading.Thread(target=_ping, args=(services,), daemon=True).start()
    return None if cached is None else list(cached["names"])


def _ping(services: Services) -> None:
    try:
        replies = services.celery.control.ping(timeout=PING_TIMEOUT)
        names = sorted(name for reply in replies for name in reply)
        answer = json.dumps({"names": names, "at": time.time()})
        services.redis.set(WORKERS_KEY, answer, ex=FORGET_AFTER)
    except Exception:  # Redis or the broker is down: the next reader tries again
        log.warning("pinging the workers failed", exc_info=True)


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
            if workers is None:
                checks["workers"] = "unknown: the first ping has not ended"
            else:
                checks["workers"] = "ok" if workers else "down: no worker answered"
            checks["worker_names"] = workers or []
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
