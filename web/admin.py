"""Admin calls need ``Authorization: Bearer $ADMIN_TOKEN``; no token configured means no admin."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import request

from shared.errors import Unauthorized
from web.services import current_services

F = TypeVar("F", bound=Callable[..., Any])


def check_admin() -> None:
    expected = current_services().settings.admin_token
    if not expected:
        raise Unauthorized("admin calls are disabled: ADMIN_TOKEN is not set on the server")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # Constant-time comparison: response timing must not reveal the token.
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), expected.encode()):
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
