"""Security headers on every answer (a strict CSP with no inline script, no framing; HSTS
over HTTPS; no caching of API answers; a challenge on every 401), and the body cap applied
to every request, even one whose view never reads the body or sends no length."""

from __future__ import annotations

import io

from flask import Flask, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
#: On every answer, static files included (web/static_files.py sends them there).
COMMON_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
#: Sent only over HTTPS (RFC 6797 says to ignore it over HTTP): browsers then use HTTPS
#: for a year, on subdomains too.
STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains"
#: RFC 9110: a 401 names the scheme it wants; admin calls take a Bearer token.
AUTHENTICATE = 'Bearer realm="digits"'
#: Bytes read at a time from a body of unknown size.
READ_SIZE = 64 * 1024


def register(app: Flask) -> None:
    @app.before_request
    def refuse_large_bodies() -> None:
        # Werkzeug enforces MAX_CONTENT_LENGTH only when a view reads the body; a view
        # that ignores it (POST /api/fine-tunes) would otherwise accept any size. A body
        # without a length (chunked) is read here, so the cap holds while it arrives.
        limit = app.config.get("MAX_CONTENT_LENGTH")
        if limit is None:
            return
        if (request.content_length or 0) > limit:
            raise RequestEntityTooLarge()
        if request.content_length is None and "Transfer-Encoding" in request.headers:
            read_unsized_body(limit)

    @app.after_request
    def add_headers(response: Response) -> Response:
        for name, value in COMMON_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
        if request.path.startswith("/api/"):
            # Predictions, samples, stats, exports: nothing a shared cache should keep.
            response.headers["Cache-Control"] = "no-store"
        if response.status_code == 401:
            response.headers.setdefault("WWW-Authenticate", AUTHENTICATE)
        return response


def read_unsized_body(limit: int) -> None:
    """Read a body sent without Content-Length (chunked), refusing it once it passes ``limit``.

    Werkzeug would stop reading such a body at the limit and hand the view a truncated
    one, and a view that never reads the body would accept any size. Read here, in
    pieces, at most ``limit`` + 1 bytes; then the view reads the same bytes from memory,
    as a body of known length.
    """
    source = request.environ["wsgi.input"]
    body = bytearray()
    while len(body) <= limit:
        piece = source.read(min(READ_SIZE, limit + 1 - len(body)))
        if not piece:
            break
        body += piece
    if len(body) > limit:
        raise RequestEntityTooLarge()
    request.environ["wsgi.input"] = io.BytesIO(bytes(body))
    request.environ["CONTENT_LENGTH"] = str(len(body))
    request.environ.pop("HTTP_TRANSFER_ENCODING", None)
