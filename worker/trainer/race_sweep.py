"""The trainer's sweep of challenger races: it takes the decisions no new pair takes.

A race is decided where its pairs are counted (``challengers.score_label``); a race whose
time ran out gets no pair to decide it, and a decision whose settling failed (the store)
waits for the next. Reads (``GET /api/models``, ``/api/stats``) never decide, so this
sweep does, in a thread of each trainer's parent process, at start and every
SWEEP_SECONDS. With the stage off (``CHALLENGER_PAIRS=0``) it decides nothing: live
races wait for an admin.
"""

from __future__ import annotations

import logging
import threading
import time

import redis

from shared import challengers
from shared.celery_config import SOCKET_TIMEOUT, ssl_options
from shared.errors import Conflict, NotFound
from shared.names import MODEL_NAMES
from shared.shapes import RaceDecision
from shared.storage import Store, open_store
from worker.clients import settings

log = logging.getLogger(__name__)
#: Seconds between two sweeps: a race's time limit is counted in days.
SWEEP_SECONDS = 60.0


def settle_due(
    client: redis.Redis, store: Store, pairs_cap: int, max_days: float
) -> list[RaceDecision]:
    """Settle each live race whose decision is due; the decisions taken."""
    decided = []
    for name in challengers.read_challengers(store):
        if name not in MODEL_NAMES:
            continue
        race = challengers.status(client, store, name, pairs_cap, max_days)
        if race is None or race["decision"] is None:
            continue
        try:
            decided.append(challengers.settle(client, store, name, race["decision"], race, "race"))
        except (Conflict, NotFound):
            continue  # another process is deciding, or has decided
    return decided


def sweep_once(store: Store) -> list[RaceDecision]:
    """One sweep on a connection of its own; nothing while Redis or the store is down."""
    config = settings()
    url = config.redis_url
    timeouts = {"socket_timeout": SOCKET_TIMEOUT, "socket_connect_timeout": SOCKET_TIMEOUT}
    try:
        with redis.Redis.from_url(url, **timeouts, **(ssl_options(url) or {})) as client:
            decided = settle_due(client, store, config.challenger_pairs, config.challenger_max_days)
    except Exception:  # the sweep is an aid: it must never stop the worker
        log.warning("settling the challenger races failed; next sweep tries", exc_info=True)
        return []
    for record in decided:
        log.info(
            "challenger %s v%s %s (%s)",
            record["model"],
            record["version"],
            record["decision"],
            record["reason"],
        )
    return decided


def start() -> None:
    """Sweep at once, then every SWEEP_SECONDS, in a daemon thread.

    The store is opened in the thread, not through ``worker.clients``' cache: that one
    would be inherited by the pool's forked children.
    """

    def sweep_forever() -> None:
        store = open_store(settings().storage_url, settings().s3_endpoint_url)
        while True:
            sweep_once(store)
            time.sleep(SWEEP_SECONDS)

    threading.Thread(target=sweep_forever, name="race-sweep", daemon=True).start()
