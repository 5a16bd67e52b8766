"""Admin calls need ``Authorization: Bearer $ADMIN_TOKEN``; no token configured means no admin.

A client that sends a wrong token ADMIN_FAILURE_LIMIT times is refused (429) on every
request that carries a token, the right one too, until the window passes: otherwise the
limit would only slow a guesser down until the right guess.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Response, g, request
from flask_limiter import ApplicationLimit

from shared.errors import Unauthorized
from shared.settings import Settings
from web.services import current_services

F = TypeVar("F", bound=Callable[..., Any])


def check_admin() -> None:
    expected = current_services().settings.admin_token
    if not expected:
        raise Unauthorized("admin calls are disabled: ADMIN_TOKEN is not set on the server")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # Constant-time comparison: response timing must not reveal the token.
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), expected.encode()):
        if "Authorization" in request.headers:
            g.failed_admin_login = True  # counted by failed_login_limit
        raise Unauthorized("a valid 'Authorization: Bearer <ADMIN_TOKEN>' header is required")


def is_admin() -> bool:
    """Whether this request carries the admin token (for views open to all that admins see more of)."""
    try:
        check_admin()
    except Unauthorized:
        return False
    return True


def admin_required(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        check_admin()
        return view(*args, **kwargs)

    return cast(F, wrapper)


def failed_login_limit(settings: Settings) -> ApplicationLimit:
    """ADMIN_FAILURE_LIMIT as one Flask-Limiter limit across the app, per client: checked
    on every request that carries an Authorization header, counted only when the token
    was wrong (on an admin endpoint or on a view that shows admins more)."""
    return ApplicationLimit(
        limit_provider=settings.admin_failure_limit,
        scope="admin-failures",
        exempt_when=lambda: "Authorization" not in request.headers,
        deduct_when=_login_failed,
        error_message="too many failed admin logins from this address; try again later",
    )


def _login_failed(response: Response) -> bool:
    return bool(g.get("failed_admin_login", False))
