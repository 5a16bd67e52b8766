"""The Models page tells the truth at every step (issue #41): the latest training job,
whoever started it, with its real status; Start disabled, with the reason, when nothing
can train; a confirmation before anything changes what production serves; Roll back only
to versions that served; the race's progress in words; the admin token checked as it is
entered; and a versions table that fits a laptop screen.

GET /api/models answers in the browser with a fine-tuned history
(tests/browser/model_listings.py), as in test_models_page.py; the admin's POSTs that
would change production are answered in the browser too, and counted.
"""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect

from shared.names import MODEL_NAMES
from tests.browser.model_listings import fine_tuned_listing
from tests.helpers import ADMIN_TOKEN
from web import i18n

pytestmark = pytest.mark.browser
LANGS = ["en", "ru"]
JOB_ID = "ab" * 16


def job(status: str, reason: str = "samples", **fields: object) -> dict:
    """A training job record as GET /api/fine-tunes/<id> answers it."""
    return {"id": JOB_ID, "kind": "fine_tune", "status": status, "reason": reason,
            "created_at": time.time() - 60, "step": 0, "total": 0, **fields}  # fmt: skip


def race(version: int, pairs: int, needed: int = 200) -> dict:
    return {"version": version, "since": "2025-05-04T12:00:00+00:00", "pairs": pairs,
            "champion_only": 0, "challenger_only": pairs, "both_right": 0, "both_wrong": 0,
            "clients": 1, "discordant_clients": 1, "p_worse": 1.0, "p_better": 0.5,
            "decision": None, "reason": None, "by_day": [], "pairs_needed": needed}  # fmt: skip


@pytest.fixture()
def models_page(browser, live_server) -> Iterator[Callable[..., Page]]:
    """The Models page with a fine-tuned history changed by ``change(listing)``; the
    admin's POSTs are answered here and kept in ``page.posts``."""
    contexts = []

    def opener(lang: str = "en", admin: bool = False, change=None, **options: object) -> Page:
        options = {"viewport": {"width": 1280, "height": 800}, **options}
        context = browser.new_context(locale="en-US", **options)
        contexts.append(context)
        page = context.new_page()
        page.console_errors = []  # type: ignore[attr-defined]
        page.posts = []  # type: ignore[attr-defined]
        page.on("pageerror", lambda error: page.console_errors.append(str(error)))
        listing = fine_tuned_listing(page.request.get(live_server + "/api/models").json())
        if change is not None:
            change(listing)
        page.listing = listing  # type: ignore[attr-defined]

        def answer(route) -> None:
            if route.request.method == "GET":
                body = json.dumps(page.listing)  # type: ignore[attr-defined]
                route.fulfill(status=200, content_type="application/json", body=body)
                return
            page.posts.append((route.request.url, route.request.post_data))  # type: ignore[attr-defined]
            route.fulfill(status=200, content_type="application/json", body='{"models": {}}')

        page.route(re.compile(r"/api/models(/[^?]*)?(\?.*)?$"), answer)
        if admin:  # kept for the tab, as if entered before
            page.add_init_script(
                f"sessionStorage.setItem('digits.admin.token', {json.dumps(ADMIN_TOKEN)})"
            )
        page.goto(f"{live_server}/models?lang={lang}")
        expect(page.locator("#cnn-current")).to_have_text("v3")
        return page

    yield opener
    for context in contexts:
        context.close()


def every_model_racing(listing: dict) -> None:
    for name in MODEL_NAMES:
        listing["models"][name]["challenger"] = race(4, 30)
    listing["fine_tune_blocked"] = "all_racing"
    result = {"outcome": "skipped", "skipped": list(MODEL_NAMES), "models": {
        name: {"outcome": "skipped", "reason": "a challenger of this model is racing"}
        for name in MODEL_NAMES}}  # fmt: skip
    listing["latest_fine_tune"] = job("skipped", result=result, finished_at=time.time())


@pytest.mark.parametrize("lang", LANGS)
def test_an_automatic_skipped_fine_tune_is_shown_as_skipped_not_as_success(
    models_page, lang: str
) -> None:
    page = models_page(lang=lang, admin=True, change=every_model_racing)
    expect(page.locator("#fine-tune")).to_have_attribute("data-state", "skipped")
    expect(page.locator("#fine-tune-state")).to_have_text(
        i18n.translate(lang, "js.models.job.skipped")
    )
    origin = i18n.translate(lang, "js.models.job.by.samples", time="TIME").split("TIME")[0]
    expect(page.locator("#fine-tune-origin")).to_contain_text(origin)
    # Nothing trained: no bar at all, so no full green one.
    expect(page.locator("#fine-tune-progress")).to_be_hidden()
    assert "bg-success" not in (page.locator("#fine-tune-bar").get_attribute("class") or "")
    expect(page.locator("#start-fine-tune")).to_be_disabled()
    expect(page.locator("#start-reason")).to_have_text(
        i18n.translate(lang, "js.models.cannot.all_racing")
    )
    assert page.console_errors == []  # type: ignore[attr-defined]


def a_job_running(listing: dict) -> None:
    listing["latest_fine_tune"] = job("running", reason="admin", step=30, total=120, loss=0.2)
    listing["fine_tune"] = JOB_ID
    listing["fine_tune_blocked"] = "busy"


@pytest.mark.parametrize("lang", LANGS)
def test_start_is_disabled_with_the_reason_while_a_job_runs(models_page, lang: str) -> None:
    page = models_page(lang=lang, admin=True, change=a_job_running)
    record = json.dumps(page.listing["latest_fine_tune"])  # type: ignore[attr-defined]
    page.route(re.compile(r"/api/fine-tunes/\w+$"), lambda route: route.fulfill(
        status=200, content_type="application/json", body=record))  # fmt: skip
    expect(page.locator("#fine-tune")).to_have_attribute("data-state", "running")
    expect(page.locator("#fine-tune-progress")).to_have_attribute("aria-valuenow", "25")
    by_admin = i18n.translate(lang, "js.models.job.by.admin", time="TIME").split("TIME")[0]
    expect(page.locator("#fine-tune-origin")).to_contain_text(by_admin)
    expect(page.locator("#start-fine-tune")).to_be_disabled()
    expect(page.locator("#start-reason")).to_have_text(
        i18n.translate(lang, "js.models.cannot.busy")
    )
    assert page.console_errors == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("lang", LANGS)
def test_promote_asks_first_and_cancel_changes_nothing(models_page, lang: str) -> None:
    page = models_page(lang=lang, admin=True)
    promote = page.locator('#fnn-race button[data-decision="promoted"]')
    expect(promote).to_be_enabled()
    promote.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    fnn = i18n.translate(lang, "model.fnn")
    params = {"model": fnn, "version": 4, "current": 3}
    expect(dialog).to_have_accessible_name(
        i18n.translate(lang, "js.models.confirm.promoted.title", **params)
    )
    expect(dialog).to_contain_text(
        i18n.translate(lang, "js.models.confirm.promoted.text", **params)
    )
    expect(page.locator("#confirm-cancel")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    page.locator('#fnn-race button[data-decision="retired"]').click()
    expect(dialog).to_contain_text(i18n.translate(lang, "js.models.confirm.retired.text", **params))
    page.locator("#confirm-cancel").click()
    expect(dialog).to_be_hidden()
    assert page.posts == []  # type: ignore[attr-defined]
    promote.click()
    page.locator("#confirm-ok").click()
    expect(page.locator("#admin-status")).to_have_text(
        i18n.translate(lang, "js.models.decided.promoted", model=fnn)
    )
    assert [json.loads(body) for _, body in page.posts] == [{"decision": "promoted"}]  # type: ignore[attr-defined]
    assert page.console_errors == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("lang", LANGS)
def test_roll_back_is_offered_only_on_versions_that_served_and_asks_first(
    models_page, lang: str
) -> None:
    page = models_page(lang=lang, admin=True)
    for name, never_served in (("cnn", 4), ("fnn", 4)):  # rejected; a racing challenger
        row = page.locator(f'#{name}-versions tr[data-version="{never_served}"]')
        expect(row.locator("button.rollback")).to_have_count(0)
        for served in (1, 2):
            button = page.locator(f'#{name}-versions tr[data-version="{served}"] button.rollback')
            expect(button).to_be_enabled()
    page.locator('#cnn-versions tr[data-version="2"] button.rollback').click()
    cnn = i18n.translate(lang, "model.cnn")
    expect(page.get_by_role("dialog")).to_contain_text(
        i18n.translate(lang, "js.models.confirm.rollback.text", model=cnn, version=2, current=3)
    )
    page.locator("#confirm-ok").click()
    expect(page.locator("#admin-status")).to_have_text(
        i18n.translate(lang, "js.models.rolled_back", model=cnn, version=2)
    )
    urls = [url for url, _ in page.posts]  # type: ignore[attr-defined]
    assert len(urls) == 1 and urls[0].endswith("/api/models/cnn/rollback")
    assert page.console_errors == []  # type: ignore[attr-defined]


def one_pair(listing: dict) -> None:
    listing["models"]["fnn"]["challenger"] = race(4, 1)


@pytest.mark.parametrize("lang", LANGS)
def test_the_race_says_how_far_it_is_in_words_with_the_right_plural(models_page, lang: str) -> None:
    page = models_page(lang=lang, change=one_pair)
    text = page.locator("#fnn-race-text")
    one = i18n.translate(lang, "js.race.pairs", count=1)
    expect(text).to_contain_text(one)  # "1 labelled drawing", "1 размеченный рисунок"
    progress = i18n.translate(lang, "js.race.progress", pairs=one, needed=200, percent="P")
    expect(text).to_contain_text(progress.split("(P)")[0])
    expect(text).not_to_contain_text(re.compile(r"\bp (worse|better|хуже|лучше)\b"))
    expect(text).not_to_contain_text(re.compile(r"0[.,]5(?!\s?%)"))  # p better, 0.5
    assert page.console_errors == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("lang", LANGS)
def test_the_admin_token_is_checked_with_the_server_when_entered(models_page, lang: str) -> None:
    page = models_page(lang=lang)
    state = page.locator("#admin-state")
    page.fill("#admin-token", "not-" + ADMIN_TOKEN)
    page.press("#admin-token", "Enter")
    expect(state).to_have_text(i18n.translate(lang, "js.admin.token_refused"))
    page.fill("#admin-token", ADMIN_TOKEN)
    page.press("#admin-token", "Enter")
    expect(state).to_have_text(i18n.translate(lang, "js.admin.token_accepted"))
    page.reload()  # a kept token is checked again when the page opens
    expect(state).to_have_text(i18n.translate(lang, "js.admin.token_accepted"))
    assert page.console_errors == []  # type: ignore[attr-defined]


# The page's width, and the rollback buttons not wholly inside the window.
LAYOUT = """() => [
  document.documentElement.scrollWidth,
  [...document.querySelectorAll("button.rollback")]
    .map(b => b.getBoundingClientRect())
    .filter(r => r.left < 0 || r.right > window.innerWidth).length,
  [...document.querySelectorAll(".table-responsive")].filter(e => e.scrollWidth > e.clientWidth).length,
]"""


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("width", [1024, 1280])
def test_the_versions_table_fits_a_laptop_screen(models_page, lang: str, width: int) -> None:
    page = models_page(lang=lang, admin=True, viewport={"width": width, "height": 800})
    expect(page.locator("button.rollback").first).to_be_enabled()
    page_width, outside, scrolling = page.evaluate(LAYOUT)
    assert page_width <= width, "the page scrolls sideways"
    assert scrolling == 0, "a versions table scrolls sideways"
    assert outside == 0, "a Roll back button is out of view"
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_a_refused_start_says_why(models_page) -> None:
    """Started where nothing can train (the listing was older than the races): the server's
    409 and then the listing's reason, not a green "started"."""
    page = models_page(admin=True)
    page.listing = copy.deepcopy(page.listing)  # type: ignore[attr-defined]
    every_model_racing(page.listing)  # type: ignore[attr-defined]
    page.route(re.compile(r"/api/fine-tunes$"), lambda route: route.fulfill(
        status=409, content_type="application/json",
        body=json.dumps({"error": {"code": "conflict", "message": "every model races"}})))  # fmt: skip
    page.click("#start-fine-tune")
    expect(page.locator("#admin-status")).to_have_text(i18n.translate("en", "js.error.conflict"))
    expect(page.locator("#admin-status")).to_have_attribute("data-state", "error")
    expect(page.locator("#start-fine-tune")).to_be_disabled()
    expect(page.locator("#start-reason")).to_have_text(
        i18n.translate("en", "js.models.cannot.all_racing")
    )
    assert page.console_errors == []  # type: ignore[attr-defined]
