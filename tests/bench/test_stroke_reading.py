"""``bench/stroke_reading.py``: it reads the page's drawings and times them."""

from __future__ import annotations

from bench.stroke_reading import drawings, fastest_round


def test_every_page_drawing_is_read_from_its_strokes_and_timed() -> None:
    read = drawings()
    assert len(read) == 48 and all(
        width in (280, 840) and height == 280 for _, width, height in read
    )
    assert fastest_round(read[:4], 1) > 0
