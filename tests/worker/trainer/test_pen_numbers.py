"""Real-pen numbers: one writer's own digits in a row on the number pad, read as web reads."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from tests.helpers import ROOT
from worker.trainer.tools.numbers import CANVAS_HEIGHT, CANVAS_WIDTH, shipped_models
from worker.trainer.tools.pen_numbers import (
    LENGTHS,
    READINGS,
    PenNumber,
    figure_lines,
    main,
    pen_number_figures,
    pen_numbers,
)
from worker.trainer.tools.real_pens import family
from worker.trainer.unipen import PenCharacter

PENS = ROOT / "tests" / "data" / "unipen"
MODELS = str(ROOT / "models")
WRONG = {"unread", "too few", "too many", "a part refused", "misread", "not a number"}


@pytest.fixture(scope="module")
def digits() -> list[PenCharacter]:
    return family(PENS, dev=True)


@pytest.fixture(scope="module")
def numbers(digits: list[PenCharacter]) -> list[PenNumber]:
    return pen_numbers(digits, 48, seed=7)


def test_each_number_is_two_to_four_of_one_writers_own_digits(
    digits: list[PenCharacter], numbers: list[PenNumber]
) -> None:
    strokes_of: dict[tuple[str, str], set[int]] = defaultdict(set)
    for d in digits:
        strokes_of[d.writer, d.char].add(len(d.strokes))
    assert {len(n.drawing.text) for n in numbers} == set(range(LENGTHS[0], LENGTHS[1] + 1))
    assert len({n.writer for n in numbers}) == len({d.writer for d in digits})
    for n in numbers:
        drawing = n.drawing
        assert len(drawing.digits) == len(drawing.text)
        assert sum(len(s) for s in drawing.digits) == len(drawing.strokes)
        for char, strokes in zip(drawing.text, drawing.digits, strict=True):
            # the digit is the writer's own, drawn with its own pen-downs
            assert len(strokes) in strokes_of[n.writer, char], (n.writer, char)


def test_strokes_are_the_pages_on_the_number_pad(numbers: list[PenNumber]) -> None:
    for n in numbers:
        drawing = n.drawing
        assert (drawing.width, drawing.height) == (CANVAS_WIDTH, CANVAS_HEIGHT)
        points = [p for stroke in drawing.strokes for p in stroke]
        assert all(type(v) is int for p in points for v in p)
        assert all(0 <= x <= CANVAS_WIDTH and 0 <= y <= CANVAS_HEIGHT for x, y, _ in points)
        times = [t for _, _, t in points]
        # one clock from the drawing's first point, a pause at each pen-up
        assert times[0] == 0 and times == sorted(times)
        ends = [
            (s[-1][2], nxt[0][2])
            for s, nxt in zip(drawing.strokes[:-1], drawing.strokes[1:], strict=True)
        ]
        assert all(end < start for end, start in ends)
        lefts = [min(drawing.strokes[i][0][0] for i in s) for s in drawing.digits]
        assert lefts[-1] > lefts[0]  # written left to right


def test_the_same_seed_draws_the_same_numbers(
    digits: list[PenCharacter], numbers: list[PenNumber]
) -> None:
    again = pen_numbers(digits, 48, seed=7)
    assert again == numbers
    other = pen_numbers(digits, 48, seed=8)
    assert [n.drawing.text for n in other] != [n.drawing.text for n in numbers]


def test_shipped_models_read_the_samples_numbers(numbers: list[PenNumber]) -> None:
    models, thresholds = shipped_models(Path(MODELS))
    figures = pen_number_figures(models, thresholds, numbers)
    assert figures["numbers"] == 48 and figures["writers"] == 8
    assert figures["digits"] == sum(len(n.drawing.text) for n in numbers)
    strokes = figures["strokes"]
    # 2026-12-07, the shipped models on 60 numbers of this sample: all read whole and
    # parted as drawn from their strokes (CNN), 95 % by the FNN.
    assert strokes["count_right"] >= 0.95 and strokes["parted_as_drawn"] >= 0.9
    for how in READINGS:
        for name in ("cnn", "fnn"):
            m = figures[how][name]
            wrong = sum(m["wrong"].values())
            assert wrong == round(48 * (1 - m["whole_number_accuracy"]))
            assert set(m["wrong"]) <= WRONG
        assert figures[how]["cnn"]["whole_number_accuracy"] >= 0.85, how
    assert figure_lines(figures)[0].startswith("real-pen numbers: 48 numbers of 2-4 digits")


def test_main_prints_the_figures_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--unipen", str(PENS), "--models", MODELS, "--numbers", "6"]) == 0
    assert "strokes, as web reads them" in capsys.readouterr().out
    main(["--unipen", str(PENS), "--models", MODELS, "--numbers", "6", "--json"])
    figures = json.loads(capsys.readouterr().out)
    assert figures["numbers"] == 6 and figures["seed"] == 3041
    assert 0 <= figures["strokes"]["cnn"]["whole_number_accuracy"] <= 1
