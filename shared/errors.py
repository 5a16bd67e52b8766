"""One error vocabulary: each error carries the code and HTTP status a client sees."""

import re

#: The folders of a file path in a message (absolute, ``~/``, ``./`` or ``../``), up to
#: its file name; not the slashes of a URL or of a fraction.
_FOLDERS = re.compile(r"(?<![\w/:.~])(?:~|\.{1,2})?/(?:[^\s'\"/:]+/)*(?=[^\s'\"/:])")
#: The host (and port) of a URL in a message.
_URL_HOST = re.compile(r"(?<=://)[^\s/'\"]+")


def describe_error(exc: BaseException) -> str:
    """``Type: message`` for a record anyone may read (a job's ``error``): file paths cut
    to their names and URLs' hosts hidden; the worker's log keeps the whole message."""
    text = _FOLDERS.sub("", f"{type(exc).__name__}: {exc}")
    return _URL_HOST.sub("…", text)


class DigitsError(Exception):
    """Base of every error the API reports as {"error": {"code", "message"}}."""

    code = "error"
    http_status = 400
    #: Seconds a client should wait before trying again (the ``Retry-After`` header), if any.
    retry_after: int | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(DigitsError):
    code = "invalid_request"
    http_status = 400


class InvalidImage(DigitsError):
    code = "invalid_image"
    http_status = 400


class UnsupportedImage(DigitsError):
    code = "unsupported_image"
    http_status = 415


class ImageTooLarge(DigitsError):
    code = "image_too_large"
    http_status = 413


class Busy(DigitsError):
    """The process is decoding as many images as it may at once: try again in a moment."""

    code = "busy"
    http_status = 503
    retry_after = 1


class ImageTooSmall(DigitsError):
    code = "image_too_small"
    http_status = 422


class EmptyCanvas(DigitsError):
    code = "empty_canvas"
    http_status = 422


class InkTooSmall(DigitsError):
    code = "ink_too_small"
    http_status = 422


class TooManyDigits(DigitsError):
    code = "too_many_digits"
    http_status = 422


class TooManyStrokes(DigitsError):
    """More separate strokes than any number is written with (a canvas of scattered dots)."""

    code = "too_many_strokes"
    http_status = 422


class CanvasTooWide(DigitsError):
    code = "canvas_too_wide"
    http_status = 422


class NotFound(DigitsError):
    code = "not_found"
    http_status = 404


class Conflict(DigitsError):
    code = "conflict"
    http_status = 409


class Unauthorized(DigitsError):
    code = "unauthorized"
    http_status = 401


class ObjectNotFound(KeyError):
    """A key is missing from the object store."""


class InvalidCollectorToken(Unauthorized):
    code = "invalid_collector_token"


class PrivateGallery(Unauthorized):
    code = "private_gallery"


class WrongDeleteToken(DigitsError):
    code = "wrong_delete_token"
    http_status = 403


class RedisFull(DigitsError):
    """Redis refused a write for want of memory (``maxmemory``, no eviction): not down,
    full; it frees itself as prediction records expire (issue 36)."""

    code = "redis_full"
    http_status = 503
    retry_after = 60

    def __init__(self, message: str = "") -> None:
        super().__init__(
            message
            or "Redis is full: its memory limit is reached, so nothing new can be accepted "
            "until older predictions expire; try again in a few minutes"
        )
