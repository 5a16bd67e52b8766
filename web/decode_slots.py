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
``web.drawings.checked_png``; a drawing read from its strokes holds a slot the same
way, inline, and its PNG read instead takes one of its own), the process keeps serving everything else
meanwhile, and decode memory is bounded by ``MAX_DECODES`` decodes of the largest image (``MAX_IMAGE_PIXELS``,
about 20 MB each). A request that finds every slot taken for ``DECODE_WAIT`` seconds is answered
503 with ``Retry-After`` rather than queued longer. Outside gevent (Flask's test client, a
threaded server) each request's own thread decodes, under the same bound.

A canvas of at most ``INLINE_PIXELS`` (the page's 280x280 digit pad) decodes in its own
greenlet, still holding a slot: it takes about 2 ms, no more than serving any other
request, and the hop to a pool thread and back (spawn, a queue, two wake-ups) cost about
a tenth of the web process's CPU at 32 clients in a py-spy profile. Whatever it holds,
at most about 20 ms (a 100,000-pixel random scribble): decoding is linear in the pixels,
and a canvas of more strokes than a number has is refused before they are grouped
(``shared.stroke_grouping``; a 316x316 canvas of specks took 40 s before issue 36).

What a decode frees goes back to the system (glibc only; elsewhere nothing changes). By
default glibc keeps it: after the first large buffer is freed it serves the next ones up
to 32 MB from its heaps, where the pool threads' arenas fragment, and bursts of the
largest images left each gunicorn process about 60 MB larger for good (issue 36: the
server's RSS from 225 MB to 348, and no lower). So under gevent buffers of
``MMAP_THRESHOLD`` bytes or more (an RGBA or float copy of a large canvas) are mapped on
their own and unmapped when freed, and each pool decode ends with ``malloc_trim``, which
hands back the free pages of the smaller ones: 1-4 MB a process are left
(``python -m bench.web_memory``, tests/web/test_web_memory.py). The canvas pad's decodes
allocate under the threshold and never trim: their cost is unchanged.
"""

from __future__ import annotations

import ctypes
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

#: Allocations of at least this many bytes are mapped on their own under gevent: a
#: canvas of MAX_IMAGE_PIXELS as RGBA or float32. 128 KB (glibc's start) would add page
#: faults to every canvas-pad decode; glibc's own, raised to 32 MB by the first large
#: buffer freed, keeps them all in the heap.
MMAP_THRESHOLD = 4 * 1024 * 1024
#: glibc's mallopt parameter for it (malloc.h); setting it also stops glibc raising it.
M_MMAP_THRESHOLD = -3


class DecodeSlots:
    """The process's decode slots, and under gevent the threads that decode."""

    def __init__(self, limit: int, wait: float = WAIT) -> None:
        self.limit = limit
        self._wait = wait
        # Built in create_app, after gunicorn's gevent worker patched threading: waiting
        # for a slot then yields to the other greenlets instead of blocking the process.
        self._slots = threading.BoundedSemaphore(limit)
        self._pool = _gevent_thread_pool(limit)
        if self._pool is not None:
            _map_large_buffers()

    def run(self, pixels: int, decode: Callable[..., T], *args: Any) -> T:
        """``decode(*args)`` of an image of ``pixels`` (from its header) in a free slot, or
        Busy when none frees up within ``WAIT``."""
        return self._in_slot(pixels <= INLINE_PIXELS, decode, args)

    def run_inline(self, decode: Callable[..., T], *args: Any) -> T:
        """``decode(*args)`` in a free slot, in the request's own greenlet: for work bounded
        by something other than pixels (a stroke reading, by the stroke caps)."""
        return self._in_slot(True, decode, args)

    def _in_slot(self, inline: bool, decode: Callable[..., T], args: tuple[Any, ...]) -> T:
        if not self._slots.acquire(timeout=self._wait):
            raise Busy(
                f"this server is decoding {self.limit} images already; "
                f"try again in {Busy.retry_after} s"
            )
        try:
            if self._pool is None or inline:
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
    finally:
        _trim()


def _libc() -> Any:
    """The C library when it is glibc (mallopt and malloc_trim), else None."""
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


def _map_large_buffers() -> None:
    """Fix the threshold, so that freeing a large buffer unmaps it (and glibc's dynamic
    threshold no longer climbs past it)."""
    if _LIBC is not None:
        _LIBC.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def _trim() -> None:
    """Free heap pages back to the system: 0.1-0.2 ms, in the pool thread (ctypes
    releases the GIL), while the request's greenlet waits anyway."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _gevent_thread_pool(size: int) -> Any:
    """Under gevent, a pool of ``size`` OS threads; None in a process gevent did not patch."""
    from gevent import monkey

    if not monkey.is_module_patched("threading"):
        return None
    from gevent.threadpool import ThreadPool

    return ThreadPool(size)
