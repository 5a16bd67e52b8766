"""MNIST digits as the strokes a person would draw them with: skeletons traced into lines.

MNIST holds pixels, not pen movements. A digit's ink, tripled in size and thinned to a
line one pixel wide (Zhang and Suen's thinning, in NumPy), is walked from its topmost end
as a pen would go: at a fork straight on (not into a spur of the thinning), and a new
stroke from the next free end where the pen has nowhere left to go. Free ends are carried
on to where the ink ends, less its half width (thinning wears them down). Most digits
come out as one or two strokes, each a polyline in the traced image's pixels; some in
three or four, as a person rarely draws them (a 0 in two arcs), which is a harder test of
grouping, not an easier one. ``stroke_sets`` places them on the page's pad and draws them
with its pen.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

#: Digits are traced at this many times MNIST's 28 px, so thin strokes keep their shape (at
#: 3, the CNN reads 98.2 % of 1,500 traced test digits drawn with the page's pen; 97.6 % at 2).
UPSCALE = 3
#: A grey level (0-255) above which an upscaled pixel is ink.
INK = 100
#: Strokes of fewer pixels are spurs of the thinning, not strokes.
MIN_PIXELS = 6
#: At a fork the pen goes on along a branch at least this long, if it has one.
SPUR = 7
#: The eight neighbours, clockwise from the top (Zhang and Suen's P2 to P9), as (dy, dx).
RING = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))

Pixel = tuple[int, int]


def digit_strokes(digit: np.ndarray) -> list[np.ndarray]:
    """A 28x28 MNIST digit as strokes: each an (n, 2) array of x, y in the traced image's
    pixels (``UPSCALE`` times MNIST's), in the order a pen would draw them."""
    side = digit.shape[0] * UPSCALE
    big = np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC))
    mask = big > INK
    skeleton = thin(mask)
    half_width = ndimage.distance_transform_edt(mask)
    pixels = _pixels(skeleton)
    paths = []
    for path in trace(skeleton):
        points = np.array([(x + 0.5, y + 0.5) for y, x in path])
        for end in (0, -1):
            if len(_neighbours(path[end], pixels)) <= 1:  # a free end, not a fork
                points = _extended(points, end, mask, float(half_width[path[end]]))
        if _length(points) >= MIN_PIXELS:
            paths.append(_smoothed(points))
    if not paths:  # a dot: one stroke where the ink is
        ys, xs = np.nonzero(mask)
        paths = [np.array([(xs.mean() + 0.5, ys.mean() + 0.5)])]
    return paths


def _extended(points: np.ndarray, end: int, mask: np.ndarray, half_width: float) -> np.ndarray:
    """``points`` with the ``end`` (0 or -1) carried on to where the pen's edge meets the
    ink's: thinning wears a thick stroke's ends down by about its half width, and a short
    thick stroke (the foot of a bold 2) to a stub."""
    if len(points) < 2:
        return points
    tip = points[end]
    back = points[min(3, len(points) - 1)] if end == 0 else points[max(-4, -len(points))]
    direction = tip - back
    norm = float(np.hypot(*direction))
    if norm == 0:
        return points
    direction /= norm
    reach = 0.0
    while True:
        x, y = tip + (reach + 1) * direction
        row, col = int(np.floor(y)), int(np.floor(x))
        if not (0 <= row < mask.shape[0] and 0 <= col < mask.shape[1] and mask[row, col]):
            break
        reach += 1
    reach -= half_width
    if reach < 1:
        return points
    new = tip + reach * direction
    return np.vstack([new, points]) if end == 0 else np.vstack([points, new])


def _length(points: np.ndarray) -> float:
    return float(np.hypot(*np.diff(points, axis=0).T).sum()) if len(points) > 1 else 0.0


def thin(mask: np.ndarray) -> np.ndarray:
    """Zhang and Suen's thinning: ``mask`` worn down to lines one pixel wide."""
    image = np.pad(mask, 1).astype(np.uint8)
    height, width = mask.shape
    while True:
        changed = False
        for step in (0, 1):
            p = [image[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width] for dy, dx in RING]
            count = sum(p[i].astype(np.int16) for i in range(8))
            rises = sum(((p[i] == 0) & (p[(i + 1) % 8] == 1)).astype(np.int16) for i in range(8))
            north, east, south, west = p[0], p[2], p[4], p[6]
            if step == 0:
                keep = (north & east & south) | (east & south & west)
            else:
                keep = (north & east & west) | (north & south & west)
            inner = image[1:-1, 1:-1]
            drop = (inner == 1) & (count >= 2) & (count <= 6) & (rises == 1) & (keep == 0)
            if drop.any():
                inner[drop] = 0
                changed = True
        if not changed:
            return image[1:-1, 1:-1].astype(bool)


def trace(skeleton: np.ndarray) -> list[list[Pixel]]:
    """The skeleton's pixels walked into strokes, as (row, column) lists."""
    pixels = _pixels(skeleton)
    seen: set[Pixel] = set()
    strokes = []
    while len(seen) < len(pixels):
        start = min(pixels - seen, key=lambda p: (_free(p, pixels, seen) > 1, p[0], p[1]))
        path = [start]
        seen.add(start)
        joined = _neighbours(start, pixels) & (seen - {start})
        if joined:  # a branch off a stroke already drawn: start where they meet
            path.insert(0, min(joined))
        _walk(path, pixels, seen)
        strokes.append(path)
    return strokes


def _walk(path: list[Pixel], pixels: set[Pixel], seen: set[Pixel]) -> None:
    """Extend ``path`` pixel by pixel, straight on at forks, until no free pixel is next;
    then close onto a stroke already drawn if it ends beside one (a loop, a junction)."""
    while True:
        free = [q for q in _neighbours(path[-1], pixels) if q not in seen]
        if not free:
            break
        # Not into a spur the thinning left where the line goes on elsewhere; then straight on.
        here, back = path[-1], path[max(0, len(path) - 4)]
        nxt = max(free, key=lambda q: (_reach(q, here, pixels, seen), _straightness(back, here, q)))
        path.append(nxt)
        seen.add(nxt)
    ends = _neighbours(path[-1], pixels) & (seen - set(path[-4:]))
    if ends and len(path) > 2:
        path.append(min(ends))


def _straightness(back: Pixel, here: Pixel, step: Pixel) -> float:
    """The cosine of the turn from the heading ``back`` to ``here`` onto ``step``."""
    heading = np.array([here[0] - back[0], here[1] - back[1]], dtype=float)
    move = np.array([step[0] - here[0], step[1] - here[1]], dtype=float)
    return float(heading @ move) / max(float(np.hypot(*heading) * np.hypot(*move)), 1e-9)


def _reach(q: Pixel, here: Pixel, pixels: set[Pixel], seen: set[Pixel]) -> int:
    """How far (up to ``SPUR`` pixels) the pen can go on through free pixels from ``q``."""
    ahead, visited = {q}, {q, here} | seen
    for depth in range(SPUR):
        ahead = {n for p in ahead for n in _neighbours(p, pixels)} - visited
        if not ahead:
            return depth
        visited |= ahead
    return SPUR


def _pixels(skeleton: np.ndarray) -> set[Pixel]:
    return {(int(y), int(x)) for y, x in zip(*np.nonzero(skeleton), strict=True)}


def _neighbours(p: Pixel, pixels: set[Pixel]) -> set[Pixel]:
    return {(p[0] + dy, p[1] + dx) for dy, dx in RING} & pixels


def _free(p: Pixel, pixels: set[Pixel], seen: set[Pixel]) -> int:
    return len(_neighbours(p, pixels) - seen)


def _smoothed(points: np.ndarray) -> np.ndarray:
    """A pixel walk's staircase rounded off (a moving average of three), its ends kept."""
    if len(points) < 3:
        return points
    out = points.copy()
    out[1:-1] = (points[:-2] + points[1:-1] + points[2:]) / 3
    return out
