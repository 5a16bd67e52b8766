"""Negatives drawn with the page's pen (``drawing_pen``): scribbles, zigzags and waves,
hatching and grids, spirals, shapes (triangles, squares, stars, hearts, arrows, crosses,
houses, suns) and faces. Each kind takes the canvas, the pen and the font family (unused
here: only the kinds drawn from fonts need it)."""

from __future__ import annotations

import math

import numpy as np

from worker.trainer.drawing_pen import SIDE, Canvas, Pen, box, ring


def scribble(draw: Canvas, pen: Pen, family: str) -> None:
    """One or two strokes through random points, smoothed."""
    for _ in range(int(pen.rng.integers(1, 3))):
        anchors = pen.rng.uniform(30, SIDE - 30, size=(int(pen.rng.integers(7, 13)), 2))
        t = np.linspace(0, len(anchors) - 1, 12 * len(anchors))
        xs = np.interp(t, np.arange(len(anchors)), anchors[:, 0])
        ys = np.interp(t, np.arange(len(anchors)), anchors[:, 1])
        kernel = np.ones(9) / 9
        xs, ys = np.convolve(xs, kernel, "valid"), np.convolve(ys, kernel, "valid")
        pen.line(draw, list(zip(xs.tolist(), ys.tolist(), strict=True)))


def zigzag(draw: Canvas, pen: Pen, family: str) -> None:
    """Zigzags and waves, along a random direction."""
    cx, cy, r = box(pen.rng)
    teeth = int(pen.rng.integers(4, 9))
    angle = pen.rng.uniform(0, math.pi)
    smooth = bool(pen.rng.random() < 0.5)
    points = []
    for i in range(teeth * 8 + 1 if smooth else teeth + 1):
        u = i / (teeth * 8 if smooth else teeth)
        v = math.sin(u * teeth * math.pi) if smooth else (1 if i % 2 else -1)
        a, b = (u - 0.5) * 2 * r, v * r * pen.rng.uniform(0.25, 0.3)
        points.append(
            (
                cx + a * math.cos(angle) - b * math.sin(angle),
                cy + a * math.sin(angle) + b * math.cos(angle),
            )
        )
    pen.line(draw, points)


def hatching(draw: Canvas, pen: Pen, family: str) -> None:
    """Parallel lines, once or crossed (a grid): shading, a hash."""
    cx, cy, r = box(pen.rng)
    first = pen.rng.uniform(0, math.pi)
    for angle in (first, first + pen.rng.uniform(0.8, 2.3))[: int(pen.rng.integers(1, 3))]:
        count = int(pen.rng.integers(3, 8))
        for k in np.linspace(-r * 0.8, r * 0.8, count):
            dx, dy = math.cos(angle), math.sin(angle)
            pen.line(
                draw,
                [
                    (cx - r * dx - k * dy, cy - r * dy + k * dx),
                    (cx + r * dx - k * dy, cy + r * dy + k * dx),
                ],
            )


def spiral(draw: Canvas, pen: Pen, family: str) -> None:
    cx, cy, r = box(pen.rng)
    turns = pen.rng.uniform(1.7, 4)
    sign = 1 if pen.rng.random() < 0.5 else -1
    t = np.linspace(0, 2 * math.pi * turns, int(60 * turns))
    radius = r * (0.08 + 0.92 * t / t[-1])
    pen.line(
        draw,
        list(
            zip(
                (cx + radius * np.cos(sign * t)).tolist(),
                (cy + radius * np.sin(t)).tolist(),
                strict=True,
            )
        ),
    )


def shape(draw: Canvas, pen: Pen, family: str) -> None:
    """A triangle, square, star, heart, arrow, cross, house or sun."""
    cx, cy, r = box(pen.rng)
    turn = pen.rng.uniform(-0.25, 0.25)
    kind = int(pen.rng.integers(8))
    SHAPES[kind](draw, pen, cx, cy, r, turn)


def triangle(draw: Canvas, pen: Pen, cx: float, cy: float, r: float, turn: float) -> None:
    pen.line(draw, ring(cx, cy, r, 3, turn - math.pi / 2))


def square(draw: Canvas, pen: Pen, cx: float, cy: float, r: float, turn: float) -> None:
    pen.line(draw, ring(cx, cy, r, 4, turn + math.pi / 4))


def star(draw: Canvas, pen: Pen, cx: float, cy: float, r: float, turn: float) -> None:
    n = int(pen.rng.integers(5, 7))
    points = [
        (
            cx + (r if i % 2 == 0 else r * 0.45) * math.cos(turn + math.pi * i / n),
            cy + (r if i % 2 == 0 else r * 0.45) * math.sin(turn + math.pi * i / n),
        )
        for i in range(2 * n + 1)
    ]
    pen.line(draw, points)


def heart(draw: Canvas, pen: Pen, cx: float, cy: float, r: float, turn: float) -> None:
    t = np.linspace(0, 2 * math.pi, 80)
    xs = 16 * np.sin(t) ** 3
    ys = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    pen.line(draw, list(zip((cx + xs * r / 17).tolist(), (cy + ys * r / 17).tolist(), strict=True)))


def arrow(draw: Canvas, pen: Pen, cx: float, cy: float, r: float, turn: float) -> None:
    a = turn + pen.rng.choice([0, math.pi])  # upright arrows read as 1s
    tip = (cx + r * math.cos(a), cy + r * math.sin(a))
    pen.line(draw, [(cx - r * math.cos(a), cy - r * math.sin(a)), tip])
    for side in (-1, 1):
        b = a + math.pi - side * 0.5
        pen.line(draw, [tip, (tip[0] + 0.5 * r * math.cos(b), tip[1] + 0.5 * r * math.sin(b))])


def cross(draw: Canvas, pen: Pen, cx: float, cy: float, r: float, turn: float) -> None:
    for a in (turn + math.pi / 4, turn - math.pi / 4):
        pen.line(
            draw,
            [
                (cx - r * math.cos(a), cy - r * math.sin(a)),
                (cx + r * math.cos(a), cy + r * math.sin(a)),
            ],
        )


def house(draw: Canvas, pen: Pen, cx: float, cy: float, r: float, turn: float) -> None:
    wall = [
        (cx - r * 0.7, cy - r * 0.1),
        (cx - r * 0.7, cy + r),
        (cx + r * 0.7, cy + r),
        (cx + r * 0.7, cy - r * 0.1),
        (cx - r * 0.7, cy - r * 0.1),
    ]
    pen.line(draw, wall)
    pen.line(draw, [(cx - r * 0.85, cy - r * 0.05), (cx, cy - r), (cx + r * 0.85, cy - r * 0.05)])


def sun(draw: Canvas, pen: Pen, cx: float, cy: float, r: float, turn: float) -> None:
    pen.line(draw, ring(cx, cy, r * 0.45, 24))
    for i in range(int(pen.rng.integers(6, 11))):
        a = turn + 2 * math.pi * i / 8
        pen.line(
            draw,
            [
                (cx + 0.6 * r * math.cos(a), cy + 0.6 * r * math.sin(a)),
                (cx + r * math.cos(a), cy + r * math.sin(a)),
            ],
        )


#: ``shape``'s kinds, in the order its draw picks them.
SHAPES = (triangle, square, star, heart, arrow, cross, house, sun)


def face(draw: Canvas, pen: Pen, family: str) -> None:
    """A round face with two eyes and a mouth, smiling or not."""
    cx, cy, r = box(pen.rng)
    pen.line(draw, ring(cx, cy, r, 36, aspect=pen.rng.uniform(0.8, 1.15)))
    for side in (-1, 1):
        ex, ey = cx + side * r * 0.38, cy - r * 0.3
        pen.line(draw, [(ex, ey), (ex + 1, ey + r * 0.08)])
    mood = pen.rng.choice([-1, 0, 1])
    t = np.linspace(-0.9, 0.9, 12)
    mouth = [(cx + r * 0.5 * x, cy + r * (0.35 + mood * 0.2 * (1 - x * x))) for x in t.tolist()]
    pen.line(draw, mouth)
