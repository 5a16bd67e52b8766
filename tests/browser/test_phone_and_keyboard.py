"""The Draw and Collect pages as a phone user and a keyboard user meet them (issue #21).

The answer in view on a 390x844 phone, consent asked before the answer buttons, no stale
answer confirmable, automatic recognition on by default, a collection label that cannot
slip onto the next drawing, the skip link above the navbar, Escape and Backspace that
lose nothing, and a tap right after a fast stroke that is not lost. Headless Chromium
against the real stack.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.pages import draw_stroke, touch_drag
from tests.helpers import ARTIFACTS
from web import i18n

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1200, "height": 900}
PHONE = {"width": 390, "height": 844}
PHONE_OPTIONS = {"viewport": PHONE, "has_touch": True, "is_mobile": True}
ONE = [(0.5, 0.15), (0.5, 0.85)]
PAGES = ["/", "/collect", "/models", "/samples", "/stats", "/about", "/forget"]


def expect_answers(page: Page) -> None:
    for name in ("fnn", "cnn"):
        expect(page.locator(f"#{name}-digit")).to_have_text(
            re.compile(r"^\s*\d\s*$"), timeout=30_000
        )


def answered_one(page: Page) -> None:
    """A "1" drawn and recognized on request (automatic recognition switched off first,
    so the test decides when the models are asked)."""
    page.locator("#auto-recognize").uncheck()
    draw_stroke(page, ONE)
    page.click("#recognize")
    expect_answers(page)


def test_on_a_phone_the_answers_show_right_under_the_pad_after_a_touch_drawing(open_page) -> None:
    page = open_page("/", **PHONE_OPTIONS)
    canvas = page.locator("#canvas").bounding_box()
    assert canvas is not None and canvas["width"] >= PHONE["width"] - 40  # the pad fills the width
    touch_drag(page, ONE)
    # Automatic recognition is on by default: no tap on Recognize is needed.
    strip = page.locator("#answer-strip")
    expect(strip).to_be_visible(timeout=30_000)
    for name in ("fnn", "cnn"):
        expect(page.locator(f"#{name}-strip-digit")).to_have_text("1", timeout=30_000)
        expect(page.locator(f"#{name}-strip-p")).to_have_text(re.compile(r"\d"))
    box = strip.bounding_box()
    assert box is not None
    assert 0 <= box["y"] and box["y"] + box["height"] <= PHONE["height"]
    assert page.evaluate("window.scrollY") == 0  # seen without scrolling
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "phone-answer.png"))  # what the phone shows
    for button in ("#recognize", "#undo", "#clear", "#feedback-correct", "#feedback-wrong"):
        size = page.locator(button).bounding_box()
        assert size is not None and size["height"] >= 44, button
    # The details stay below; on a desktop the strip is not shown at all.
    desktop = open_page("/")
    draw_stroke(desktop, ONE)
    desktop.click("#recognize")
    expect_answers(desktop)
    expect(desktop.locator("#answer-strip")).to_be_hidden()
    assert page.console_errors == desktop.console_errors == []  # type: ignore[attr-defined]


def test_consent_is_asked_before_the_answer_buttons_and_says_what_happens(open_page) -> None:
    page = open_page("/")
    answered_one(page)
    consent = page.locator("#feedback-consent").bounding_box()
    correct = page.locator("#feedback-correct").bounding_box()
    assert consent is not None and correct is not None
    assert consent["y"] + consent["height"] <= correct["y"]  # above the buttons that send
    # The test stack has the public gallery on: the text says the drawing is public.
    expect(page.locator("#feedback-consent-help")).to_have_text(
        i18n.translate("en", "feedback.consent_help_public")
    )
    page.check("#feedback-consent")
    with page.expect_request(re.compile(r"/feedback$")) as sent:
        page.click("#feedback-correct")
    assert sent.value.post_data_json["consent"] is True
    status = page.locator("#feedback-status")
    expect(status).to_have_text(i18n.translate("en", "js.feedback.used"))
    # The buttons are disabled now; the keyboard's place is the status, not <body>.
    expect(status).to_be_focused()


def test_not_a_digit_with_consent_promises_only_what_happens(open_page) -> None:
    page = open_page("/")
    answered_one(page)
    page.check("#feedback-consent")
    with page.expect_request(re.compile(r"/feedback$")) as sent:
        page.click("#feedback-none")
    assert sent.value.post_data_json == {"label": None, "consent": True}
    expect(page.locator("#feedback-status")).to_have_text(
        i18n.translate("en", "js.feedback.used_not_digit")
    )


def test_a_drawing_changed_after_its_answer_cannot_confirm_it(open_page) -> None:
    page = open_page("/")
    answered_one(page)
    expect(page.locator("#feedback-correct")).to_be_enabled()
    draw_stroke(page, [(0.45, 0.2), (0.55, 0.2)])  # one more stroke: a different picture
    expect(page.locator("#result")).to_have_class(re.compile(r"\bis-stale\b"))
    expect(page.locator("#result")).to_be_visible()  # dimmed, not blinked away
    expect(page.locator("#result-stale")).to_be_visible()
    for button in ("#feedback-correct", "#feedback-wrong", "#feedback-none"):
        expect(page.locator(button)).to_be_disabled()
    page.click("#undo")  # back to the same strokes, still not the answer's picture
    expect(page.locator("#feedback-correct")).to_be_disabled()
    page.click("#recognize")
    expect(page.locator("#result")).not_to_have_class(re.compile(r"\bis-stale\b"), timeout=30_000)
    expect(page.locator("#result-stale")).to_be_hidden()
    expect(page.locator("#feedback-correct")).to_be_enabled()
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_automatic_recognition_is_on_by_default_and_remembered(open_page) -> None:
    page = open_page("/")
    switch = page.locator("#auto-recognize")
    expect(switch).to_be_checked()
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/api/predictions")):
        draw_stroke(page, ONE)  # no click: a pause after the pen lifts is enough
    expect_answers(page)
    switch.uncheck()
    page.reload()
    expect(page.locator("#auto-recognize")).not_to_be_checked()
    posts: list[str] = []
    page.on("request", lambda r: r.method == "POST" and posts.append(r.url))
    draw_stroke(page, ONE)
    page.wait_for_timeout(1000)
    assert posts == []


def test_a_collection_label_does_not_slip_onto_the_next_drawing(open_page) -> None:
    page = open_page("/collect")
    save = page.locator("#save")
    expect(save).to_have_text(i18n.translate("en", "js.collect.save_pick"))
    page.keyboard.press("3")
    expect(save).to_have_text("Save as 3")
    expect(page.locator("#pad-label")).to_have_text("3")
    draw_stroke(page, [(0.3, 0.2), (0.7, 0.25), (0.4, 0.5), (0.7, 0.7), (0.3, 0.85)])
    with page.expect_response(re.compile(r"/api/samples$")) as answer:
        save.click()
    assert answer.value.status == 202
    # Forgotten after the save: the next drawing needs its own choice.
    expect(page.locator('input[name="label"]:checked')).to_have_count(0)
    expect(save).to_have_text(i18n.translate("en", "js.collect.save_pick"))
    expect(page.locator("#pad-label")).to_be_hidden()
    expect(page.locator("#undo")).to_be_disabled()  # a saved drawing is not brought back
    posts: list[str] = []
    page.on("request", lambda r: r.method == "POST" and posts.append(r.url))
    draw_stroke(page, ONE)
    page.keyboard.press("Enter")
    expect(page.locator("#label-warning")).to_have_text(i18n.translate("en", "collect.pick_label"))
    assert posts == []
    page.click("label[for=label-1]")  # a click on a label says it on the button too
    expect(save).to_have_text("Save as 1")


def test_the_skip_link_shows_above_the_navbar_on_every_page(open_page, live_server) -> None:
    for viewport in (DESKTOP, PHONE):
        page = open_page("/", viewport=viewport)
        for path in PAGES:
            page.goto(live_server + path)
            page.keyboard.press("Tab")
            link = page.locator(".skip-link")
            expect(link).to_be_focused()
            box = link.bounding_box()
            assert box is not None and box["width"] > 20
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            # What is painted at the link's middle is the link, not the navbar over it.
            on_top = page.evaluate(
                "([x, y]) => document.elementFromPoint(x, y)?.closest('.skip-link') !== null",
                [x, y],
            )
            assert on_top, f"skip link hidden under the navbar on {path} at {viewport}"
            page.keyboard.press("Enter")
            expect(page.locator("#main")).to_be_focused()


def test_focus_ring_is_a_solid_outline_in_the_dark_navbar(open_page) -> None:
    page = open_page("/", color_scheme="dark")
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")  # the brand link in the navbar
    style = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, s.outlineWidth, s.outlineColor]; }"
    )
    assert style[0] == "solid" and float(style[1].removesuffix("px")) >= 2
    assert style[2] == "rgb(158, 197, 254)"  # #9ec5fe: about 8:1 on the dark navbar


def test_escape_closes_the_digit_list_and_backspace_can_be_undone(open_page) -> None:
    page = open_page("/")
    answered_one(page)
    wrong = page.locator("#feedback-wrong")
    if wrong.is_visible():  # the models agree; else the list is open already, with no Wrong
        wrong.click()
        expect(page.locator("#feedback-digits")).to_be_visible()
        expect(page.locator("#feedback-digit-0")).to_be_focused()
        page.keyboard.press("Escape")
        expect(page.locator("#feedback-digits")).to_be_hidden()
        expect(wrong).to_be_focused()
        expect(wrong).to_have_attribute("aria-expanded", "false")
    page.locator("#main").focus()
    page.keyboard.press("Backspace")
    expect(page.locator("#clear")).to_be_disabled()
    expect(page.locator("#status")).to_have_text(i18n.translate("en", "js.status.cleared"))
    expect(page.locator("#undo")).to_be_enabled()
    page.click("#undo")  # the drawing comes back
    expect(page.locator("#clear")).to_be_enabled()
    page.click("#recognize")
    expect(page.locator("#cnn-digit")).to_have_text("1", timeout=30_000)


def test_a_tap_right_after_a_fast_stroke_is_not_lost(open_page) -> None:
    page = open_page("/", **PHONE_OPTIONS)
    page.locator("#auto-recognize").tap()
    expect(page.locator("#auto-recognize")).not_to_be_checked()
    posts: list[str] = []
    page.on(
        "request",
        lambda r: r.method == "POST" and r.url.endswith("/api/predictions") and posts.append(r.url),
    )
    for tap in range(12):
        x = 0.1 + 0.07 * tap
        touch_drag(page, [(x, 0.2), (x + 0.03, 0.8)], steps=3)  # a quick flick
        page.locator("#recognize").tap()  # at once: no pause like a careful finger's
    page.wait_for_timeout(1000)  # a click that happened has sent its request by now
    assert len(posts) == 12, f"{12 - len(posts)} of 12 taps were lost"


def test_static_files_arrive_compressed_and_come_from_the_cache_next_time(
    open_page, live_server
) -> None:
    page = open_page("/collect")  # a fresh context: an empty cache
    encodings: dict[str, str] = {}
    page.on(
        "response",
        lambda r: (
            "/static/" in r.url
            and r.url.endswith((".css", ".js"))
            and encodings.__setitem__(r.url, r.all_headers().get("content-encoding", ""))
        ),
    )
    page.goto(live_server + "/")
    expect(page.locator("#undo")).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert len(encodings) >= 8, encodings  # Bootstrap, our CSS and every module
    assert all(value in ("br", "gzip") for value in encodings.values()), encodings
    # A second visit takes the fingerprinted files from the browser's cache, unasked.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    from_cache: list[str] = []
    cdp.on("Network.requestServedFromCache", lambda event: from_cache.append(event["requestId"]))
    sent: list[str] = []
    page.on("request", lambda r: "/static/" in r.url and sent.append(r.url))
    page.goto(live_server + "/about")
    page.goto(live_server + "/")
    page.wait_for_load_state("networkidle")
    assert sent and len(from_cache) >= len(sent) * 0.9, (len(from_cache), sent)
