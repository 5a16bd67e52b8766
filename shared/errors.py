"""One error vocabulary: each error carries the code and HTTP status a client sees."""


class DigitsError(Exception):
    """Base of every error the API reports as {"error": {"code", "message"}}."""

    code = "error"
    http_status = 400

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


class ImageTooSmall(DigitsError):
    code = "image_too_small"
    http_status = 422


class EmptyCanvas(DigitsError):
    code = "empty_canvas"
    http_status = 422


class TooManyDigits(DigitsError):
    code = "too_many_digits"
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
