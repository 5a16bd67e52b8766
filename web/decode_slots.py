"""At most ``MAX_DECODES`` images decoded at once in one web process; past that, 503 ``busy``.

Decoding a canvas (its PNG's pixels, the MNIST recipe, segmentation) is CPU work that
never waits on a socket, and gevent does not preempt it. A greenlet that decoded inline
would keep its process until it was done: decodes would never overlap (so "at once" would
always mean one), but a 1024x1024 PNG would stall every other request of the process for
its 50-100 ms, and a flood of them for the sum (a cheap request waited 0.7 s). So under
gevent a decode runs on one of ``MAX_DECODES`` OS threads of the process (gevent's thread
pool; zlib, Pillow and NumPy release the GIL for most of the work) while its greenlet
waits for it as for a socket. "At once" then means what it says: a slot is held from the
first pixel decoded until the 28x28 images are made (the PNG header was checked before,
``web.api.checked_png``), the process keeps serving everything else meanwhile, and decode
memory is bounded by ``MAX_DECODES`` decodes of the largest image (``MAX_IMAGE_PIXELS``,
about 20 MB each). A request that finds every slot taken for ``DECODE_WAIT`` seconds is answered
503 with ``Retry-After`` rather than queued longer. Outside gevent (Flask's test client, a
threaded server) each request's own thread decodes, under the same bound.

A canvas of at most ``INLINE_PIXELS`` (the page's 280x280 digit pad) decodes in its own
greenlet, still holding a slot: it takes about 2 ms, no more than serving any other
request, and the hop to a pool thread and back (spawn, a queue, two wake-ups) cost about
a tenth of the web process's CPU at 32 clients in a py-spy profile.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from shared.errors import Busy

T = TypeVar("T")

#: Canvases of at most this many pixels decode in the request's greenlet, not a thread.
INLINE_PIXELS = 100_000

#: Seconds a request waits for a free slot before its 503: a burst of canvases (a few ms
#: each; 300 at once take about half a second on 4 slots) queues behind the slots, a
#: sustained flood of large images is turned away.
WAIT = 2.0


class DecodeSlots:
    """The process's decode slots, and under gevent the threads that decode."""

    def __init__(self, limit: int, wait: float = WAIT) -> None:
        self.limit = limit
        self._wait = wait
        # Built in create_app, after gunicorn's gevent worker patched threading: waiting
        # for a slot then yields to the other greenlets instead of blocking the process.
        self._slots = threading.BoundedSemaphore(limit)
        self._pool = _gevent_thread_pool(limit)

    def run(self, pixels: int, decode: Callable[..., T], *args: Any) -> T:
        """``decode(*args)`` of an image of ``pixels`` (from its header) in a free slot, or
        Busy when none frees up within ``WAIT``."""
        if not self._slots.acquire(timeout=self._wait):
            raise Busy(
                f"this server is decoding {self.limit} images already; "
                f"try again in {Busy.retry_after} s"
            )
        try:
            if self._pool is None or pixels <= INLINE_PIXELS:
                return decode(*args)
            value, error = self._pool.apply(_outcome, (decode, args))
            if error is not None:
                raise error
            return value
        finally:
            self._slots.release()


def _outcome(decode: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Any, Exception | None]:
    """Run in a pool thread: the value, or the error for the request's greenlet to raise
    (gevent's pool would print the traceback of every refused image as a crash)."""
    try:
        return decode(*args), None
    except Exception as exc:
        return None, exc


def _gevent_thread_pool(size: int) -> Any:
    """Under gevent, a pool of ``size`` OS threads; None in a process gevent did not patch."""
    from gevent import monkey

    if not monkey.is_module_patched("threading"):
        return None
    from gevent.threadpool import ThreadPool

    return ThreadPool(size)
