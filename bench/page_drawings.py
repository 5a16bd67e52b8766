"""Requests as the draw page sends them: a PNG data URL and the strokes it was drawn from.

The page POSTs ``{"image": <PNG data URL>, "strokes": [[[x, y, t], ...], ...]}``: strokes
in the PNG's pixels, in the order drawn, ``t`` in milliseconds since the drawing's first
point. MNIST has no strokes, so each digit of the sample in the tree
(``tests/data/mnist_sample.npz``, no full MNIST needed) is traced into the strokes a pen
would draw (``worker.trainer.tools.stroke_tracing``), placed on the page's pads and drawn
into the PNG the page would export with its pen, 1/14 of the pad's height, anti-aliased
(``worker.trainer.tools.stroke_sets``): a single digit on the 280x280 pad or on the 840x280
one, a number of two to five digits on the 840x280 one.

``image_only`` makes the same drawings without their strokes, as clients that send only
a PNG (and the bench's figures before issue 40) do.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np

from bench.drawings import SAMPLE
from worker.trainer.tools.numbers import GAPS
from worker.trainer.tools.stroke_sets import Drawing, number_set, single_set

#: The mix: this share of the drawings are single digits (half on the square pad, half on
#: the wide one), the rest numbers of NUMBER_LENGTHS digits on the wide pad.
SINGLE_SHARE = 0.5
NUMBER_LENGTHS = (2, 5)
#: The pen is up this long between two strokes (ms; a person's pause, not measured).
PEN_UP_MS = (120, 400)
DRAWINGS = 48
SEED = 40

Request = dict[str, Any]


def page_requests(count: int = DRAWINGS, seed: int = SEED) -> list[Request]:
    """``count`` request bodies as the page sends them, singles and numbers interleaved."""
    with np.load(SAMPLE) as data:
        x, y = data["x_test"], data["y_test"].astype(np.int64)
    singles = round(count * SINGLE_SHARE)
    drawn = single_set(x, y, singles, seed)
    drawn += number_set(x, y, count - singles, seed + 1, GAPS, lengths=NUMBER_LENGTHS)
    order = np.random.default_rng(seed + 2).permutation(len(drawn))
    rng = np.random.default_rng(seed + 3)
    return [request_of(drawn[i], rng) for i in order.tolist()]


def request_of(drawing: Drawing, rng: np.random.Generator) -> Request:
    """One drawing's body: its PNG as a data URL, its strokes timed from the first point."""
    return {"image": data_url(drawing.png), "strokes": timed(drawing.strokes, rng)}


def timed(strokes: list[list[list[int]]], rng: np.random.Generator) -> list[list[list[int]]]:
    """Strokes timed from each stroke's start (as ``stroke_sets`` records them) retimed from
    the drawing's first point, with a pen-up pause between strokes."""
    out, start = [], 0
    for stroke in strokes:
        out.append([[x, y, start + t] for x, y, t in stroke])
        start = out[-1][-1][2] + int(rng.integers(*PEN_UP_MS))
    return out


def image_only(requests: list[Request]) -> list[Request]:
    """The same drawings, each its PNG alone."""
    return [{"image": body["image"]} for body in requests]


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def describe(requests: list[Request]) -> dict[str, Any]:
    """What the set holds: drawings by pad, strokes and points a drawing, body size."""
    sizes = [len(json.dumps(body)) for body in requests]
    strokes = [len(body.get("strokes", [])) for body in requests]
    points = [sum(len(s) for s in body.get("strokes", [])) for body in requests]
    return {
        "drawings": len(requests),
        "single_share": SINGLE_SHARE,
        "number_lengths": list(NUMBER_LENGTHS),
        "mean_strokes": round(float(np.mean(strokes)), 1),
        "mean_points": round(float(np.mean(points)), 1),
        "mean_body_bytes": round(float(np.mean(sizes))),
    }
