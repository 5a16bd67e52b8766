"""The bench's page requests (``bench/page_drawings.py``): PNG and strokes as the draw page
sends them, strokes that web trusts as the PNG's ink."""

from __future__ import annotations

import io

from PIL import Image

from bench.page_drawings import image_only, page_requests
from shared.imaging import MAX_DIGITS, decode_data_url
from shared.stroke_canvas import stroke_canvas


def test_each_request_is_a_png_and_strokes_web_reads_in_its_pixels() -> None:
    requests = page_requests(count=6, seed=7)
    assert len(requests) == 6
    pads = set()
    for body in requests:
        png = Image.open(io.BytesIO(decode_data_url(body["image"], 10**6)))
        width, height = png.size
        pads.add((width, height))
        times = [t for stroke in body["strokes"] for _, _, t in stroke]
        assert times == sorted(times), "timed from the drawing's first point, in order"
        found = stroke_canvas(body["strokes"], width, height, MAX_DIGITS, True)
        assert found is not None, "the strokes stand for the PNG's ink"
    assert pads == {(280, 280), (840, 280)}
    assert image_only(requests) == [{"image": body["image"]} for body in requests]
