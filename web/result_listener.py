"""One Redis subscription per web process that wakes the requests waiting for a result.

Each web process has its own reply channel. The predict worker publishes the outcomes
of a batch there as one JSON object ``{job id: outcome}`` (``shared.prediction_records``).
A PubSub per waiting request would cost a connection and a subscribe round trip each;
instead one daemon thread holds the one subscription and hands each outcome to the
waiters registered for its job.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import redis

from shared.shapes import PredictionOutcome

log = logging.getLogger(__name__)

#: How often the listening thread looks up from the socket to see if its listener is gone.
POLL_SECONDS = 1.0
#: Pause between attempts to subscribe again while Redis is unreachable.
RETRY_SECONDS = 1.0
#: A subscription that lived this long before failing is a new outage, worth a warning.
OUTAGE_SECONDS = 10.0

#: A waiter's inbox: its job's outcome, or None after a (re)subscription ("read the record
#: again": anything published while not subscribed was missed).
Inbox = queue.SimpleQueue[PredictionOutcome | None]

_listeners: weakref.WeakSet[ResultListener] = weakref.WeakSet()


class ResultListener:
    """Dispatches the outcomes published on this process's ``channel`` to their waiters.

    The thread starts with the first waiter, so only a process that serves requests runs
    one (never gunicorn's master, never at import), and it ends soon after the listener
    is garbage-collected.
    """

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._reset()
        _listeners.add(self)

    def _reset(self) -> None:
        """Fresh state: at creation, and in a forked child, which has no listening thread."""
        self._lock = threading.Lock()
        self._waiters: dict[str, list[Inbox]] = {}
        self._thread: threading.Thread | None = None
        #: This process's reply channel; a forked child gets its own.
        self.channel = f"{self._prefix}{uuid.uuid4().hex}"

    @contextmanager
    def waiting(self, job_id: str) -> Iterator[Inbox]:
        """Receive ``job_id``'s outcome inside the block; read the record only there."""
        inbox: Inbox = queue.SimpleQueue()
        with self._lock:
            self._waiters.setdefault(job_id, []).append(inbox)
            self._start()
        try:
            yield inbox
        finally:
            with self._lock:
                inboxes = self._waiters[job_id]
                inboxes.remove(inbox)
                if not inboxes:
                    del self._waiters[job_id]

    def waiter_count(self) -> int:
        """How many requests of this process wait for an outcome now."""
        with self._lock:
            return sum(len(inboxes) for inboxes in self._waiters.values())

    def _start(self) -> None:
        """Start (or restart, should it have died) the listening thread; called under the lock."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(
            target=_listen,
            args=(weakref.ref(self), self._client, self.channel),
            name="digits-result-listener",
            daemon=True,
        )
        self._thread.start()

    def dispatch(self, message: dict[str, Any]) -> None:
        """Hand each published outcome to its job's waiters; after a subscription, wake all."""
        if message["type"] == "message":
            outcomes = cast(dict[str, PredictionOutcome], json.loads(message["data"]))
            with self._lock:
                for job_id, outcome in outcomes.items():
                    for inbox in self._waiters.get(job_id, ()):
                        inbox.put(outcome)
        elif message["type"] == "subscribe":
            with self._lock:
                for inboxes in self._waiters.values():
                    for inbox in inboxes:
                        inbox.put(None)


def _listen(ref: weakref.ref[ResultListener], client: redis.Redis, channel: str) -> None:
    """The thread: subscribe and dispatch; subscribe again whenever Redis drops."""
    while ref() is not None:
        started = time.monotonic()
        try:
            _pump(ref, client, channel)
            return  # the listener is gone
        except Exception as exc:  # whatever broke, waiters need a live subscription back
            outage = time.monotonic() - started > OUTAGE_SECONDS
            log.log(
                logging.WARNING if outage else logging.DEBUG,
                "result subscription lost (%s: %s); subscribing again every %g s",
                type(exc).__name__,
                exc,
                RETRY_SECONDS,
            )
        time.sleep(RETRY_SECONDS)


def _pump(ref: weakref.ref[ResultListener], client: redis.Redis, channel: str) -> None:
    """Subscribe, then deliver every message until the listener is garbage-collected.

    redis-py may reconnect and subscribe again by itself; either way the "subscribe"
    confirmation reaches ``dispatch``, which tells every waiter to read its state again.
    """
    pubsub = client.pubsub()
    try:
        pubsub.subscribe(channel)
        while _deliver(ref, pubsub.get_message(timeout=POLL_SECONDS)):
            pass
    finally:
        pubsub.close()


def _deliver(ref: weakref.ref[ResultListener], message: dict[str, Any] | None) -> bool:
    """Pass ``message`` on; False once the listener is gone (holds no reference between calls)."""
    listener = ref()
    if listener is None:
        return False
    if message is not None:
        listener.dispatch(message)
    return True


def _after_fork_in_child() -> None:
    """A forked child inherits neither the thread nor a usable lock: start from scratch."""
    for listener in list(_listeners):
        listener._reset()


os.register_at_fork(after_in_child=_after_fork_in_child)
