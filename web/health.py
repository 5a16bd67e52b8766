"""``/healthz``: the state of Redis, the object store and the workers, for load balancers."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any

from flask import Blueprint, Response, jsonify

from shared import sample_backlog
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

    A name is the part of the Celery node name before ``@`` (the dyno, ``worker.1``):
    the host after it is not for the public stats page or health check.

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
        # A broker connection of its own, closed after: the ping holds it while it waits
        # for replies and takes a producer from the pool (BROKER_POOL_LIMIT, one) too.
        with services.celery.connection_for_write() as connection:
            replies = services.celery.control.ping(timeout=PING_TIMEOUT, connection=connection)
        names = sorted(name.partition("@")[0] for reply in replies for name in reply)
        answer = json.dumps({"names": names, "at": time.time()})
        services.redis.set(WORKERS_KEY, answer, ex=FORGET_AFTER)
    except Exception:  # Redis or the broker is down: the next reader tries again
        log.warning("pinging the workers failed", exc_info=True)


#: A store check's answer is reused for this long: a real write and read per call would
#: make /healthz a way to load the store.
STORE_CHECK_SECONDS = 5.0
_store_checks: dict[int, tuple[float, str]] = {}


def store_check(services: Services) -> str:
    """Write a small object and read it back (a ping proves less than that), at most once
    per STORE_CHECK_SECONDS in a process."""
    checked = _store_checks.get(id(services))
    if checked is not None and time.monotonic() - checked[0] < STORE_CHECK_SECONDS:
        return checked[1]
    key = f"health/{os.getpid()}-{id(services)}.txt"
    written = str(time.time()).encode()
    try:
        services.store.put_bytes(key, written, "text/plain")
        state = "ok" if services.store.get_bytes(key) == written else "down: read back other bytes"
    except Exception as exc:
        state = f"down: {type(exc).__name__}"
    _store_checks[id(services)] = (time.monotonic(), state)
    return state


def check_health(services: Services) -> dict[str, Any]:
    """Each dependency's state, ``ok`` or the reason it is not."""
    checks: dict[str, Any] = {}
    try:
        services.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:  # any failure is a "down" dependency, reported not raised
        checks["redis"] = f"down: {type(exc).__name__}"
    checks["store"] = store_check(services)
    if checks["redis"] == "ok":
        waiting = sample_backlog.waiting(services.redis)
        checks["samples_waiting"] = waiting
        checks["samples"] = "ok" if not waiting else f"{waiting} waiting for the store"
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
    # Samples waiting for the store are kept safe: a warning to act on, not an outage.
    status = "down" if not healthy else "degraded" if checks.get("samples_waiting") else "ok"
    return jsonify(status=status, checks=checks), 200 if healthy else 503
