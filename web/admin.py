"""Admin calls need ``Authorization: Bearer $ADMIN_TOKEN``; no token configured means no admin.

Wrong tokens are counted per client, up to ADMIN_FAILURE_LIMIT distinct ones a window (a
script that repeats one stale token is not guessing: a token already refused is refused
again without counting). A client that has used the limit up is not refused for the rest
of the window, which would lock out an admin behind the same address (an office, a NAT):
one token from it is checked every window / limit seconds (90 s by default) and the right
one passes; the others are refused unheard, 429 with Retry-After. A guesser thus gets at
most twice the limit a window, and the admin waits one such interval at most.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

import redis
from flask import Blueprint, Response, g, request
from limits import RateLimitItem, parse

from shared.errors import DigitsError, Unauthorized
from web.client_ids import client_id
from web.services import Services, current_services

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)
bp = Blueprint("admin", __name__, url_prefix="/api/admin")

NEEDED = "a valid 'Authorization: Bearer <ADMIN_TOKEN>' header is required"
#: The wrong tokens a client sent this window (a hash of each), and its check slot.
FAILURES_KEY = "digits:admin:failures:{client}"
SLOT_KEY = "digits:admin:slot:{client}"


class TooManyFailedLogins(DigitsError):
    """This client has used up ADMIN_FAILURE_LIMIT and another token was checked lately."""

    code = "too_many_requests"
    http_status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "too many failed admin logins from this address; "
            f"one token is checked at a time: try again in {retry_after} s"
        )
        self.retry_after = retry_after


def check_admin() -> None:
    """Raise unless the request carries the admin token; decided once a request (a view
    may ask twice), so one request never counts as two failures."""
    if "admin_refusal" not in g:
        g.admin_refusal = _refusal(current_services())
    if g.admin_refusal is not None:
        raise g.admin_refusal


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


def _matches(header: str, expected: str) -> bool:
    scheme, _, given = header.partition(" ")
    # Constant-time comparison: response timing must not reveal the token.
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), expected.encode())


def _refusal(services: Services) -> DigitsError | None:
    """Why this request is no admin's, or None when it is."""
    expected = services.settings.admin_token
    if not expected:
        return Unauthorized("admin calls are disabled: ADMIN_TOKEN is not set on the server")
    header = request.headers.get("Authorization")
    if header is None:
        return Unauthorized(NEEDED)  # no login at all: nothing to count
    if services.settings.rate_limits_enabled:
        try:
            return _counted_check(services, header, expected)
        except redis.RedisError:  # as Flask-Limiter does: the limit fails open, not the call
            log.warning("counting failed admin logins failed", exc_info=True)
    return None if _matches(header, expected) else Unauthorized(NEEDED)


@functools.lru_cache(maxsize=8)
def _failure_limit(text: str) -> RateLimitItem:
    return parse(text)


def _counted_check(services: Services, header: str, expected: str) -> DigitsError | None:
    """The check with ADMIN_FAILURE_LIMIT's bookkeeping in Redis (shared by every process)."""
    limit = _failure_limit(services.settings.admin_failure_limit)
    window = limit.get_expiry()
    interval = max(1, window // limit.amount)
    client = client_id()
    failures, slot = FAILURES_KEY.format(client=client), SLOT_KEY.format(client=client)
    guess = hashlib.sha256(header.encode()).hexdigest()[:32]
    store = services.redis
    seen = store.pipeline(transaction=False)
    seen.sismember(failures, guess)
    seen.scard(failures)
    known, failed = seen.execute()
    if known:
        return Unauthorized(NEEDED)  # refused before: no new guess, nothing learnt
    locked = int(failed) >= limit.amount
    if locked and not store.set(slot, "1", nx=True, ex=interval):
        return TooManyFailedLogins(max(1, int(store.ttl(slot))))
    if _matches(header, expected):
        if locked:
            store.delete(slot)  # the admin's own call frees the slot at once
        return None
    pipe = store.pipeline()
    pipe.sadd(failures, guess)
    pipe.expire(failures, window, nx=True)
    pipe.execute()
    return TooManyFailedLogins(interval) if locked else Unauthorized(NEEDED)


@bp.get("/token")
def token_check() -> Response:
    """204 for the admin token, 401 (or 429) otherwise: the pages check a token as it is
    entered, counted as any admin call is, and say whether the server took it."""
    check_admin()
    return Response(status=204)
