"""One Redis subscription per web process that wakes the requests waiting for a result.

The Celery Redis result backend publishes every state change of a task on the channel
named by the task's result key. A PubSub per waiting request costs a connection and a
subscribe round trip each; instead one daemon thread holds one pattern subscription and
hands each message to the waiters registered for its channel.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis

log = logging.getLogger(__name__)

#: How often the listening thread looks up from the socket to see if its listener is gone.
POLL_SECONDS = 1.0
#: Pause between attempts to subscribe again while Redis is unreachable.
RETRY_SECONDS = 1.0
#: A subscription that lived this long before failing is a new outage, worth a warning.
OUTAGE_SECONDS = 10.0

#: A waiter's inbox: each payload published on its channel, or None after a (re)subscription
#: ("read the state again": anything published while not subscribed was missed).
Inbox = queue.SimpleQueue[bytes | None]

_listeners: weakref.WeakSet[ResultListener] = weakref.WeakSet()


class ResultListener:
    """Dispatches the messages published on ``pattern`` to the waiters of each channel.

    The thread starts with the first waiter, so only a process that serves requests runs
    one (never gunicorn's master, never at import), and it ends soon after the listener
    is garbage-collected.
    """

    def __init__(self, client: redis.Redis, pattern: bytes) -> None:
        self._client = client
        self._pattern = pattern
        self._reset()
        _listeners.add(self)

    def _reset(self) -> None:
        """Fresh state: at creation, and in a forked child, which has no listening thread."""
        self._lock = threading.Lock()
        self._waiters: dict[bytes, list[Inbox]] = {}
        self._thread: threading.Thread | None = None

    @contextmanager
    def waiting(self, channel: bytes) -> Iterator[Inbox]:
        """Receive ``channel``'s messages inside the block; read the current state only there."""
        inbox: Inbox = queue.SimpleQueue()
        with self._lock:
            self._waiters.setdefault(channel, []).append(inbox)
            self._start()
        try:
            yield inbox
        finally:
            with self._lock:
                inboxes = self._waiters[channel]
                inboxes.remove(inbox)
                if not inboxes:
                    del self._waiters[channel]

    def _start(self) -> None:
        """Start (or restart, should it have died) the listening thread; called under the lock."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(
            target=_listen,
            args=(weakref.ref(self), self._client, self._pattern),
            name="digits-result-listener",
            daemon=True,
        )
        self._thread.start()

    def dispatch(self, message: dict[str, Any]) -> None:
        """Hand a published payload to its channel's waiters; after a subscription, wake all."""
        with self._lock:
            if message["type"] == "pmessage":
                for inbox in self._waiters.get(message["channel"], ()):
                    inbox.put(message["data"])
            elif message["type"] == "psubscribe":
                for inboxes in self._waiters.values():
                    for inbox in inboxes:
                        inbox.put(None)


def _listen(ref: weakref.ref[ResultListener], client: redis.Redis, pattern: bytes) -> None:
    """The thread: subscribe and dispatch; subscribe again whenever Redis drops."""
    while ref() is not None:
        started = time.monotonic()
        try:
            _pump(ref, client, pattern)
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


def _pump(ref: weakref.ref[ResultListener], client: redis.Redis, pattern: bytes) -> None:
    """Subscribe, then deliver every message until the listener is garbage-collected.

    redis-py may reconnect and subscribe again by itself; either way the "psubscribe"
    confirmation reaches ``dispatch``, which tells every waiter to read its state again.
    """
    pubsub = client.pubsub()
    try:
        pubsub.psubscribe(pattern)
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
