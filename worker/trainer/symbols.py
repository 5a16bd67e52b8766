"""Marks people draw that are not digits: arrows, plus signs, question marks, scribbles from
light loops to dense blots, and digits scribbled over. Each is made as strokes, copied with
the family's hand (``drawing_pen.HANDS``) and drawn with the page's pen.

Crossed out (``CROSSED_OUT``): a digit with a single stroke across it stays a digit (a
European 7 has a bar, so has a barred Z-like 2, and a slashed 0 is a zero); a digit
scribbled over densely is no longer a digit (``crossed_out``).

The two families share no generator parameters: each kind has a style per family, and the
held-out styles also draw shapes training never does (wavy shafts, outlined plus signs,
curled question marks, tangles of rings).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from worker.trainer.drawing_pen import HANDS, Canvas, Pen
from worker.trainer.drawing_pen import copied as hand_copied
from worker.trainer.hershey import glyphs, strokes_of

Strokes = list[list[tuple[float, float]]]
#: The decision on crossed-out digits, as the model card states it.
CROSSED_OUT = (
    "A digit with a single stroke across it is still a digit (a European 7, a barred 2, a "
    "slashed 0), so it is never a negative; a digit scribbled over densely (six or more "
    "passes, past its edges) is not a digit, and is drawn as a negative."
)


def draw_copied(draw: Canvas, pen: Pen, strokes: Strokes, family: str) -> None:
    for stroke in hand_copied(strokes, pen.rng, HANDS[family]):
        pen.line(draw, stroke)


@dataclass(frozen=True)
class ArrowStyle:
    #: Shaft shapes drawn from: ``straight``, ``arc``, ``s_curve``, ``wave``.
    shafts: tuple[str, ...]
    #: An arc's bulge, or a wave's amplitude, per unit of length; a wave's periods.
    bend: tuple[float, float]
    waves: tuple[float, float]
    #: Barb length per unit of length, and its angle off the shaft (radians): a head too
    #: small or too narrow makes an upright arrow a 1 with a flag.
    barb: tuple[float, float]
    spread: tuple[float, float]
    #: Chances of a closed (triangle) head, of a head at both ends, of a thin pen.
    closed: float
    double: float
    thin: float


ARROWS = {
    "training": ArrowStyle(
        shafts=("straight", "straight", "arc", "s_curve", "wave"),
        bend=(0.08, 0.35),
        waves=(0.8, 1.4),
        barb=(0.22, 0.42),
        spread=(0.4, 0.75),
        closed=0.3,
        double=0.3,
        thin=0.3,
    ),
    "held_out": ArrowStyle(
        shafts=("straight", "arc", "wave"),
        bend=(0.1, 0.4),
        waves=(1.5, 3.0),
        barb=(0.2, 0.38),
        spread=(0.45, 0.85),
        closed=0.35,
        double=0.35,
        thin=0.4,
    ),
}


def shaft(kind: str, bend: float, waves: float) -> np.ndarray:
    """A shaft from (0, 0) to (1, 0), bent sideways."""
    t = np.linspace(0, 1, 40)
    side = {
        "straight": np.zeros_like(t),
        "arc": 4 * bend * t * (1 - t),
        # an S or a wave much bent is a 5, a 2 or a J with a flag: kept shallow
        "s_curve": bend * 0.25 * np.sin(2 * math.pi * t),
        "wave": bend * 0.15 * np.sin(2 * math.pi * waves * t),
    }[kind]
    return np.stack([t, side], axis=1)


def head(tip: np.ndarray, back: np.ndarray, style: ArrowStyle, rng: np.random.Generator) -> Strokes:
    """Two barbs at ``tip`` pointing away from ``back``, or a closed triangle."""
    direction = (tip - back) / max(float(np.hypot(*(tip - back))), 1e-9)
    length, spread = rng.uniform(*style.barb), rng.uniform(*style.spread)
    ends = []
    for sign in (-1, 1):
        a = math.atan2(direction[1], direction[0]) + math.pi + sign * spread
        ends.append(tip + length * np.array([math.cos(a), math.sin(a)]))
    barbs = [(float(x), float(y)) for x, y in (ends[0], tip, ends[1])]
    return [barbs + barbs[:1]] if rng.random() < style.closed else [barbs]


def arrow(draw: Canvas, pen: Pen, family: str) -> None:
    """An arrow in any direction: straight, curved or wavy, one head or two, some long
    and thin."""
    style, rng = ARROWS[family], pen.rng
    kind = str(rng.choice(style.shafts))
    points = shaft(kind, rng.uniform(*style.bend), rng.uniform(*style.waves))
    angle = rng.uniform(0, 2 * math.pi)
    turn = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    points = points @ turn.T
    strokes = [[(float(x), float(y)) for x, y in points], *head(points[-1], points[-4], style, rng)]
    if rng.random() < style.double:
        strokes += head(points[0], points[3], style, rng)
    if rng.random() < style.thin:
        pen = Pen(rng, max(3, int(pen.width * rng.uniform(0.4, 0.7))))
    draw_copied(draw, pen, strokes, family)


@dataclass(frozen=True)
class PlusStyle:
    #: Arm ratio, where the arms cross (off centre), chances of an ×, and (held out) of
    #: an outlined plus (✚) and of a ± (a bar beneath).
    ratio: tuple[float, float]
    off: tuple[float, float]
    cross: float
    outline: float
    plus_minus: float


PLUS = {
    "training": PlusStyle(ratio=(0.7, 1.3), off=(-0.15, 0.15), cross=0.35, outline=0, plus_minus=0),
    "held_out": PlusStyle(
        ratio=(0.6, 1.5), off=(-0.25, 0.25), cross=0.3, outline=0.2, plus_minus=0.2
    ),
}


def plus_sign(draw: Canvas, pen: Pen, family: str) -> None:
    """A plus sign or a cross (×), or, held out, an outlined plus (✚) or ±."""
    style, rng = PLUS[family], pen.rng
    ratio, off = rng.uniform(*style.ratio), rng.uniform(*style.off)
    if rng.random() < style.outline:
        w, a = 0.22, 1.0
        corners = [(w, -a), (w, -w), (a, -w), (a, w), (w, w), (w, a)]
        ring = corners + [(-x, -y) for x, y in corners]
        strokes: Strokes = [[*ring, ring[0]]]
    else:
        strokes = [[(0.0, -1.0), (0.0, 1.0)], [(-ratio, off), (ratio, off)]]
        if rng.random() < style.plus_minus:
            strokes.append([(-ratio, 1.3), (ratio, 1.3)])
    if rng.random() < style.cross:
        strokes = rotated(strokes, math.pi / 4)
    draw_copied(draw, pen, strokes, family)


def arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float) -> Strokes:
    t = np.linspace(start, end, max(8, int(abs(end - start) * 12)))
    return [[(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in t.tolist()]]


def question_mark(draw: Canvas, pen: Pen, family: str) -> None:
    """A question mark: a hook, a stem and a dot apart. Held out: an oval hook curling
    into its stem, a ringed or dashed dot. Never upside down: a thick ¿ is a 6 or a J."""
    rng = pen.rng
    if family == "training":
        start, end = math.pi + rng.uniform(-0.3, 0.5), 2 * math.pi + rng.uniform(0.3, 1.7)
        hook = arc(0, 0, rng.uniform(0.75, 1.25), 1, start, end)
        stem_end = (rng.uniform(-0.2, 0.2), rng.uniform(1.1, 1.8))
        strokes = [hook[0] + [stem_end]]
        x, y = stem_end[0], stem_end[1] + rng.uniform(0.3, 0.65)
        strokes.append([(x, y)] if rng.random() < 0.7 else [(x, y), (x, y + 0.12)])
    else:
        aspect = rng.uniform(0.7, 1.3)
        hook = arc(0, 0, aspect, 1, math.pi + rng.uniform(0.0, 0.5), 2.6 * math.pi)
        tail = np.array(hook[0][-1])
        stem_end = (float(tail[0]) + rng.uniform(-0.1, 0.1), rng.uniform(1.4, 1.9))
        strokes = [hook[0] + [stem_end]]
        y = stem_end[1] + rng.uniform(0.45, 0.7)
        dot = arc(stem_end[0], y, 0.08, 0.08, 0, 2 * math.pi)[0]
        strokes.append(dot if rng.random() < 0.5 else [(stem_end[0], y), (stem_end[0], y + 0.15)])
    draw_copied(draw, pen, strokes, family)


#: Light scribbles are drawn with a thinner pen than the rest, so their loops stay open.
LIGHT_PEN = {"training": (0.4, 0.8), "held_out": (0.35, 0.75)}


@dataclass(frozen=True)
class Wander:
    """A pen wandering and curling back: its steps, the noise and drift of its heading
    (radians a step; at least two turns in all, or a ring, a C or a 6 could come out)."""

    steps: tuple[int, int]
    noise: tuple[float, float]
    drift: tuple[float, float]


WANDER = {
    "training": Wander(steps=(120, 220), noise=(0.1, 0.3), drift=(0.12, 0.25)),
    "held_out": Wander(steps=(110, 230), noise=(0.2, 0.5), drift=(0.15, 0.35)),
}


def light_scribble(draw: Canvas, pen: Pen, family: str) -> None:
    """Loose loops: a pen wandering and curling back on itself, or (training only) a
    chain of loops along a line (a coil)."""
    rng = pen.rng
    if family == "training" and rng.random() < 0.5:
        loops = rng.uniform(3, 7)
        t = np.linspace(0, 2 * math.pi * loops, int(40 * loops))
        advance, squash = rng.uniform(0.45, 0.9), rng.uniform(0.6, 1.4)
        xs = advance * t / (2 * math.pi) + np.cos(t)
        u = t / t[-1]
        ys = squash * np.sin(t) + rng.uniform(-0.3, 0.3) * xs.max() * 4 * u * (1 - u)
        xs, ys = (
            np.array(v)
            for v in zip(
                *rotated([list(zip(xs, ys, strict=True))], rng.uniform(-0.5, 0.5))[0], strict=True
            )
        )
    else:
        walk = WANDER[family]
        steps = int(rng.integers(*walk.steps))
        turning = rng.normal(0, 1, steps) * rng.uniform(*walk.noise)
        heading = np.cumsum((turning + rng.uniform(*walk.drift)) * rng.choice([-1, 1]))
        xs, ys = np.cumsum(np.cos(heading)), np.cumsum(np.sin(heading))
    pen = Pen(rng, max(3, int(pen.width * rng.uniform(*LIGHT_PEN[family]))))
    draw_copied(draw, pen, [list(zip(xs.tolist(), ys.tolist(), strict=True))], family)


def dense_strokes(family: str, rng: np.random.Generator, passes: int) -> Strokes:
    """A dense scribble over the unit square: back and forth (training) or a tangle of
    rings drifting about (held out)."""
    if family == "training":
        ys = np.linspace(0, 1, passes) + rng.normal(0, 0.02, passes)
        xs = np.where(np.arange(passes) % 2 == 0, 0.0, 1.0) + rng.normal(0, 0.05, passes)
        return [list(zip(xs.tolist(), ys.tolist(), strict=True))]
    t = np.linspace(0, 2 * math.pi * passes, 30 * passes)
    drift = np.cumsum(rng.normal(0, 0.02, size=(len(t), 2)), axis=0)
    drift = (drift - drift.min(axis=0)) / np.maximum(np.ptp(drift, axis=0), 1e-9) * 0.7
    r = rng.uniform(0.12, 0.3)
    xs, ys = 0.15 + drift[:, 0] + r * np.cos(t), 0.15 + drift[:, 1] + r * np.sin(t)
    return [list(zip(xs.tolist(), ys.tolist(), strict=True))]


def rotated(strokes: Strokes, angle: float) -> Strokes:
    c, s = math.cos(angle), math.sin(angle)
    return [[(x * c - y * s, x * s + y * c) for x, y in st] for st in strokes]


#: Passes of the dense scribbles (a few: light shading; many: a blot) by family.
DENSITY = {"training": (6, 36), "held_out": (5, 30)}


def dense_scribble(draw: Canvas, pen: Pen, family: str) -> None:
    """Shading to a solid blot, at any angle."""
    passes = int(pen.rng.integers(*DENSITY[family]))
    strokes = rotated(dense_strokes(family, pen.rng, passes), pen.rng.uniform(0, math.pi))
    draw_copied(draw, pen, strokes, family)


#: How densely a digit is scribbled over (passes of the scribble) and how far past its
#: edges (so the blot, not the digit, has the outline), per family.
CROSSING = {"training": (6, 12), "held_out": (5, 10)}
OVERSHOOT = {"training": (1.1, 1.35), "held_out": (1.15, 1.4)}


def crossed_out(draw: Canvas, pen: Pen, family: str) -> None:
    """A digit scribbled over densely: not a digit any more (the docstring says why one
    stroke across is not enough)."""
    rng = pen.rng
    digits = glyphs(family, "digit")
    strokes = strokes_of([digits[int(rng.integers(len(digits)))]])
    low, high = bounds(strokes)
    passes = int(rng.integers(*CROSSING[family]))
    cover = rotated(dense_strokes(family, rng, passes), rng.uniform(-0.6, 0.6))
    c_low, c_high = bounds(cover)
    size = np.maximum(high - low, 0.7 * float((high - low).max()))  # a 1 crossed out is wide
    scale = size * rng.uniform(*OVERSHOOT[family]) / np.maximum(c_high - c_low, 1e-9)
    shift = (low + high) / 2 - (c_low + c_high) / 2 * scale
    scribble = [[(x * scale[0] + shift[0], y * scale[1] + shift[1]) for x, y in st] for st in cover]
    draw_copied(draw, pen, strokes + scribble, family)


def bounds(strokes: Strokes) -> tuple[np.ndarray, np.ndarray]:
    points = np.concatenate([np.asarray(s, dtype=np.float64).reshape(-1, 2) for s in strokes])
    return points.min(axis=0), points.max(axis=0)
