"""What the browser tests share: when a page has drawn what it loads, and drawing on its
canvas with the mouse or a finger."""

from __future__ import annotations

import re

#: What shows that each page's script has drawn what it loads: (selector, text or None).
PAGE_READY: dict[str, tuple[str, re.Pattern[str] | None]] = {
    "/": ("#undo", None),
    "/collect": ("#saved-count", re.compile(r"\d")),
    "/models": ("#cnn-current", re.compile(r"^v\d+$")),
    "/samples": ("#samples-summary", re.compile(r"\w")),
    "/stats": ("#stat-workers", re.compile(r"^\d+$")),
    "/about": ("#step-store", None),
    "/forget": ("#forget-status", re.compile(r"\w")),
    "/no-such-page": ("h1", None),
}


def touch_drag(page, points: list[tuple[float, float]], steps: int = 12) -> None:
    """A one-finger drag through ``points`` (fractions of the canvas), sent as real touches
    (``steps`` moves per segment: few make a fast flick)."""
    box = page.locator("#canvas").bounding_box()
    assert box is not None
    cdp = page.context.new_cdp_session(page)

    def at(fx: float, fy: float) -> list[dict[str, float]]:
        return [{"x": box["x"] + fx * box["width"], "y": box["y"] + fy * box["height"], "id": 1}]

    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": at(*points[0])})
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        for step in range(1, steps + 1):
            f = step / steps
            point = at(x0 + (x1 - x0) * f, y0 + (y1 - y0) * f)
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": point})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def draw_stroke(page, points: list[tuple[float, float]]) -> None:
    """Drag the mouse through ``points`` (fractions of the canvas) with the button down."""
    box = page.locator("#canvas").bounding_box()
    x0, y0 = box["x"], box["y"]
    first = points[0]
    page.mouse.move(x0 + first[0] * box["width"], y0 + first[1] * box["height"])
    page.mouse.down()
    for fx, fy in points[1:]:
        page.mouse.move(x0 + fx * box["width"], y0 + fy * box["height"], steps=12)
    page.mouse.up()
