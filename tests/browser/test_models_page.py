"""The Models page on a phone, and how it writes its figures, against a fine-tuned history.

Fine-tuning for real takes minutes of TensorFlow, so these tests answer GET /api/models
in the browser with the shipped versions (as the real API lists them) followed by
fine-tuned ones shaped as worker.trainer.rounds records them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect

from shared.names import MODEL_NAMES
from tests.browser.model_listings import fine_tuned_listing, route_listing
from tests.helpers import ADMIN_TOKEN
from web import i18n

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
METRICS = ["mnist", "loss", "user", "pens", "negatives", "digits_refused"]


@pytest.fixture()
def models_page(browser, live_server) -> Iterator[Callable[..., Page]]:
    """The Models page with a fine-tuned history, in a fresh context closed afterwards."""
    contexts = []

    def opener(lang: str = "en", admin: bool = False, **options: object) -> Page:
        context = browser.new_context(locale="en-US", **options)
        contexts.append(context)
        page = context.new_page()
        page.console_errors = []  # type: ignore[attr-defined]
        page.on("pageerror", lambda error: page.console_errors.append(str(error)))
        real = page.request.get(live_server + "/api/models").json()
        route_listing(page, fine_tuned_listing(real))
        page.goto(f"{live_server}/models?lang={lang}")
        if admin:
            page.fill("#admin-token", ADMIN_TOKEN)
        expect(page.locator("#cnn-current")).to_have_text("v3")
        return page

    yield opener
    for context in contexts:
        context.close()


# The elements of a version's card (a row of the table, stacked) not wholly inside the
# window's width, and how wide the page is: [page width, ["tag.class left-right", ...]].
OUTSIDE_THE_WINDOW = """row => [
  document.documentElement.scrollWidth,
  [row, ...row.querySelectorAll("*")]
    .filter(e => e.getClientRects().length)
    .map(e => [e, e.getBoundingClientRect()])
    .filter(([, r]) => r.left < 0 || r.right > window.innerWidth)
    .map(([e, r]) => `${e.tagName}.${e.className} ${Math.round(r.left)}-${Math.round(r.right)}`),
]"""


@pytest.mark.browser
def test_every_version_shows_its_named_figures_within_a_phone_screen(models_page) -> None:
    page = models_page(admin=True, **PHONE)
    for name in MODEL_NAMES:
        rows = page.locator(f"#{name}-versions tr[data-version]")
        expect(rows).to_have_count(4)
        for row in rows.all():
            width, outside = row.evaluate(OUTSIDE_THE_WINDOW)
            assert width <= PHONE["viewport"]["width"], "the page scrolls sideways"
            assert outside == [], (name, row.get_attribute("data-version"))
            for metric in METRICS:
                cell = row.locator(f'[data-metric="{metric}"]')
                expect(cell.locator(".cell-label")).to_have_text(
                    i18n.translate("en", f"models.col.{metric}")
                )
            accuracy = row.locator('[data-metric="mnist"] [data-slot="value"]')
            # Scrolled down to, not sideways: a figure off to the right would stay out of view.
            accuracy.evaluate(
                "e => window.scrollTo(0, window.scrollY + e.getBoundingClientRect().top - 100)"
            )
            expect(accuracy).to_be_in_viewport(ratio=1)
            expect(accuracy).to_have_text(re.compile(r"^\d+(\.\d)?%$"))
    assert page.console_errors == []  # type: ignore[attr-defined]


@pytest.mark.browser
def test_a_versions_table_is_a_tab_stop_only_while_it_scrolls_sideways(models_page) -> None:
    """Stacked into cards on a phone the table fits: no empty tab stop before its buttons.
    Squeezed until it scrolls, its region takes the focus again so keys can scroll it."""
    page = models_page(**PHONE)
    regions = page.locator(".table-responsive[role=region]")
    expect(regions).to_have_count(len(MODEL_NAMES))
    for region in regions.all():
        expect(region).not_to_have_attribute("tabindex", re.compile(".*"))
    page.set_viewport_size({"width": 1280, "height": 900})
    first = regions.first
    first.evaluate("e => { e.style.width = '240px'; }")
    expect(first).to_have_attribute("tabindex", "0")
    first.evaluate("e => { e.style.width = ''; }")
    page.set_viewport_size(PHONE["viewport"])  # back to cards: the tab stop goes again
    expect(first).not_to_have_attribute("tabindex", re.compile(".*"))
    assert page.console_errors == []  # type: ignore[attr-defined]


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_change_that_rounds_to_nothing_is_plus_minus_zero_not_minus_zero(
    models_page, lang: str
) -> None:
    page = models_page(lang=lang)
    point = "." if lang == "en" else ","
    v3 = page.locator('#cnn-versions tr[data-version="3"]')
    expect(v3.locator('[data-metric="mnist"] [data-slot="delta"]')).to_have_text(f"(±0{point}0)")
    expect(v3.locator('[data-metric="loss"] [data-slot="delta"]')).to_have_text(f"(±0{point}000)")
    v2 = page.locator('#cnn-versions tr[data-version="2"]')
    expect(v2.locator('[data-metric="loss"] [data-slot="delta"]')).to_have_text(f"(−0{point}005)")
    expect(v2.locator('[data-metric="mnist"] [data-slot="delta"]')).to_have_text(f"(+0{point}2)")
    text = page.locator("main").inner_text()
    assert not re.search(r"[−-]0[.,]0+(?!\d)", text), "a negative zero is shown"
    assert page.console_errors == []  # type: ignore[attr-defined]


@pytest.mark.browser
def test_the_real_pen_column_shows_the_gates_figure_and_the_shipped_cards(models_page) -> None:
    page = models_page()
    # Per version: the candidate's figure and its change from the parent; the shipped
    # version's from its card, with no parent to differ from.
    shown = {4: ("98.4%", "(−0.4)"), 2: ("98.8%", "(+0.8)"), 1: ("97.3%", None)}
    for name in MODEL_NAMES:
        for version, (value, change) in shown.items():
            row = page.locator(f'#{name}-versions tr[data-version="{version}"]')
            cell = row.locator('[data-metric="pens"]')
            expect(cell.locator('[data-slot="value"]')).to_have_text(value)
            delta = cell.locator('[data-slot="delta"]')
            if change is None:
                expect(delta).to_be_hidden()
            else:
                expect(delta).to_have_text(change)
    assert page.console_errors == []  # type: ignore[attr-defined]


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_rejected_version_names_the_rules_it_broke(models_page, lang: str) -> None:
    page = models_page(lang=lang)
    rule = i18n.translate(lang, "js.models.rule.mnist_accuracy")
    expected = i18n.translate(lang, "js.models.failed_rules", rules=rule)
    rejected = page.locator('#cnn-versions tr[data-version="4"] [data-slot="failures"]')
    expect(rejected).to_be_visible()
    expect(rejected).to_have_text(expected)
    for version in (2, 3):  # promoted: nothing broken, nothing shown
        passed = page.locator(f'#cnn-versions tr[data-version="{version}"] [data-slot="failures"]')
        expect(passed).to_be_hidden()
    expect(page.locator('#fnn-versions tr[data-version="4"] [data-slot="failures"]')).to_be_hidden()
    assert page.console_errors == []  # type: ignore[attr-defined]


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_version_says_the_real_pen_digits_it_replayed(models_page, lang: str) -> None:
    page = models_page(lang=lang)

    def trained(version: int, *replayed: str) -> None:
        samples = i18n.translate(lang, "js.models.samples", count=40 * version)
        text = i18n.translate(
            lang, "js.models.trained_on", samples=samples, replay=" + ".join(replayed)
        )
        cell = page.locator(f'#cnn-versions tr[data-version="{version}"] [data-slot="trained"]')
        expect(cell).to_have_text(re.compile("^" + re.escape(text).replace("\xa0", r"\s") + "$"))

    mnist = i18n.translate(lang, "js.models.mnist_digits", count=3000)
    trained(3, mnist)
    trained(4, mnist, i18n.translate(lang, "js.models.pen_digits", count=1050))
    assert page.console_errors == []  # type: ignore[attr-defined]


def numbers_in(text: str, lang: str) -> set[float]:
    """The numbers a message states, read with the language's decimal sign."""
    point = "." if lang == "en" else ","
    found = re.findall(r"\d+(?:" + re.escape(point) + r"\d+)?", text)
    return {float(number.replace(point, ".")) for number in found}


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_page_states_the_tolerances_the_gate_applies(lang: str) -> None:
    """The Models page's gate rules, in both languages, are worker.trainer.gate.RULES."""
    gate = pytest.importorskip("worker.trainer.gate", reason="the train extra (keras) is needed")
    fnn, cnn = gate.RULES["fnn"], gate.RULES["cnn"]

    def points(share: float) -> float:
        return round(share * 100, 3)

    stated = {
        "models.gate.mnist": {points(fnn.max_mnist_drop), points(cnn.max_mnist_drop)},
        "models.gate.loss": {fnn.max_mnist_loss_ratio, cnn.max_mnist_loss_ratio,
                             fnn.mnist_loss_floor},
        "models.gate.refusals": {points(fnn.max_refused_digits_rise),
                                 points(fnn.max_refused_negatives_drop)},
        "models.gate.labels": {points(fnn.min_label_agreement)},
    }  # fmt: skip
    for key, figures in stated.items():
        assert figures <= numbers_in(i18n.translate(lang, key), lang), (lang, key)
    # The rules the text gives once hold for both models alike.
    for field in ("mnist_loss_floor", "max_refused_digits_rise", "max_refused_negatives_drop",
                  "min_label_agreement"):  # fmt: skip
        assert getattr(fnn, field) == getattr(cnn, field), field
    about = i18n.translate(lang, "about.learning")
    assert {points(fnn.max_mnist_drop), points(cnn.max_mnist_drop)} <= numbers_in(about, lang)
