"""A request's body must arrive within ``BODY_TIMEOUT`` seconds of its headers; if not, 408.

Gunicorn bounds the request line and headers itself (its gevent worker reads them under a
``keepalive``-second timeout, web/gunicorn_conf.py) but not the body: the app reads that
when it likes, as slowly as it comes. A client sending a byte a second would hold its
connection, one of the process's ``WEB_CONNECTIONS``, for as long as it kept sending. Here
every read of ``wsgi.input`` shares one deadline, counted from the moment the headers are
in; a body not in by then is answered 408 ``request_timeout`` and its connection dropped.

Under gevent each read runs under a ``gevent.Timeout`` of the time left, so a client that
trickles, or stops, cannot stretch it. Elsewhere (Flask's test client, a threaded server)
the deadline is checked between reads only.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from typing import Any, NoReturn

from werkzeug.exceptions import RequestTimeout

#: Seconds a client has to send a whole body. The largest (MAX_IMAGE_BYTES as base64,
#: about 1.3 MB) needs about 1 Mbit/s; a canvas of tens of kilobytes, a few kB/s.
BODY_TIMEOUT = 10.0

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class BodyDeadline:
    """WSGI middleware: each request's ``wsgi.input`` read under one deadline."""

    def __init__(self, app: WSGIApp, timeout: float = BODY_TIMEOUT) -> None:
        self.app = app
        self.timeout = timeout
        self._timer = _gevent_timeout()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        environ["wsgi.input"] = DeadlineInput(
            environ["wsgi.input"],
            time.monotonic() + self.timeout,
            self.timeout,
            environ.get("gunicorn.socket"),
            self._timer,
        )
        return self.app(environ, start_response)


class DeadlineInput:
    """A request body whose reads raise RequestTimeout (408) past the deadline."""

    def __init__(
        self,
        stream: Any,
        deadline: float,
        timeout: float,
        connection: socket.socket | None,
        timer: Any,
    ) -> None:
        self._stream = stream
        self._deadline = deadline
        self._timeout = timeout
        self._connection = connection
        self._timer = timer

    def read(self, size: int | None = -1) -> bytes:
        return self._within(self._stream.read, size)

    def readline(self, size: int | None = -1) -> bytes:
        return self._within(self._stream.readline, size)

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def _within(self, read: Callable[[Any], bytes], size: int | None) -> bytes:
        left = self._deadline - time.monotonic()
        if left <= 0:
            self._expire()
        if self._timer is None:
            return read(size)
        timer = self._timer(left)
        timer.start()
        try:
            return read(size)
        except self._timer as exc:
            if exc is not timer:
                raise
            self._expire()
        finally:
            timer.close()

    def _expire(self) -> NoReturn:
        if self._connection is not None:
            # After the 408, gunicorn would read the rest of the body (for the next request
            # on the connection) for up to `keepalive` seconds more: with nothing left to
            # read it closes the connection at once.
            with suppress(OSError):
                self._connection.shutdown(socket.SHUT_RD)
        raise RequestTimeout(f"the request body did not arrive within {self._timeout:g} s")


def _gevent_timeout() -> Any:
    """``gevent.Timeout`` in a process gevent patched (gunicorn's worker), else None."""
    from gevent import monkey

    if not monkey.is_module_patched("socket"):
        return None
    from gevent import Timeout

    return Timeout
