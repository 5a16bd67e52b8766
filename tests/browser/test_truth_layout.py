"""What each step asks for is in view when it is asked (issue #41): on a 390x844 phone the
consent and its text side by side as a sentence, the Collect loop without scrolling, no
digit left looking chosen after a save, the "choose a digit" warning where it is seen; on
a 1280x800 laptop the answer and "Was it right?" on the first screen. Headless Chromium
against the real stack."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.pages import PAGE_READY, draw_stroke, touch_drag
from web import i18n

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
#: The same phone as Safari leaves it with its address and tab bars shown.
PHONE_WITH_BARS = {"width": 390, "height": 660}
LAPTOP = {"width": 1280, "height": 800}
ONE = [(0.5, 0.15), (0.5, 0.85)]
THREE = [(0.3, 0.2), (0.7, 0.25), (0.4, 0.5), (0.7, 0.7), (0.3, 0.85)]
LANGS = ["en", "ru"]

#: How a digit button looks: what would tell a chosen one from the others.
LOOK = """label => { const s = getComputedStyle(label);
  return [s.backgroundColor, s.color, s.borderColor, s.boxShadow, s.outlineStyle].join(" "); }"""


def phone(
    open_page, live_server: str, path: str, lang: str, viewport=PHONE, **options: object
) -> Page:
    page = open_page("/about", viewport=viewport, has_touch=True, is_mobile=True, **options)
    page.goto(f"{live_server}{path}?lang={lang}")
    selector, text = PAGE_READY[path]
    if text is not None:
        expect(page.locator(selector)).to_have_text(text)
    return page


def settled(page: Page) -> None:
    """Wait until the page stops scrolling (Bootstrap makes scrolling smooth)."""
    page.evaluate(
        """() => new Promise(done => { let last = null;
          const look = () => { if (scrollY === last) done(); else { last = scrollY; setTimeout(look, 100); } };
          look(); })"""
    )


def in_view(page: Page, selector: str) -> dict[str, float]:
    """The element's box, asserted to lie wholly inside the viewport as it is now."""
    box = page.locator(selector).bounding_box()
    height = page.viewport_size["height"]
    assert box is not None, f"{selector} is not shown"
    assert 0 <= box["y"] and box["y"] + box["height"] <= height, f"{selector} at {box}, not in view"
    return box


@pytest.mark.parametrize("lang", LANGS)
def test_on_a_phone_the_consent_reads_as_a_sentence_beside_its_checkbox(
    open_page, live_server, lang
) -> None:
    page = phone(open_page, live_server, "/", lang)
    touch_drag(page, ONE)
    expect(page.locator("#cnn-strip-digit")).to_have_text("1", timeout=30_000)
    row = page.locator("#feedback-consent").locator("xpath=..").bounding_box()
    box = page.locator("#feedback-consent").bounding_box()
    label = page.locator("label[for=feedback-consent]").bounding_box()
    help_text = page.locator("#feedback-consent-help").bounding_box()
    assert row and box and label and help_text
    assert 20 <= box["width"] == box["height"] <= 32  # a checkbox of the usual size
    # The label beside it, on the same line, not pushed under it.
    assert box["x"] + box["width"] <= label["x"] <= box["x"] + box["width"] + 16, (box, label)
    assert label["y"] < box["y"] + box["height"] and box["y"] < label["y"] + label["height"]
    assert label["height"] <= 2.5 * 24, label  # at most two lines, not a column of words
    # The explanation under the sentence, across the card, not a third narrow column.
    assert help_text["y"] >= label["y"] + label["height"] - 1, (label, help_text)
    assert help_text["width"] >= 0.8 * row["width"], (row, help_text)


@pytest.mark.parametrize("lang", LANGS)
def test_on_a_phone_a_whole_collect_round_needs_no_scrolling(open_page, live_server, lang) -> None:
    page = phone(open_page, live_server, "/collect", lang)
    for _ in range(2):  # the round after a save as well
        page.locator("label[for=label-3]").tap()
        touch_drag(page, THREE)
        expect(page.locator("#save")).to_have_text(
            i18n.translate(lang, "js.collect.save_as", label=3)
        )
        in_view(page, "#save")
        assert page.evaluate("window.scrollY") == 0
        with page.expect_response(re.compile(r"/api/samples$")) as answer:
            page.locator("#save").tap()
        assert answer.value.status == 202
        expect(page.locator("#status")).to_have_attribute("data-state", "saved")
    assert page.evaluate("window.scrollY") == 0
    assert page.console_errors == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("device", ["phone, Save tapped", "laptop, digit clicked, Enter"])
def test_the_digit_of_the_last_drawing_does_not_look_chosen_after_its_save(
    open_page, live_server, device
) -> None:
    on_phone = device.startswith("phone")
    # Without Bootstrap's fade, so the look compared is the one that stays.
    if on_phone:
        page = phone(open_page, live_server, "/collect", "en", reduced_motion="reduce")
        page.locator("label[for=label-3]").tap()
        touch_drag(page, THREE)
    else:
        page = open_page("/collect", viewport=LAPTOP, reduced_motion="reduce")
        expect(page.locator("#saved-count")).to_have_text(re.compile(r"\d"))
        page.click("label[for=label-3]")
        draw_stroke(page, THREE)
    chosen = page.locator("label[for=label-3]")
    untouched = page.locator("label[for=label-9]")
    assert chosen.evaluate(LOOK) != untouched.evaluate(LOOK)  # chosen, it shows
    with page.expect_response(re.compile(r"/api/samples$")):
        page.locator("#save").tap() if on_phone else page.keyboard.press("Enter")
    expect(page.locator("#status")).to_have_attribute("data-state", "saved")
    expect(page.locator("#labels input:checked")).to_have_count(0)
    expect(page.locator("#labels .active, #labels [aria-pressed=true]")).to_have_count(0)
    # Nor a focus ring around it, the keyboard's place left on the digit just used.
    assert not page.evaluate("document.activeElement.matches('#labels input:focus-visible')")
    assert chosen.evaluate(LOOK) == untouched.evaluate(LOOK)


@pytest.mark.parametrize("viewport", [PHONE, PHONE_WITH_BARS], ids=["844", "660"])
@pytest.mark.parametrize("lang", LANGS)
def test_the_choose_a_digit_warning_shows_beside_the_digits_in_view(
    open_page, live_server, lang, viewport
) -> None:
    page = phone(open_page, live_server, "/collect", lang, viewport)
    touch_drag(page, THREE)
    page.locator("#save").tap()  # no digit chosen
    warning = page.get_by_text(i18n.translate(lang, "collect.pick_label"))
    expect(warning).to_be_visible()
    settled(page)
    box = warning.bounding_box()
    assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= viewport["height"], box
    in_view(page, "#labels")  # and what it asks to choose, next to it
    page.locator("label[for=label-3]").tap()
    expect(warning).to_be_hidden()  # said once, gone once done


def answered(page: Page, strokes: list) -> None:
    """Draw ``strokes``, press Recognize, wait for the answer."""
    page.uncheck("#auto-recognize")
    for stroke in strokes:
        draw_stroke(page, stroke)
    page.click("#recognize")
    expect(page.locator("#status")).to_have_attribute("data-state", "done", timeout=30_000)


FORTY_TWO = [
    [(0.2, 0.15), (0.16, 0.6), (0.3, 0.6)],
    [(0.26, 0.2), (0.26, 0.85)],
    [(0.42, 0.3), (0.48, 0.15), (0.55, 0.3), (0.43, 0.85), (0.57, 0.85)],
]


@pytest.mark.parametrize("lang", LANGS)
def test_on_a_laptop_the_answer_and_was_it_right_are_on_the_first_screen(
    open_page, live_server, lang
) -> None:
    page = open_page("/about", viewport=LAPTOP)
    page.goto(f"{live_server}/?lang={lang}")
    answered(page, [ONE])
    expect(page.locator("#cnn-digit")).to_have_text("1")
    for selector in ("#fnn-digit", "#cnn-digit", "#feedback-title", "#feedback-consent"):
        in_view(page, selector)
    for selector in ("#feedback-correct", "#feedback-wrong", "#feedback-none"):
        expect(page.locator(selector)).to_be_visible()
        in_view(page, selector)
    assert page.evaluate("window.scrollY") == 0
    # A number too: the number read, and the same question beside it.
    page.click("#clear")
    answered(page, FORTY_TWO)
    expect(page.locator("#number")).to_be_visible()
    for selector in ("#number-text", "#feedback-title", "#feedback-wrong"):
        in_view(page, selector)
    assert page.evaluate("window.scrollY") == 0
    assert page.console_errors == []  # type: ignore[attr-defined]
