"""One place that turns every error into ``{"error": {"code", "message"}}`` for API clients,
and into the site's own page (templates/error.html) for people on the HTML pages."""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Flask, Response, g, jsonify, render_template, request
from kombu.exceptions import OperationalError
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    InternalServerError,
    MethodNotAllowed,
    NotFound,
    RequestEntityTooLarge,
    RequestTimeout,
    ServiceUnavailable,
    TooManyRequests,
)

from shared.errors import DigitsError, RedisFull
from shared.storage import StoreUnavailable

log = logging.getLogger(__name__)

#: Statuses with their own title and text in the catalogues (``error.title.<status>``);
#: other 5xx share 500's, other 4xx share ``error.title.other``.
OWN_TEXT = frozenset({404, 405, 429, 500, 503})
#: Seconds a client should wait before trying again when the store did not answer.
STORE_RETRY_AFTER = 5
#: The code of a 503 when Redis (the job queue) cannot be reached.
QUEUE_UNAVAILABLE = "queue_unavailable"
#: Werkzeug's errors that reach the API: routing (404, 405), Flask (400, 413), the body
#: deadline (408), the rate limits (429), an unexpected exception (500), and 503. A test
#: checks that every one web imports is here and that the pages explain each code.
HTTP_ERRORS: tuple[type[HTTPException], ...] = (
    BadRequest,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    RequestEntityTooLarge,
    TooManyRequests,
    InternalServerError,
    ServiceUnavailable,
)


def error_response(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify(error={"code": code, "message": message}), status


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def error_kind(status: int) -> str:
    """Which catalogue entry explains status: its own, or the shared one of its class."""
    if status in OWN_TEXT:
        return str(status)
    return "500" if status >= 500 else "other"


def error_page(exc: HTTPException) -> Response | HTTPException:
    """The site's error page for exc, with exc's status and headers (Allow, Retry-After).

    Rendering uses the layout and the request's language; should that fail too (a broken
    template, a context processor that raises), Werkzeug's bare page is still an answer.
    """
    status = exc.code or 500
    if exc.response is not None:
        return exc
    try:
        html = render_template("error.html", status=status, kind=error_kind(status))
    except Exception:
        log.exception("the error page failed to render; answering Werkzeug's page instead")
        return exc
    return Response(html, status, headers=exc.get_headers(request.environ))


def store_unavailable(exc: StoreUnavailable) -> Any:
    """503 with the app's error shape (the site's error page off the API); the cause is
    logged, the answer names neither path nor host."""
    log.warning("the object store is unavailable: %r", exc.__cause__ or exc)
    g.retry_after = STORE_RETRY_AFTER  # kept over a rate limit's reset (web.limits)
    if not request.path.startswith("/api/"):
        return error_page(ServiceUnavailable(retry_after=STORE_RETRY_AFTER))
    response, status = error_response(503, StoreUnavailable.code, str(exc))
    response.headers["Retry-After"] = str(STORE_RETRY_AFTER)
    return response, status


def register(app: Flask) -> None:
    app.register_error_handler(StoreUnavailable, store_unavailable)

    @app.errorhandler(DigitsError)
    def digits_error(exc: DigitsError) -> tuple[Response, int]:
        response, status = error_response(exc.http_status, exc.code, exc.message)
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
            g.retry_after = exc.retry_after  # kept over a rate limit's reset (web.limits)
        return response, status

    @app.errorhandler(redis.exceptions.ConnectionError)
    @app.errorhandler(redis.exceptions.TimeoutError)
    @app.errorhandler(OperationalError)
    def broker_down(exc: Exception) -> tuple[Response, int]:
        if is_redis_full(exc):  # Celery's send wraps the refusal as a connection error
            return redis_full(exc)
        log.warning("redis unavailable: %s", exc)
        return error_response(
            503, QUEUE_UNAVAILABLE, "the job queue (Redis) is not reachable; try again shortly"
        )

    @app.errorhandler(redis.exceptions.OutOfMemoryError)
    def redis_full(exc: Exception) -> tuple[Response, int]:
        """Full is not down: say so, and when to come back (issue 36)."""
        log.warning("redis is full: %s", exc)
        return digits_error(RedisFull())

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response | tuple[Response, int] | HTTPException:
        # An unexpected exception arrives here as InternalServerError, already logged by Flask.
        if not _wants_json():
            return error_page(exc)
        return error_response(exc.code or 500, http_error_code(exc), exc.description or exc.name)


def http_error_code(exc: HTTPException) -> str:
    """The code an HTTP error answers with: its name in snake case ("not_found")."""
    if exc.code == 413:
        return "body_too_large"
    return (exc.name or "error").lower().replace(" ", "_")


def api_error_codes() -> set[str]:
    """Every code the API can answer with: each DigitsError's (of the classes loaded, so
    after ``create_app``), the object store's, the queue's and the HTTP errors'."""
    found, classes = set(), [DigitsError]
    while classes:
        cls = classes.pop()
        found.add(cls.code)
        classes.extend(cls.__subclasses__())
    http = {http_error_code(cls()) for cls in HTTP_ERRORS}
    return found | http | {StoreUnavailable.code, QUEUE_UNAVAILABLE}


def is_redis_full(exc: BaseException | None) -> bool:
    """Whether Redis refused a write for want of memory, here or in what ``exc`` wraps."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, redis.exceptions.OutOfMemoryError) or "maxmemory" in str(exc):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False
