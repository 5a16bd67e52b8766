"""The Draw page tells the truth at every step (issue #41): no one-click answer that cannot
work, feedback on a number that says what was counted, a fast and honest "unavailable"
when no predict worker runs, and for a number only what the models read of the number."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.pages import draw_stroke
from tests.conftest import served_app
from web import i18n

pytestmark = pytest.mark.browser
DEVELOPER_TEXT = 'number must be a string of digits, such as "2024"'


def draw_42(page: Page) -> None:
    """4 in two strokes, then 2, side by side on the 3:1 pad."""
    draw_stroke(page, [(0.2, 0.15), (0.16, 0.6), (0.3, 0.6)])
    draw_stroke(page, [(0.26, 0.2), (0.26, 0.85)])
    draw_stroke(page, [(0.42, 0.3), (0.48, 0.15), (0.55, 0.3), (0.43, 0.85), (0.57, 0.85)])


def recognized_number(page: Page) -> int:
    """Recognize what is drawn; the count of digits found once the number is shown."""
    page.uncheck("#auto-recognize")
    page.click("#recognize")
    expect(page.locator("#number")).to_be_visible(timeout=60_000)
    return page.locator("#pad-boxes rect").count()


def read_with_a_question_mark(route: Route) -> None:
    """The real answer, its number read as the CNN reads a part it refuses ("?2")."""
    response = route.fetch()
    body = response.json()
    if body.get("status") == "done" and body["result"]["number"]["text"]:
        body["result"]["number"]["text"] = "?" + body["result"]["number"]["text"][1:]
        body["result"]["number"]["digits"][0]["cnn"].update(digit=None, not_digit=0.98)
        body["result"]["number"]["digits"][0]["digit"] = None
    route.fulfill(response=response, json=body)


def read_by_both(route: Route) -> None:
    """The real answer, its first part refused by the CNN but read by both models together
    (``shared.number_reading.part_digit``): the number keeps its digit."""
    response = route.fetch()
    body = response.json()
    if body.get("status") == "done" and body["result"]["number"]["text"]:
        body["result"]["number"]["digits"][0]["cnn"].update(digit=None, not_digit=0.9)
    route.fulfill(response=response, json=body)


def test_a_part_the_cnn_refuses_but_both_models_read_shows_its_digit_alone(open_page, live_server):
    page = open_page("/about")
    page.route(re.compile(r"/api/predictions(/[0-9a-f]+)?(\?.*)?$"), read_by_both)
    page.goto(live_server)
    draw_42(page)
    recognized_number(page)
    text = page.locator("#number-text").text_content() or ""
    assert re.fullmatch(r"\d{2,}", text), text
    # The box shows the number's digit, without the CNN's chance (of "not a digit").
    expect(page.locator("#pad-boxes text").first).to_have_text(text[0])
    expect(page.locator("#pad-boxes text").nth(1)).to_have_text(re.compile(r"^\d · "))
    expect(page.locator("#cnn-number")).to_have_text(re.compile(r"^\?"))
    # So does its 28x28 preview, and its text says whose reading it is.
    first = page.locator("#number-digits li").first
    expect(first.locator("div")).to_have_text(text[0])
    expect(first.locator("img")).to_have_attribute("alt", re.compile("both models"))
    assert page.console_errors == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_number_read_with_a_question_mark_offers_no_correct(open_page, live_server, lang):
    page = open_page("/about")
    page.route(re.compile(r"/api/predictions(/[0-9a-f]+)?(\?.*)?$"), read_with_a_question_mark)
    page.goto(f"{live_server}/?lang={lang}")
    draw_42(page)
    recognized_number(page)
    expect(page.locator("#number-text")).to_have_text(re.compile(r"^\?"))
    # The refused part's box says "?" alone: 98 % is its chance of "not a digit", not of "?".
    expect(page.locator("#pad-boxes text").first).to_have_text("?")
    expect(page.locator("#pad-boxes text").nth(1)).to_have_text(re.compile(r"^\d · "))
    expect(page.locator("#feedback-correct")).to_be_hidden()
    expect(page.locator("#feedback-wrong")).to_be_visible()
    page.click("#feedback-wrong")
    page.fill("#feedback-number-input", "42")
    page.click("#feedback-number-send")
    status = page.locator("#feedback-status")
    expect(status).to_have_attribute("data-state", "done")
    expect(status).to_have_text(i18n.translate(lang, "js.feedback.number_counted"))
    assert page.console_errors == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_refused_feedback_reads_as_the_sentence_for_its_code(open_page, live_server, lang):
    page = open_page("/about")
    page.route(re.compile(r"/feedback$"), lambda route: route.fulfill(
        status=400, content_type="application/json",
        body=json.dumps({"error": {"code": "invalid_request", "message": DEVELOPER_TEXT}})))  # fmt: skip
    page.goto(f"{live_server}/?lang={lang}")
    draw_42(page)
    recognized_number(page)
    page.click("#feedback-wrong")
    page.fill("#feedback-number-input", "42")
    page.click("#feedback-number-send")
    status = page.locator("#feedback-status")
    expect(status).to_have_text(i18n.translate(lang, "js.error.invalid_request"))
    expect(status).not_to_contain_text("string of digits")


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_number_with_another_count_of_digits_is_said_not_to_count(open_page, live_server, lang):
    page = open_page(f"/?lang={lang}")
    draw_42(page)
    found = recognized_number(page)
    hint = page.locator("#feedback-number-count")
    page.click("#feedback-wrong")
    expect(hint).to_have_text(i18n.translate(lang, "js.feedback.number_count", count=found))
    typed = "7" * (found + 1)
    page.fill("#feedback-number-input", "7" * found)
    expect(hint).to_have_text(i18n.translate(lang, "js.feedback.number_count_match", count=found))
    page.fill("#feedback-number-input", typed)
    expect(hint).to_have_text(
        i18n.translate(lang, "js.feedback.number_count_mismatch", count=found, typed=len(typed))
    )
    with page.expect_response(lambda r: r.url.endswith("/feedback")) as answered:
        page.click("#feedback-number-send")
    assert answered.value.json()["counted"] == 0
    expect(page.locator("#feedback-status")).to_have_text(
        i18n.translate(lang, "js.feedback.number_not_counted", count=found, typed=len(typed))
    )
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_a_number_shows_both_models_readings_and_not_the_whole_canvas(open_page):
    page = open_page("/")
    draw_42(page)
    found = recognized_number(page)
    for part in ("#whole-preview", "#whole-reading", "#preview"):
        expect(page.locator(part)).to_be_hidden()
    for name in ("fnn", "cnn"):
        reading = page.locator(f"#{name}-number")
        expect(reading).to_be_visible()
        expect(reading).to_have_text(re.compile(rf"^[0-9?]{{{found}}}$"))
    assert page.console_errors == []  # type: ignore[attr-defined]


# -- no predict worker ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def idle_env(stack_env, redis_databases) -> dict[str, str]:
    """The stack's environment on a Redis database no worker reads."""
    return dict(stack_env, REDIS_URL=redis_databases())


@pytest.fixture(scope="module")
def idle_server(idle_env) -> Iterator[str]:
    """The real app, served as ``live_server`` is, with no predict worker on its queue."""
    with served_app(idle_env) as url:
        yield url


def open_idle(browser, url: str) -> Page:
    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="en-US")
    page = context.new_page()
    page.goto(url)
    return page


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_with_no_predict_worker_the_page_says_so_within_seconds(browser, idle_server, lang):
    page = open_idle(browser, f"{idle_server}/?lang={lang}")
    try:
        page.uncheck("#auto-recognize")
        draw_stroke(page, [(0.5, 0.15), (0.5, 0.85)])
        started = time.monotonic()
        page.click("#recognize")
        status = page.locator("#status")
        unavailable = i18n.translate(lang, "js.error.recognition_unavailable")
        expect(status).to_have_text(unavailable, timeout=10_000)
        assert time.monotonic() - started < 10
        expect(page.locator("#retry")).to_be_visible()
        expect(page.locator("#clear")).to_be_enabled()  # the drawing is kept
    finally:
        page.context.close()


def test_retry_recognizes_once_a_predict_worker_is_back(browser, idle_server, idle_env, workers):
    page = open_idle(browser, idle_server + "/")
    try:
        page.uncheck("#auto-recognize")
        draw_stroke(page, [(0.5, 0.15), (0.5, 0.85)])
        page.click("#recognize")
        expect(page.locator("#retry")).to_be_visible(timeout=10_000)
        workers.start(idle_env, "predict,samples", "worker")
        deadline = time.monotonic() + 30
        while page.locator("#retry").is_visible() and time.monotonic() < deadline:
            page.click("#retry")
            expect(page.locator("#status")).not_to_have_attribute(
                "data-state", re.compile("sending|queued|running"), timeout=15_000
            )
        expect(page.locator("#cnn-digit")).to_have_text("1")
        expect(page.locator("#retry")).to_be_hidden()
    finally:
        page.context.close()
