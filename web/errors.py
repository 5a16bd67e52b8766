"""One place that turns every error into ``{"error": {"code", "message"}}`` for API clients."""

from __future__ import annotations

import logging

import redis
from flask import Flask, Response, jsonify, request
from kombu.exceptions import OperationalError
from werkzeug.exceptions import HTTPException

from shared.errors import DigitsError

log = logging.getLogger(__name__)


def error_response(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify(error={"code": code, "message": message}), status


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def register(app: Flask) -> None:
    @app.errorhandler(DigitsError)
    def digits_error(exc: DigitsError) -> tuple[Response, int]:
        response, status = error_response(exc.http_status, exc.code, exc.message)
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response, status

    @app.errorhandler(redis.exceptions.ConnectionError)
    @app.errorhandler(redis.exceptions.TimeoutError)
    @app.errorhandler(OperationalError)
    def broker_down(exc: Exception) -> tuple[Response, int]:
        log.warning("redis unavailable: %s", exc)
        return error_response(
            503, "queue_unavailable", "the job queue (Redis) is not reachable; try again shortly"
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response | tuple[Response, int] | HTTPException:
        if not _wants_json():
            return exc
        code = (exc.name or "error").lower().replace(" ", "_")
        if exc.code == 413:
            code = "body_too_large"
        return error_response(exc.code or 500, code, exc.description or exc.name)
