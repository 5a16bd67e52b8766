""" "Not a digit": the answer's meaning, the negatives, refusals through the API, and learning."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from shared import answers
from shared.imaging import preprocess_png, render_canvas_png
from shared.names import MODEL_NAMES
from tests.helpers import ADMIN, data_url, hand_drawn, predict, run_fine_tune, wait_done
from tests.processes import wait_for

# ---- what an answer means ---------------------------------------------------------------


def test_an_eleven_class_row_refuses_at_the_threshold_and_keeps_ten_digit_probabilities():
    row = [0.02] * 10 + [0.8]
    refused = answers.model_answer(row, threshold=0.5, version=3)
    assert refused["digit"] is None and refused["not_digit"] == pytest.approx(0.8)
    assert len(refused["probabilities"]) == 10
    assert sum(refused["probabilities"]) == pytest.approx(1)
    kept = answers.model_answer(row, threshold=0.81, version=3)
    assert kept["digit"] == 0 and kept["version"] == 3


def test_a_ten_class_version_never_refuses():
    row = [0.05] * 9 + [0.55]
    answer = answers.model_answer(row, threshold=answers.DEFAULT_THRESHOLD, version=1)
    assert answer["digit"] == 9 and answer["not_digit"] == 0


def test_a_batch_of_answers_is_each_row_read_on_its_own_to_six_decimals():
    rows = np.random.default_rng(3).dirichlet(np.full(11, 0.3), size=200).astype(np.float32)
    rows[:2, 10] = [0.5, 0.49]  # refused at the threshold, and just under it
    batch = answers.model_answers(rows, threshold=0.5, version=2)
    assert len(batch) == len(rows)
    for row, answer in zip(rows, batch, strict=True):
        digits = row[:10].astype(np.float64) / row[:10].sum()
        refused = float(row[10]) >= 0.5
        assert answer["digit"] == (None if refused else int(np.argmax(digits)))
        assert answer["not_digit"] == round(float(row[10]), 6)
        # NumPy and Python may round a near-tie the other way: one unit of the sixth place.
        assert answer["probabilities"] == pytest.approx([round(p, 6) for p in digits], abs=1.5e-6)
        assert all(p == round(p, 6) for p in answer["probabilities"])  # six decimals at most
        assert answer == answers.model_answer(row, threshold=0.5, version=2)
    assert batch[0]["digit"] is None and batch[1]["digit"] is not None
    json.dumps(batch)  # plain Python numbers


@pytest.mark.parametrize("threshold", [0.5, 0.81, answers.choose_threshold([0.3, 0.6, 0.9], 0.4)])
def test_a_shadow_answer_is_the_full_answer_less_its_probabilities(threshold):
    rng = np.random.default_rng(7)
    rows = rng.dirichlet(np.full(11, 0.3), size=300).astype(np.float32)
    rows[:3, 10] = [0.3, 0.6, 0.9]  # scores at and around the thresholds
    rows[3:7, 10] = [0.5e-6, 2.5e-6, 0.1234565, 0.0000015]  # halfway in the sixth decimal
    ten_class = rows[:50, :10] / rows[:50, :10].sum(axis=1, keepdims=True)
    for outputs in (rows, ten_class):
        short = answers.short_answers(outputs, threshold, version=4)
        full = [answers.model_answer(row, threshold, version=4) for row in outputs]
        keys = ("digit", "not_digit", "version")
        assert short == [{key: answer[key] for key in keys} for answer in full]


@pytest.mark.parametrize("rate", [0.0, 0.005, 0.05, 0.5])
def test_the_threshold_refuses_at_most_the_stated_share_of_digits(rate):
    scores = np.random.default_rng(1).beta(0.5, 8, size=2000)
    scores[:50] = scores[50]  # ties must not let more through
    threshold = answers.choose_threshold(scores, rate)
    refused = np.mean(scores >= threshold)
    assert refused <= rate
    assert refused >= rate - 2 / len(scores) - 50 / len(scores)  # no lower than it must be


def test_a_version_threshold_comes_from_its_metrics_or_its_card():
    assert answers.threshold_of({"reject_threshold": 0.3}) == 0.3
    assert answers.threshold_of({"outcome": "initial", "card": {"reject_threshold": 0.2}}) == 0.2
    for metrics in ({}, {"reject_threshold": "high"}, {"reject_threshold": 7}):
        assert answers.threshold_of(metrics) == answers.DEFAULT_THRESHOLD


# ---- the negatives ----------------------------------------------------------------------


@pytest.fixture()
def negatives():
    """The negatives' generator, for the tests that need it: it draws with the fonts that
    matplotlib and HersheyFonts ship, which come with the train extra."""
    pytest.importorskip("matplotlib", reason="the train extra is needed (its fonts)")
    pytest.importorskip("HersheyFonts", reason="the train extra is needed (its fonts)")
    from worker.trainer import negatives as generator

    return generator


def test_negatives_are_reproducible_and_of_every_kind(negatives):
    first, kinds = negatives.make_negatives(300, "training")
    again, _ = negatives.make_negatives(300, "training")
    assert first.shape == (300, 28, 28) and first.dtype == np.uint8
    assert np.array_equal(first, again)
    assert set(kinds) == set(negatives.KINDS)
    assert (first > 40).sum(axis=(1, 2)).min() >= 4  # every one has ink, as a drawing must
    other, _ = negatives.make_negatives(300, "training", seed=99)
    assert not np.array_equal(first, other)


def test_held_out_negatives_share_no_font_and_no_seed_with_training(negatives):
    training, held_out = (set(negatives.FONT_FAMILIES[f]) for f in ("training", "held_out"))
    assert not training & held_out
    assert negatives.SEEDS["training"] != negatives.SEEDS["held_out"]
    assert not set(negatives.LETTERS) & set("0123456789OoIlSZBGqgbТЗЧ")


#: Kinds issue 39 added: drawn as by hand.
HAND_DRAWN = (
    "hershey_letter",
    "hershey_symbol",
    "arrow",
    "plus_sign",
    "question_mark",
    "light_scribble",
    "dense_scribble",
    "crossed_out",
)


@pytest.mark.parametrize("family", ["training", "held_out"])
def test_both_families_draw_every_hand_drawn_kind(negatives, family):
    images, kinds = negatives.make_negatives(600, family)
    assert set(HAND_DRAWN) <= set(kinds) == set(negatives.KINDS)
    assert len(images) == len(kinds) == 600
    hand = [k not in negatives.TYPESET for k in kinds]
    assert 0.6 < np.mean(hand) < 0.9  # most of the mix is drawn as by hand


def test_held_out_hershey_glyphs_share_no_font_and_no_drawing_with_training(negatives):
    from worker.trainer import hershey

    assert not set(hershey.FONTS["training"]) & set(hershey.FONTS["held_out"])
    trained = {g.strokes for g in hershey.drawn("training")}
    for kind in ("letter", "symbol", "digit"):
        held_out = hershey.glyphs("held_out", kind)
        assert held_out and hershey.glyphs("training", kind)
        assert not {g.strokes for g in held_out} & trained
        assert all(g.font in hershey.FONTS["held_out"] for g in held_out)


def test_the_families_share_no_generator_parameter(negatives):
    from worker.trainer import drawing_pen, symbols

    styles = [drawing_pen.HANDS, symbols.ARROWS, symbols.PLUS]
    for style in styles:
        training, held_out = style["training"], style["held_out"]
        for field in dataclasses.fields(training):
            assert getattr(training, field.name) != getattr(held_out, field.name), field.name
    ranges = [symbols.DENSITY, symbols.CROSSING, symbols.OVERSHOOT, symbols.LIGHT_PEN]
    for style in ranges:
        assert style["training"] != style["held_out"]


#: What a Greek or Cyrillic font's Latin keys hold (``hershey.GREEK_BY_SOUND`` and the rest).
GREEK_BY_SOUND = dict(
    zip("ABCDEFGHIKLMNOPQRSTUWXYZ", "ΑΒΧΔΕΦΓΗΙΚΛΜΝΟΠΘΡΣΤΥΩΞΨΖ", strict=True)
) | dict(zip("abcdefghiklmnopqrstuwxyz", "αβχδεφγηικλμνοπϑρστυωξψζ", strict=True))
GREEK_BY_ORDER = dict(
    zip("ABCDEFGHIJKLMNOPQRSTUVWX", "ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩ", strict=True)
) | dict(zip("abcdefghijklmnopqrstuvwx", "αβγδεζηϑικλμνξοπρστυφχψω", strict=True))
CYRILLIC = dict(
    zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "АБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩ", strict=True)
) | dict(zip("abcdefghijklmnopqrstuvwxyz", "абвгдежзийклмнопрстуфхцчшщ", strict=True))
#: Read as digits: never drawn as a negative, in any font.
LOOK_ALIKES = "0123456789OoDQIiljJ!|/\\()[]{}ZzSs$§bG&TYBgq,.:;'\"`_"
GREEK_LOOK_ALIKES = "ΒΓΖΘΙΟΤΥβγδεζθϑιξοστ"
CYRILLIC_LOOK_ALIKES = "БВГЗОТЧбвгзотч"


def letters_of(font: str, keys: str) -> set[str]:
    """The letters a Hershey font's keys draw (the symbol fonts keep symbols on some)."""
    if font == "symbolic":
        return set()
    if font.startswith("math"):  # symbols on the small letters' keys; mathlow: a-z on A-Z
        return {k.lower() if font == "mathlow" else k for k in keys if k.isupper()}
    if font in ("astrology", "music"):
        return {k for k in keys if k.isalpha()}
    return set(keys)


def test_look_alikes_are_never_drawn(negatives):
    from worker.trainer import hershey

    tables = {
        hershey.GREEK_BY_SOUND: (GREEK_BY_SOUND, GREEK_LOOK_ALIKES),
        hershey.GREEK_BY_ORDER: (GREEK_BY_ORDER, GREEK_LOOK_ALIKES),
        hershey.CYRILLIC: (CYRILLIC, CYRILLIC_LOOK_ALIKES),
    }
    for family in hershey.FONTS.values():
        for font, keys in family.items():
            if keys in tables:
                meaning, look_alikes = tables[keys]
                drawn = {meaning.get(k, k) for k in keys}
                assert not drawn & set(look_alikes), font
            else:
                assert not letters_of(font, keys) & set(LOOK_ALIKES), font
            assert not set(keys) & set("0123456789"), font  # the digit keys of every font
    for keys in (hershey.SCRIPT, hershey.ITALIC):
        assert not set("af") & set(keys)  # a single-story a (9), a looped f (8)
    assert not set(negatives.LETTERS) & set(LOOK_ALIKES + GREEK_LOOK_ALIKES + CYRILLIC_LOOK_ALIKES)


def test_a_crossed_out_digit_is_scribbled_over_densely_never_struck_once(negatives):
    from worker.trainer import symbols

    for family in ("training", "held_out"):
        assert symbols.CROSSING[family][0] >= 5  # one stroke across keeps a digit a digit
        rng = np.random.default_rng(11)
        crossed = np.stack([negatives.draw_negative("crossed_out", rng, family) for _ in range(40)])
        digits = np.stack(
            [negatives.draw_negative("crammed_digits", rng, family) for _ in range(40)]
        )
        assert (crossed > 128).mean() > 1.5 * (digits > 128).mean()  # much more ink


def test_auroc_ranks_negatives_against_digits():
    from worker.trainer.tools.rejection import auroc

    assert auroc(np.array([0.1, 0.2]), np.array([0.3, 0.9])) == 1.0
    assert auroc(np.array([0.3, 0.9]), np.array([0.1, 0.2])) == 0.0
    assert auroc(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == 0.5


# ---- refusals through the API ----------------------------------------------------------


def circle(cx: float, cy: float, r: float, start: float = 0, end: float = 2 * math.pi):
    steps = [start + (end - start) * i / 40 for i in range(41)]
    return [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in steps]


def scribble(seed: int) -> list[list[tuple[float, float]]]:
    walk = np.cumsum(np.random.default_rng(seed).normal(0, 30, size=(40, 2)), axis=0)
    walk = 40 + (walk - walk.min(axis=0)) / np.ptp(walk, axis=0) * 200
    return [[(float(x), float(y)) for x, y in walk]]


#: Drawn here, not by the generator the models trained on.
NOT_DIGITS = {
    "letter K": [[(80, 40), (80, 240)], [(200, 40), (85, 150), (200, 240)]],
    "letter W": [[(30, 50), (80, 230), (140, 90), (200, 230), (250, 50)]],
    "scribble": scribble(3),
    "face": [
        circle(140, 140, 110),
        [(100, 100), (101, 115)],
        [(180, 100), (181, 115)],
        circle(140, 150, 55, 0.3, math.pi - 0.3),
    ],
    # issue 39: marks the shipped models let through before
    "plus sign": [[(140, 40), (138, 240)], [(40, 145), (240, 138)]],
    "arrow": [[(30, 160), (250, 120)], [(195, 95), (250, 120), (205, 170)]],
    "question mark": [
        [*circle(140, 95, 60, math.pi + 0.3, 2 * math.pi + 1.0), (145, 200)],
        [(145, 245), (146, 246)],
    ],
}


@pytest.fixture()
def shipped_models(client, predict_worker) -> None:
    """Version 1 of each model current, as shipped. Tests that run earlier on this session's
    stack fine-tune and promote versions of their own (on simulated writers, on poisoned
    labels); what this file checks is what the shipped models refuse."""
    for name in MODEL_NAMES:
        answer = client.post(f"/api/models/{name}/rollback", json={"version": 1}, headers=ADMIN)
        assert answer.status_code == 200, answer.get_json()
    probe = data_url(hand_drawn(NOT_DIGITS["letter K"], pen=20))

    def shipped_versions_answer() -> bool:
        answer = client.post("/api/predictions", json={"image": probe})
        result = wait_done(client, answer.get_json()["status_url"])["result"]
        return all(result[name]["version"] == 1 for name in MODEL_NAMES)

    wait_for(shipped_versions_answer, 30, "the shipped versions in a prediction")


#: Drawings a shipped model is known to let through: the FNN refuses about two thirds of
#: held-out scribbles (docs/models.md), and this one scored 0.70 against a threshold of 0.95
#: with issue 39's FNN (the models before refused it); issue 42's FNN lets it through too.
#: Strict: a model that refuses it again fails here, so the mark is taken off.
KNOWN_MISSES = {"scribble": "the FNN reads this scribble as an 8 (not-a-digit 0.70)"}


@pytest.mark.usefixtures("shipped_models")
@pytest.mark.parametrize(
    "kind",
    [
        pytest.param(k, marks=pytest.mark.xfail(strict=True, reason=KNOWN_MISSES[k]))
        if k in KNOWN_MISSES
        else k
        for k in sorted(NOT_DIGITS)
    ],
)
def test_a_drawing_that_is_not_a_digit_is_refused_by_both_models(client, kind):
    png = hand_drawn(NOT_DIGITS[kind], pen=20)
    answer = client.post("/api/predictions", json={"image": data_url(png)})
    assert answer.status_code == 202
    done = wait_done(client, answer.get_json()["status_url"])
    assert done["status"] == "done", done
    for name in MODEL_NAMES:
        reading = done["result"][name]
        assert reading["digit"] is None, (kind, name, reading["not_digit"])
        assert reading["not_digit"] >= 0.5, (kind, name, reading["not_digit"])
        assert len(reading["probabilities"]) == 10
    # Read as a number it is none (issue 39): no text, and the reason why.
    number = done["result"]["number"]
    assert number["text"] is None and number["not_a_number"] is True, number


@pytest.mark.usefixtures("shipped_models")
def test_clear_digits_are_not_refused(client, mnist_sample):
    for digit in mnist_sample["x_test"][:10]:
        done = predict(client, digit)
        for name in MODEL_NAMES:
            assert done["result"][name]["digit"] is not None, done["result"][name]["not_digit"]
            assert done["result"][name]["not_digit"] < 0.5


def test_hand_drawings_here_are_not_the_generators(negatives):
    """The drawings above are strokes of this file, not images the models trained on."""
    training, _ = negatives.make_negatives(2000, "training")
    for strokes in NOT_DIGITS.values():
        image = preprocess_png(hand_drawn(strokes, pen=20)).astype(int)
        assert np.abs(training.astype(int) - image).sum(axis=(1, 2)).min() > 0


# ---- learning from "not a digit" -------------------------------------------------------


def trained_addresses(services, count: int) -> list[str]:
    """Addresses whose client is never in the people holdout (asking web for their ids)."""
    from web.client_ids import client_id_of
    from worker.trainer.user_samples import is_holdout

    candidates = (f"192.0.2.{i}" for i in range(1, 255))
    return [a for a in candidates if not is_holdout("0" * 32, client_id_of(services, a), True)][
        :count
    ]


def refuse_by_feedback(client, pngs: list[bytes], clients: int) -> list[str]:
    """Predict each drawing, then say "not a digit" with consent, from ``clients`` addresses."""
    addresses = trained_addresses(client.application.extensions["digits"], clients)
    ids = []
    for index, png in enumerate(pngs):
        answer = client.post("/api/predictions", json={"image": data_url(png)})
        done = wait_done(client, answer.get_json()["status_url"])
        assert done["status"] == "done", done
        sent = client.post(
            f"/api/predictions/{done['id']}/feedback",
            json={"label": None, "consent": True},
            headers={"X-Forwarded-For": addresses[index % clients]},
        )
        assert sent.status_code == 202, sent.get_json()
        ids.append(done["id"])
    return ids


def wait_stored(app, ids: list[str]) -> None:
    store = app.extensions["digits"].store
    wait_for(lambda: all(store.exists(f"samples/{i}.json") for i in ids), 120, "samples stored")


@pytest.mark.usefixtures("predict_worker", "trainer")
def test_not_a_digit_feedback_is_learned_from_in_the_next_fine_tune(client, app, negatives):
    pytest.importorskip("keras", reason="the trainer fine-tunes with the train extra")
    drawings, _ = negatives.make_negatives(40, "held_out", seed=4242)
    pngs = [render_canvas_png(image) for image in drawings]
    ids = refuse_by_feedback(client, pngs, clients=1)
    wait_stored(app, ids)
    metas = [json.loads(app.extensions["digits"].store.get_bytes(f"samples/{i}.json")) for i in ids]
    assert all(m["label"] is None and m["source"] == "feedback" for m in metas)
    job = run_fine_tune(client)
    # Held out only while the holdout is one sample in five (by id), not whole people.
    trained = {i for i in ids if int(i[:8], 16) % 5}
    for name in MODEL_NAMES:
        decided = job["result"]["models"][name]
        assert decided["training"]["user_not_digit"] >= len(trained)
        assert decided["holdout"]["negatives"] > 0 and "reject_threshold" in decided


@pytest.mark.usefixtures("predict_worker", "trainer")
def test_a_fine_tune_taught_that_digits_are_not_digits_is_rejected(client, app, mnist_sample):
    pytest.importorskip("keras", reason="the trainer fine-tunes with the train extra")
    x = mnist_sample["x_train"][:120]
    pngs = [render_canvas_png(digit) for digit in x]
    # From enough addresses that the per-client cap does not dilute it: the gate must catch it.
    ids = refuse_by_feedback(client, pngs, clients=6)
    assert len(ids) == 120
    wait_stored(app, ids)
    before = client.get("/api/models").get_json()["models"]
    job = run_fine_tune(client)
    assert job["status"] == "rejected", json.dumps(job["result"]["models"], indent=1)
    after = client.get("/api/models").get_json()["models"]
    for name in MODEL_NAMES:
        decided = job["result"]["models"][name]
        # The current model reads these as digits: the labels contradict it (the refusal
        # rails, tested in test_rules.py, stand behind that rule).
        assert decided["outcome"] == "rejected", decided
        assert "label_agreement" in decided["gate_failures"], decided["gate_failures"]
        assert after[name]["current"] == before[name]["current"]
