"""Numbers: a canvas holding several digits is split into them, from the image alone.

Strokes are drawn the way the page draws them (round 18 px pen on a 3:1 canvas) and
the hard cases each get a test by name.
"""

from __future__ import annotations

import io
import json
import uuid

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from shared.canvas import preprocess_canvas_png
from shared.errors import CanvasTooWide, EmptyCanvas, TooManyDigits
from shared.imaging import INK_THRESHOLD, MAX_DIGITS, ink_canvas_png, ink_from_image, load_png
from shared.number_reading import (
    MAX_WAYS,
    NUMBER_SURE,
    agreement,
    choose,
    output_row,
    text,
    valid,
)
from shared.segmentation import PAIR_SLANTS, segment
from tests.helpers import ROOT, SAMPLE, data_url, hand_drawn
from tests.processes import wait_for
from tests.strokes import (
    FIVE_WITH_A_LOOSE_FLAG,
    FOUR_IN_TWO_STROKES,
    ONE,
    OPEN_FOUR,
    OPEN_ZERO,
    SEVEN_WITH_CROSSBAR,
    ZERO,
    Stroke,
    leaning,
    shifted,
)
from worker.trainer.tools.numbers import CANVAS_HEIGHT, CANVAS_WIDTH, compose

PEN = 18


def drawn(strokes: list[Stroke], size: tuple[int, int] = (CANVAS_WIDTH, CANVAS_HEIGHT)) -> bytes:
    return hand_drawn(strokes, size, PEN)


def parts_of(png: bytes) -> list:
    """The digits the image alone reads (the first way to read each group of strokes)."""
    groups, _ = segment(ink_from_image(load_png(png, 4096)), MAX_DIGITS)
    return [part for ways in groups for part in ways[0]]


@pytest.mark.parametrize(
    "strokes",
    [SEVEN_WITH_CROSSBAR, FOUR_IN_TWO_STROKES, OPEN_FOUR, FIVE_WITH_A_LOOSE_FLAG],
    ids=["seven-with-a-crossbar", "four-in-two-strokes", "open-four", "five-with-a-loose-flag"],
)
def test_a_digit_drawn_in_two_strokes_stays_one_digit(strokes):
    assert len(parts_of(drawn(shifted(strokes, 300)))) == 1


def test_a_one_beside_a_four_stays_a_digit_of_its_own():
    parts = parts_of(drawn(shifted(OPEN_FOUR, 200) + shifted(ONE, 380)))
    assert len(parts) == 2


def test_a_speck_is_ignored():
    speck = [[(700, 250), (701, 250)]]
    parts = parts_of(drawn(shifted(FOUR_IN_TWO_STROKES, 200) + speck))
    assert len(parts) == 1
    assert parts[0].box[2] < 400  # the four's box, not stretched to the speck


def touching(mnist_sample, first: int, second: int) -> np.ndarray:
    """The sample's first test ``first`` and ``second``, written so close that their ink
    runs together (one connected stroke)."""
    rng = np.random.default_rng(3)
    digits, labels = mnist_sample["x_test"], mnist_sample["y_test"]
    pair = [digits[np.flatnonzero(labels == d)[0]] for d in (first, second)]
    for _ in range(500):  # until the two touch
        ink = compose(pair, rng)
        if ndimage.label(ink > INK_THRESHOLD)[1] == 1:
            return ink
    raise AssertionError(f"no touching {first}{second} in 500 tries")


def test_touching_digits_are_cut(mnist_sample):
    ink = touching(mnist_sample, 4, 2)
    parts = parts_of(ink_canvas_png(Image.fromarray(ink)))
    assert len(parts) == 2
    assert parts[0].box[0] < parts[1].box[0]


def test_touching_digits_the_counter_knows_are_read_cut_first(mnist_sample):
    # A 6 and a 1 whose ink runs together: the rules alone preferred them whole (and
    # offered one cut); the group counter knows the group holds two, so segmentation
    # prefers a cut, offers two straight ones and up to two slanted ones, and keeps the
    # group whole as the last way.
    ink = touching(mnist_sample, 6, 1)
    (rules,), _ = segment(ink, MAX_DIGITS, counter=False)
    (ways,), _ = segment(ink, MAX_DIGITS)
    assert [len(way) for way in rules] == [1, 2]
    assert 3 <= len(ways) <= 2 + len(PAIR_SLANTS) + 1
    assert [len(way) for way in ways] == [2] * (len(ways) - 1) + [1]
    assert ways[0][0].box[0] < ways[0][1].box[0]


def own_shares(part, digits: list[np.ndarray]) -> list[float]:
    """The share of each digit's ink (masks of the canvas) that ``part`` holds."""
    x0, y0, x1, y1 = part.box
    mask = np.zeros_like(digits[0])
    mask[y0:y1, x0:x1] = part.ink > INK_THRESHOLD
    return [float((mask & digit).sum() / digit.sum()) for digit in digits]


def test_touching_digits_written_leaning_are_cut_along_their_slant(monkeypatch):
    # Two 0s leaning right, touching where the first's top right meets the second's
    # bottom left: every straight cut leaves a piece of one 0 with the other.
    left, right = shifted(leaning(ZERO), 300), shifted(leaning(ZERO), 424)
    digits = [ink_from_image(load_png(drawn(zero), 4096)) > INK_THRESHOLD for zero in (left, right)]
    assert (digits[0] & digits[1]).any()
    ink = ink_from_image(load_png(drawn(left + right), 4096))

    def clean_cuts() -> int:
        """How many of the ways to read the pair give each 0 its own ink, and only it."""
        (ways,), _ = segment(ink, MAX_DIGITS)
        shares = [[own_shares(part, digits) for part in way] for way in ways if len(way) == 2]
        return sum(s[0][0] > 0.99 and s[1][1] > 0.99 and s[0][1] + s[1][0] < 0.01 for s in shares)

    assert clean_cuts() >= 1
    monkeypatch.setattr("shared.segmentation.PAIR_SLANTS", ())
    assert clean_cuts() == 0


def test_an_open_zero_is_read_whole_and_never_cut():
    # The rules alone also offered the models this wide open 0 cut in two. In 2,000
    # development numbers, 28 whose digits did not touch were read with a digit too many,
    # most of them one digit (often a 0) cut in two; with the group counter, 13.
    groups, _ = segment(ink_from_image(load_png(drawn(shifted(OPEN_ZERO, 300)), 4096)), MAX_DIGITS)
    assert [[len(way) for way in ways] for ways in groups] == [[1]]


def test_digits_of_different_heights_on_a_sloping_line_are_read_left_to_right():
    # Written uphill, each smaller than the last, the later ones higher on the canvas.
    strokes = (
        shifted(ONE, 40, 30, 0.9)
        + shifted(ZERO, 250, -10, 0.7)
        + shifted(SEVEN_WITH_CROSSBAR, 450, -20, 0.5)
    )
    parts = parts_of(drawn(strokes))
    assert len(parts) == 3
    lefts = [part.box[0] for part in parts]
    assert lefts == sorted(lefts)
    heights = [part.box[3] - part.box[1] for part in parts]
    assert heights[0] > heights[1] > heights[2]


def test_one_digit_reads_as_the_whole_canvas_does():
    canvas = preprocess_canvas_png(drawn(shifted(ZERO, 300)), 4096, MAX_DIGITS)
    assert len(canvas.images) == 1 and canvas.readings == [[[0]]]


def test_an_empty_canvas_is_still_empty():
    with pytest.raises(EmptyCanvas):
        preprocess_canvas_png(drawn([]), 4096, MAX_DIGITS)


def test_more_digits_than_allowed_is_too_many():
    strokes = [stroke for i in range(MAX_DIGITS + 1) for stroke in shifted(ONE, 40 + i * 110)]
    with pytest.raises(TooManyDigits):
        preprocess_canvas_png(drawn(strokes), 4096, MAX_DIGITS)


def test_a_canvas_whose_readings_need_more_images_than_the_worker_takes_is_too_many(
    monkeypatch,
):
    # Three digits apart are four images (the canvas, then one each): over a cap of 3.
    strokes = shifted(ONE, 100) + shifted(ZERO, 350) + shifted(ONE, 600)
    png = drawn(strokes)
    assert len(preprocess_canvas_png(png, 4096, MAX_DIGITS).images) == 4
    monkeypatch.setattr("shared.canvas.MAX_IMAGES", 3)
    with pytest.raises(TooManyDigits, match="over 3 images"):
        preprocess_canvas_png(png, 4096, MAX_DIGITS)


def test_a_canvas_far_wider_than_high_is_refused():
    png = drawn([[(10, 10), (100, 20)]], size=(1800, 100))
    with pytest.raises(CanvasTooWide):
        preprocess_canvas_png(png, 4096, MAX_DIGITS)


def test_the_composed_numbers_are_canvas_pngs(mnist_sample):
    rng = np.random.default_rng(0)
    ink = compose(list(mnist_sample["x_test"][:4]), rng)
    png = ink_canvas_png(Image.fromarray(ink))
    image = Image.open(io.BytesIO(png))
    assert image.mode == "RGBA" and image.size == (CANVAS_WIDTH, CANVAS_HEIGHT)
    assert np.asarray(image)[..., 3].max() == 255


def number_canvas(mnist_sample, text: str) -> str:
    """A canvas data URL of MNIST test digits spelling ``text``, well spaced."""
    digits, labels = mnist_sample["x_test"], mnist_sample["y_test"]
    picks = [digits[np.flatnonzero(labels == int(c))[0]] for c in text]
    ink = np.zeros((CANVAS_HEIGHT, CANVAS_WIDTH), np.uint8)
    for i, digit in enumerate(picks):
        scaled = np.asarray(Image.fromarray(digit).resize((160, 160), Image.Resampling.BICUBIC))
        ink[60:220, 40 + i * 180 : 200 + i * 180] = np.maximum(
            ink[60:220, 40 + i * 180 : 200 + i * 180], scaled
        )
    return data_url(ink_canvas_png(Image.fromarray(ink)))


@pytest.mark.usefixtures("predict_worker")
def test_a_number_comes_back_digit_by_digit_and_its_feedback_stores_each_digit(
    client, app, mnist_sample
):
    answer = client.post(
        "/api/predictions",
        json={"image": number_canvas(mnist_sample, "307")},
        headers={"Prefer": "wait=10"},
    )
    assert answer.status_code == 200, answer.get_json()
    result = answer.get_json()["result"]
    # The whole canvas as one digit, as single-digit clients read it ...
    assert {"fnn", "cnn", "preview"} <= result.keys()
    # ... and the number, left to right.
    number = result["number"]
    assert number["text"] == "307"
    assert [d["cnn"]["digit"] for d in number["digits"]] == [3, 0, 7]
    lefts = [d["box"][0] for d in number["digits"]]
    assert lefts == sorted(lefts) and lefts[0] < 200 < lefts[1] < 400 < lefts[2]
    for digit in number["digits"]:
        assert digit["preview"].startswith("data:image/png;base64,")
        assert abs(sum(digit["fnn"]["probabilities"]) - 1) < 1e-3
    job_id = answer.get_json()["id"]
    assert client.get(f"/api/predictions/{job_id}").get_json()["result"] == result

    feedback = client.post(
        f"/api/predictions/{job_id}/feedback", json={"number": "308", "consent": True}
    )
    assert feedback.status_code == 202 and feedback.get_json()["samples"] == 3
    store = app.extensions["digits"].store
    keys = [f"samples/{uuid.uuid5(uuid.UUID(job_id), str(i)).hex}.json" for i in range(3)]
    wait_for(lambda: all(store.exists(key) for key in keys), 30, "the three digit samples")
    metas = [json.loads(store.get_bytes(key)) for key in keys]
    assert [m["label"] for m in metas] == [3, 0, 8]  # the person's digits, not the models'
    assert [m["predictions"]["cnn"]["digit"] for m in metas] == [3, 0, 7]
    assert all(m["source"] == "feedback" and m["consent"] is True for m in metas)


@pytest.mark.usefixtures("predict_worker")
def test_a_number_with_another_count_of_digits_is_counted_but_stores_no_sample(
    client, mnist_sample
):
    answer = client.post(
        "/api/predictions", json={"image": number_canvas(mnist_sample, "12")},
        headers={"Prefer": "wait=10"},
    )  # fmt: skip
    job_id = answer.get_json()["id"]
    feedback = client.post(
        f"/api/predictions/{job_id}/feedback", json={"number": "123", "consent": True}
    )
    assert feedback.status_code == 202
    assert feedback.get_json() == {
        "id": job_id,
        "stored": False,
        "counted": 0,
        "samples": 0,
        "deletions": [],
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"label": 1, "number": "1", "consent": True}, "either label"),
        ({"consent": True}, "either label"),
        ({"number": "4a", "consent": True}, "string of digits"),
        ({"number": 42, "consent": True}, "string of digits"),
        ({"number": "1234567", "consent": True}, "at most 6"),
    ],
)
def test_malformed_number_feedback_is_400(client, body, message):
    answer = client.post(f"/api/predictions/{'b' * 32}/feedback", json=body)
    assert answer.status_code == 400
    assert message in answer.get_json()["error"]["message"]


@pytest.mark.parametrize(
    ("strokes", "message"),
    [
        ("not a list", "strokes must be a list"),
        ([[[1, 2]]], "[x, y, t]"),
        ([[[1, 2, float("nan")]]], "[x, y, t]"),
        ([[[1, 2, True]]], "[x, y, t]"),
        ([[[0, 0, 0]]] * 65, "at most 64 strokes"),
        ([[[0, 0, 0]] * 2001], "at most 2000"),
        ([[[0, 0, 0]] * 2000] * 6, "at most 10000 points"),
    ],
)
def test_malformed_strokes_are_400(client, mnist_sample, strokes, message):
    image = number_canvas(mnist_sample, "1")
    answer = client.post("/api/predictions", json={"image": image, "strokes": strokes})
    assert answer.status_code == 400, answer.get_json()
    assert message in answer.get_json()["error"]["message"]


def test_too_many_digits_and_a_too_wide_canvas_are_422(client):
    strokes = [stroke for i in range(MAX_DIGITS + 1) for stroke in shifted(ONE, 40 + i * 110)]
    answer = client.post("/api/predictions", json={"image": data_url(drawn(strokes))})
    assert answer.status_code == 422
    assert answer.get_json()["error"]["code"] == "too_many_digits"
    wide = drawn([[(10, 10), (100, 20)]], size=(1600, 100))  # within MAX_IMAGE_SIDE
    answer = client.post("/api/predictions", json={"image": data_url(wide)})
    assert answer.status_code == 422
    assert answer.get_json()["error"]["code"] == "canvas_too_wide"


def test_evaluate_prints_and_records_the_number_figures(tmp_path, capsys):
    from worker.trainer.tools import evaluate

    models = tmp_path / "models"
    models.mkdir()
    for name in ("fnn", "cnn"):
        (models / f"{name}.tflite").write_bytes((ROOT / "models" / f"{name}.tflite").read_bytes())
    argv = ["--mnist", str(SAMPLE), "--models", str(models), "--limit", "300", "--numbers", "40"]
    assert evaluate.main([*argv, "--record"]) == 0
    printed = capsys.readouterr().out
    assert "40 synthetic numbers of 2-6 digits" in printed and "whole number" in printed
    figures = json.loads((models / "numbers.json").read_text())
    assert figures["numbers"] == 40 and 0.5 < figures["count_accuracy"] <= 1
    wrong_count = sum(figures["wrong_count"].values())
    assert wrong_count == round(40 * (1 - figures["count_accuracy"]))
    for name in ("fnn", "cnn", "both"):  # "both": the API's text
        m = figures["models"][name]
        assert 0.5 < m["digit_accuracy_where_count_right"] <= 1
        assert 0 < m["whole_number_accuracy"] <= figures["count_accuracy"]
        # every wrong number is counted once: by its count, or by a refused or misread digit
        wrong = wrong_count + sum(m["count_right_but_wrong"].values())
        assert wrong == round(40 * (1 - m["whole_number_accuracy"]))
    assert "count wrong: too few digits" in printed and "a digit misread" in printed


def test_evaluate_dev_reads_numbers_of_held_out_training_digits_and_records_nothing(
    tmp_path, capsys
):
    """The development set for segmentation work: MNIST training digits that every shipped
    model held out for validation, so the test set's figures stay untouched by tuning."""
    from worker.trainer.tools import evaluate, numbers

    models = tmp_path / "models"
    models.mkdir()
    for name in ("fnn", "cnn"):
        for suffix in (".tflite", ".metrics.json"):
            (models / f"{name}{suffix}").write_bytes(
                (ROOT / "models" / f"{name}{suffix}").read_bytes()
            )
    with np.load(SAMPLE) as data:
        count = len(data["x_train"])
    for name in ("fnn", "cnn"):
        metrics = json.loads((models / f"{name}.metrics.json").read_text())
        held_out = numbers._held_out(count, metrics)
        assert 0 < held_out.sum() < count * 0.25  # about a tenth of the digits, not all
    before = sorted(p.name for p in models.iterdir())
    argv = ["--mnist", str(SAMPLE), "--models", str(models), "--dev", "7", "--numbers", "20"]
    assert evaluate.main(argv) == 0
    printed = capsys.readouterr().out
    assert "development set" in printed and "seed 7" in printed
    assert "20 synthetic numbers of 2-6 digits" in printed and "whole number" in printed
    assert sorted(p.name for p in models.iterdir()) == before  # nothing recorded


def test_the_reading_both_models_are_surest_of_is_chosen_per_group():
    # Group 1: read whole (image 1) or cut (2, 3); group 2: one way (image 4).
    readings = [[[1], [2, 3]], [[4]]]
    assert choose(readings, [1.0, 0.4, 0.9, 0.8, 0.99]) == [2, 3, 4]  # the cut is surer
    assert choose(readings, [1.0, 0.9, 0.9, 0.8, 0.99]) == [1, 4]  # the whole is
    assert choose(readings, [1.0, 0.9, 0.9, 0.9, 0.99]) == [1, 4]  # a tie: the image's own way
    one_hot = [[0.0] * 10 for _ in range(2)]
    one_hot[0][3] = one_hot[1][3] = 1.0
    fnn = [[0.1] * 10, [0.0] * 3 + [1.0] + [0.0] * 6]
    assert agreement(one_hot, fnn) == [0.1, 1.0]  # the CNN alone is sure of both


def test_a_part_either_model_refuses_is_unsure_and_reads_as_a_question_mark():
    sure = [0.0] * 3 + [0.9] + [0.0] * 6 + [0.1]  # a 3, and a little "not a digit"
    refused = [0.0] * 3 + [0.2] + [0.0] * 6 + [0.8]
    assert agreement([sure, sure], [sure, refused]) == pytest.approx([0.81, 0.18])
    answer = {"probabilities": [0.0] * 3 + [1.0] + [0.0] * 6, "not_digit": 0.8}
    assert output_row(answer) == pytest.approx(refused)
    assert text([3, None, 7]) == "3?7"


@pytest.mark.parametrize(
    ("readings", "images", "ok"),
    [
        ([[[0]]], 1, True),
        ([[[1], [2, 3]], [[4]]], 5, True),
        ([[[5]]], 5, False),
        ([[[i] for i in range(1, MAX_WAYS + 1)]], MAX_WAYS + 1, True),
        ([[[i] for i in range(1, MAX_WAYS + 2)]], MAX_WAYS + 2, False),
        ([[[]]], 2, False),
        ([], 2, False),
        ([[[True]]], 2, False),
        ("[[[0]]]", 2, False),
    ],
)
def test_readings_from_a_message_are_checked(readings, images, ok):
    assert valid(readings, images) is ok


def test_pad_drawings_are_reproducible_and_the_two_families_differ():
    from worker.trainer.tools.pad_drawings import KINDS, pad_drawings

    dev = pad_drawings(16, "dev")
    assert [d.png for d in dev] == [d.png for d in pad_drawings(16, "dev")]
    held_out = pad_drawings(16, "held_out")
    assert not {d.png for d in dev} & {d.png for d in held_out}
    assert {d.kind for d in pad_drawings(80, "dev")} == set(KINDS)
    for drawing in dev[:4]:  # the page's canvas: 840x280, ink in alpha
        image = Image.open(io.BytesIO(drawing.png))
        assert image.mode == "RGBA" and image.size == (CANVAS_WIDTH, CANVAS_HEIGHT)
        assert np.asarray(image)[..., 3].max() == 255


def test_the_pad_figures_measure_the_rule_as_evaluate_reports_them(mnist_sample):
    """``evaluate_pad`` is what ``make evaluate`` calls: held-out drawings that are not numbers,
    numbers and single digits of MNIST test digits, read through the one rule."""
    from worker.trainer.tools.numbers import shipped_models
    from worker.trainer.tools.pad_figures import evaluate_pad, pad_lines

    models, thresholds = shipped_models(ROOT / "models")
    x, y = mnist_sample["x_test"], mnist_sample["y_test"].astype(np.int64)
    figures = evaluate_pad(models, thresholds, x, y, 30, 1234)
    assert figures["number_sure"] == NUMBER_SURE and figures["drawings"] == 30
    assert 0.5 < figures["not_a_number"] <= 1  # most are answered "not a number"
    assert figures["numbers"]["count"] == figures["single_digits"]["count"] == 30
    assert figures["numbers"]["refused"] < 0.2 and figures["numbers"]["right"] > 0.7
    lines = pad_lines(figures)
    assert '30 drawings that are not numbers: "not a number"' in lines[0]
    assert "30 numbers of 2-6 digits: refused" in lines[2] and "single digits" in lines[3]
