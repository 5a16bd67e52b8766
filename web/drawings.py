"""A posted drawing read as the models see it: from its strokes when they can stand for
its ink, else from its PNG.

The strokes are the better evidence (``shared.stroke_canvas``: digits part where the pen
was lifted, and no PNG to decode), but they are optional and a client may send any: so
the PNG's header is checked first whatever comes with it (the caps hold for every
request), and strokes that cannot be its ink (off the canvas, one stroke across a wide
pad, more strokes or ink than a number has) leave the PNG to be read exactly as a request
without strokes is. Each reading holds a decode slot (``web.decode_slots``), so a flood
of strokes costs no more than a flood of the same canvases' PNGs.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from shared.canvas import Canvas, preprocess_canvas_png
from shared.imaging import MAX_DIGITS, decode_data_url, open_png
from shared.stroke_canvas import stroke_canvas
from web.services import current_services
from web.strokes import check_strokes


class Drawing(NamedTuple):
    """What the models read, and per image the indices of the request's strokes it was
    drawn from; None when it was read from the PNG."""

    canvas: Canvas
    strokes: list[list[int]] | None


class CheckedPng(NamedTuple):
    """A posted PNG whose header passed the caps: its bytes and size."""

    png: bytes
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def checked_png(data_url: object) -> CheckedPng:
    """The PNG in a data URL and its size, checked from its header: an image over the caps
    is a 413 at once, without waiting for a decode slot (``web.decode_slots``)."""
    settings = current_services().settings
    png = decode_data_url(data_url, settings.max_image_bytes)
    width, height = open_png(png, settings.max_image_side, settings.max_image_pixels).size
    return CheckedPng(png, width, height)


def drawing_from(body: dict[str, Any]) -> Drawing:
    """The body's drawing (``image``, optional ``strokes``), each reading in a decode slot.

    Strokes are read in the request's greenlet whatever the PNG's size (``run_inline``):
    their cost is bounded by the stroke caps, not the pixels, and the hop to a pool thread
    and back was a tenth of web's CPU at 32 clients (``python -m bench.profile_web``). A
    PNG read when the strokes cannot stand for it takes a slot of its own, by its pixels,
    as a request without strokes does.
    """
    services = current_services()
    settings = services.settings
    strokes: Any = body.get("strokes")
    if "strokes" in body:
        check_strokes(strokes)  # malformed strokes are a 400, never a fallback
        if not any(strokes):  # no points at all: a client that recorded nothing
            strokes = None
    image = checked_png(body["image"])
    if strokes is not None:
        found = services.decodes.run_inline(
            stroke_canvas, strokes, image.width, image.height, MAX_DIGITS, True
        )
        if found is not None:
            return Drawing(*found)
    limits = (settings.max_image_side, settings.max_image_pixels)
    return services.decodes.run(image.pixels, read_png, image, *limits)


def read_png(image: CheckedPng, max_side: int, max_pixels: int) -> Drawing:
    """The drawing from its PNG's pixels. Runs in a decode slot, maybe on a pool thread:
    no app context, so no ``current_app``."""
    canvas = preprocess_canvas_png(image.png, max_side, MAX_DIGITS, max_pixels, True)
    return Drawing(canvas, None)
