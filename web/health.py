"""``/healthz``: the state of Redis, the object store and the workers, for load balancers.

Healthy needs a predict worker: a trainer (or a worker on the samples queue alone) that
answers does not answer predictions. A worker is known by the queues it consumes, not by
its name (``worker``, ``worker.1``, or whatever ``-n`` says).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, jsonify

from shared.dataset import sample_backlog
from shared.names import QUEUE_PREDICT
from web import client_ids
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
#: The last answer is kept this long, however old: after a quiet night the first reader
#: still gets the last known state (and its age) while a new ping runs, not a 503.
KEEP_FOR = 24 * 3600


@dataclass(frozen=True)
class WorkerState:
    """What the last ping found: every node that answered, and those that take predictions."""

    names: list[str]
    predict: list[str]
    at: float
    #: Why the last ping could not be made (its workers' state is unknown), if it failed.
    error: str | None = None


def worker_state(services: Services) -> WorkerState | None:
    """The last ping's answer, None until one has ended.

    A name is the part of the Celery node name before ``@`` (the dyno, ``worker.1``):
    the host after it is not for the public stats page or health check.

    Never waits for a ping: a page request must not cost half a second, nor be a way to
    make the server ping workers (one ping at a time in the whole stack, SET NX).
    """
    state = _parse(services.redis.get(WORKERS_KEY))
    if (state is None or time.time() - state.at > REFRESH_AFTER) and services.redis.set(
        PINGING_KEY, "1", nx=True, ex=int(REFRESH_AFTER)
    ):
        threading.Thread(target=_ping, args=(services,), daemon=True).start()
    return state


#: A ping at most this old that found no predict worker is news worth telling a person
#: whose job waits: older, it may predate a worker that has started since.
RECENT = 2 * REFRESH_AFTER
#: The code a queued job's answer carries while no predict worker answers.
UNAVAILABLE = "recognition_unavailable"


def recognition_unavailable(services: Services) -> dict[str, str] | None:
    """``{"code", "message"}`` when a recent ping found no predict worker, else None.

    Only a ping that ended and found none counts: unknown (no ping yet, or it failed)
    is not "down". A read of the shared answer, so no request waits for a ping.
    """
    state = worker_state(services)
    if state is None or state.error or state.predict:
        return None
    age = time.time() - state.at
    if age > RECENT:
        return None
    message = f"no predict worker answered a ping {age:.0f} s ago; the job waits until one does"
    return {"code": UNAVAILABLE, "message": message}


def answering_workers(services: Services) -> list[str] | None:
    """Names of the Celery workers that answered the last ping, None until one has ended."""
    state = worker_state(services)
    return None if state is None else list(state.names)


def _parse(raw: bytes | str | None) -> WorkerState | None:
    cached = json.loads(raw) if raw else None
    if not isinstance(cached, dict) or "predict" not in cached:
        return None  # none yet, or written by an older web: the next ping rewrites it
    return WorkerState(cached["names"], cached["predict"], cached["at"], cached.get("error"))


def _ping(services: Services) -> None:
    """Ask every worker which queues it consumes (a ping that says what answers), and
    keep the answer, or why there is none, for every web process."""
    try:
        # A broker connection of its own, closed after: the ping holds it while it waits
        # for replies and takes a producer from the pool (BROKER_POOL_LIMIT, one) too.
        with services.celery.connection_for_write() as connection:
            inspect = services.celery.control.inspect(timeout=PING_TIMEOUT, connection=connection)
            replies: dict[str, list[dict[str, Any]]] = inspect.active_queues() or {}
        state: dict[str, Any] = {
            "names": sorted(node.partition("@")[0] for node in replies),
            "predict": sorted(
                node.partition("@")[0]
                for node, queues in replies.items()
                if any(queue.get("name") == QUEUE_PREDICT for queue in queues)
            ),
        }
    except Exception as exc:  # the broker is down: say so rather than keep an old "ok"
        log.warning("pinging the workers failed", exc_info=True)
        state = {"names": [], "predict": [], "error": type(exc).__name__}
    try:
        services.redis.set(WORKERS_KEY, json.dumps({**state, "at": time.time()}), ex=KEEP_FOR)
    except Exception:  # Redis is down: the next reader tries again
        log.warning("keeping the workers' ping answer failed", exc_info=True)


#: A store check's answer is reused for this long: a real write and read per call would
#: make /healthz a way to load the store.
STORE_CHECK_SECONDS = 5.0
_store_checks: dict[int, tuple[float, str]] = {}
#: One check at a time in a process: two at once write the same key, and one would read
#: the other's bytes back (a load balancer that polls again before an answer did that).
_store_check_lock = threading.Lock()


def store_check(services: Services) -> str:
    """Write a small object and read it back (a ping proves less than that), at most once
    per STORE_CHECK_SECONDS in a process."""
    with _store_check_lock:
        checked = _store_checks.get(id(services))
        if checked is not None and time.monotonic() - checked[0] < STORE_CHECK_SECONDS:
            return checked[1]
        return _check_store(services)


def _check_store(services: Services) -> str:
    key = f"health/{os.getpid()}-{id(services)}.txt"
    written = str(time.time()).encode()
    try:
        services.store.put_bytes(key, written, "text/plain")
        state = "ok" if services.store.get_bytes(key) == written else "down: read back other bytes"
    except Exception as exc:
        state = f"down: {type(exc).__name__}"
    _store_checks[id(services)] = (time.monotonic(), state)
    return state


def worker_checks(state: WorkerState | None) -> dict[str, Any]:
    """``workers`` is ``ok`` only when a predict worker answered the last ping; the names
    say who answered, and the age how old that answer is (kept until a new ping ends)."""
    if state is None:
        return {"workers": "unknown: the first ping has not ended", "worker_names": []}
    if state.error:
        verdict = f"unknown: the last ping failed ({state.error})"
    elif state.predict:
        verdict = "ok"
    elif state.names:
        verdict = f"down: no predict worker answered (only {', '.join(state.names)})"
    else:
        verdict = "down: no worker answered"
    return {
        "workers": verdict,
        "worker_names": list(state.names),
        "predict_workers": list(state.predict),
        "workers_checked_seconds_ago": round(max(0.0, time.time() - state.at), 1),
    }


def check_health(services: Services) -> dict[str, Any]:
    """Each dependency's state, ``ok`` or the reason it is not."""
    checks: dict[str, Any] = {}
    try:
        services.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:  # any failure is a "down" dependency, reported not raised
        checks["redis"] = f"down: {type(exc).__name__}"
    checks["store"] = store_check(services)
    checks["proxy"] = client_ids.proxy_check(services)
    if checks["redis"] == "ok":
        waiting = sample_backlog.waiting(services.redis)
        checks["samples_waiting"] = waiting
        checks["samples"] = "ok" if not waiting else f"{waiting} waiting for the store"
        try:
            checks.update(worker_checks(worker_state(services)))
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
