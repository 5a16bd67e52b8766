"""The whole site in headless Chromium against the real stack: phone drawing, feedback,
collection into the store, undo, Russian, and every page without a console error.

Each test opens its own browser context. The CSP forbids eval, so waiting is done with
``expect`` on locators, never ``page.wait_for_function`` with a string.
"""

from __future__ import annotations

import io
import json
import re
import time
import uuid

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page, Response, expect

from shared.imaging import render_canvas_png
from tests.browser.pages import PAGE_READY, draw_stroke, touch_drag
from tests.helpers import ADMIN, ADMIN_TOKEN, ARTIFACTS, data_url
from tests.processes import wait_for
from web import i18n

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1200, "height": 900}
PHONE = {"width": 390, "height": 844}
PAGES = ["/", "/collect", "/models", "/samples", "/stats", "/about"]
ONE = [(0.5, 0.15), (0.5, 0.85)]


def expect_answers(page: Page) -> None:
    for name in ("fnn", "cnn"):
        expect(page.locator(f"#{name}-digit")).to_have_text(
            re.compile(r"^\s*\d\s*$"), timeout=30_000
        )


def ink(page: Page) -> int:
    """Dark pixels on the drawing pad, from a screenshot of the canvas element."""
    shot = Image.open(io.BytesIO(page.locator("#canvas").screenshot())).convert("L")
    return int((np.asarray(shot) < 128).sum())


def test_touch_drawing_on_a_phone_is_recognized_and_does_not_scroll(open_page) -> None:
    page = open_page("/", viewport=PHONE, has_touch=True, is_mobile=True)
    touch_drag(page, ONE)
    expect(page.locator("#undo")).to_be_enabled()
    # Chromium's gesture detector drops a tap that lands within a few hundred ms of the
    # previous touch ending (seen as the second half of a double tap); a person's finger
    # is never that quick, so wait like one.
    page.wait_for_timeout(800)
    page.locator("#recognize").tap()
    expect_answers(page)
    assert page.locator("#cnn-digit").inner_text().strip() == "1"
    # With the answers shown the page is taller than the phone, so a finger dragged up
    # the pad would scroll it, were the pad not drawing instead.
    assert page.evaluate("document.documentElement.scrollHeight") > PHONE["height"]
    before, strokes_ink = page.evaluate("window.scrollY"), ink(page)
    touch_drag(page, [(0.3, 0.9), (0.3, 0.1)])
    assert page.evaluate("window.scrollY") == before
    assert ink(page) > strokes_ink
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_wrong_answer_with_consent_is_thanked_and_promised_for_training(open_page) -> None:
    page = open_page("/")
    draw_stroke(page, ONE)
    page.click("#recognize")
    expect_answers(page)
    if page.locator("#feedback-wrong").is_visible():  # the models agree: open the picker
        page.click("#feedback-wrong")
    page.check("#feedback-consent")
    page.click("#feedback-digit-7")
    status = page.locator("#feedback-status")
    expect(status).to_have_attribute("data-state", "done")
    expect(status).to_have_text(i18n.translate("en", "js.feedback.used"))
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_feedback_with_consent_shows_a_delete_link_for_the_drawing(open_page) -> None:
    page = open_page("/")
    draw_stroke(page, ONE)
    page.click("#recognize")
    expect_answers(page)
    expect(page.locator("#feedback-forget")).to_be_hidden()
    if page.locator("#feedback-wrong").is_visible():
        page.click("#feedback-wrong")
    page.check("#feedback-consent")
    with page.expect_response(re.compile(r"/feedback$")) as answer:
        page.click("#feedback-digit-7")
    [deletion] = answer.value.json()["deletions"]
    link = page.locator("#feedback-forget-links a")
    expect(link).to_have_count(1)
    expect(link).to_have_text(i18n.translate("en", "js.forget.link"))
    expect(link).to_have_attribute("href", f"/forget#{deletion['id']}.{deletion['delete_token']}")
    expect(link).to_have_attribute("target", "_blank")
    assert page.console_errors == []  # type: ignore[attr-defined]


def save_a_four(page: Page) -> Response:
    """Choose 4 on the Collect page, draw a 4 in two strokes, save it: the API's answer."""
    page.keyboard.press("4")
    draw_stroke(page, [(0.3, 0.2), (0.3, 0.55), (0.7, 0.55)])
    draw_stroke(page, [(0.6, 0.2), (0.6, 0.85)])
    with page.expect_response(re.compile(r"/api/samples$")) as answer:
        page.click("#save")
    return answer.value


def test_collected_sample_is_saved_in_the_store(open_page, stack_env) -> None:
    from shared.dataset.samples import meta_key
    from shared.storage import open_store

    page = open_page("/collect")
    answer = save_a_four(page)
    assert answer.status == 202
    sample_id = answer.json()["id"]
    expect(page.locator("#saved-count")).to_have_text("1")

    store = open_store(stack_env["STORAGE_URL"], stack_env["S3_ENDPOINT_URL"])
    deadline = time.monotonic() + 20
    while not store.exists(meta_key(sample_id)):
        assert time.monotonic() < deadline, "the sample never reached the store"
        time.sleep(0.2)
    meta = json.loads(store.get_bytes(meta_key(sample_id)))
    assert (meta["label"], meta["source"]) == (4, "collect")


def test_collected_sample_is_deleted_through_its_link(open_page, live_server, stack_env) -> None:
    from shared.dataset.samples import meta_key
    from shared.storage import open_store

    page = open_page("/collect")
    answer = save_a_four(page)
    sample_id, token = answer.json()["id"], answer.json()["delete_token"]
    expect(page.locator("#status")).to_have_text(i18n.translate("en", "js.collect.saved", label=4))
    link = page.locator("#forget-last-link")
    expect(link).to_have_attribute("href", f"/forget#{sample_id}.{token}")
    expect(link).to_have_attribute("target", "_blank")
    page.keyboard.press("5")  # the next round rewrites the status line, not the link
    expect(link).to_be_visible()

    # At once, as a person might: the worker may not have stored it yet (409, retried).
    page.goto(live_server + link.get_attribute("href"))
    expect(page.locator("#forget-id")).to_have_text(sample_id)
    expect(page).to_have_url(f"{live_server}/forget")  # the secret left the address bar
    page.click("#forget-delete")
    status = page.locator("#forget-status")
    expect(status).to_have_attribute("data-state", "done", timeout=20_000)
    expect(status).to_have_text(i18n.translate("en", "js.forget.deleted"))
    expect(page.locator("#forget-delete")).to_be_disabled()

    store = open_store(stack_env["STORAGE_URL"], stack_env["S3_ENDPOINT_URL"])
    assert not store.exists(meta_key(sample_id))
    moderated = page.request.patch(
        f"{live_server}/api/samples/{sample_id}", data={"hidden": True}, headers=ADMIN
    )
    assert moderated.status == 404  # the admin's API knows it no more
    assert page.console_errors == []  # type: ignore[attr-defined]


def count_in(page: Page, label: str, source: str) -> int:
    """A figure of the Samples page's counts table, once the page has filled it."""
    cell = page.locator(f'#counts-table tr[data-label="{label}"] td[data-source="{source}"]')
    expect(cell).to_have_text(re.compile(r"^\d"))
    return int(cell.inner_text().replace(",", ""))


def test_admin_hides_a_sample_from_its_tile_and_the_counts_follow(
    open_page, live_server, mnist_sample
) -> None:
    page = open_page("/about")
    image = data_url(render_canvas_png(mnist_sample["x_test"][3]))
    saved = page.request.post(f"{live_server}/api/samples", data={"image": image, "label": 3})
    assert saved.status == 202
    sample_id = saved.json()["id"]
    wait_for(
        lambda: sample_id in {
            s["id"] for s in page.request.get(f"{live_server}/api/samples?label=3").json()["samples"]
        },
        30,
        "the new sample in the listing",
    )  # fmt: skip

    page.goto(live_server + "/samples")
    page.select_option("#filter-label", "3")
    tile = page.locator(f'#samples-grid li[data-id="{sample_id}"]')
    expect(tile).to_be_visible()
    expect(tile.locator('[data-slot="hide"]')).to_be_hidden()  # no token, no moderation
    threes = count_in(page, "3", "collect")
    hidden_before = int(page.locator("#counts-hidden").inner_text().replace(",", ""))

    page.fill("#admin-token", ADMIN_TOKEN)
    expect(page.locator("#filter-hidden")).to_be_enabled()
    tile.locator('[data-slot="hide"]').click()
    expect(page.locator("#admin-status")).to_have_attribute("data-state", "done")
    expect(tile).to_have_count(0)
    expect(page.locator('#counts-table tr[data-label="3"] td[data-source="collect"]')).to_have_text(
        f"{threes - 1:,}"
    )
    expect(page.locator("#counts-hidden")).to_have_text(f"{hidden_before + 1:,}")

    page.check("#filter-hidden")  # the admin's listing of hidden samples has it, to show again
    expect(tile.locator('[data-slot="hide"]')).to_have_text(i18n.translate("en", "js.samples.show"))
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_forget_page_refuses_a_wrong_or_cut_off_link_in_words(
    open_page, live_server, mnist_sample
) -> None:
    page = open_page("/forget#abc")
    expect(page.locator("#forget-status")).to_have_text(i18n.translate("en", "js.forget.no_link"))
    expect(page.locator("#forget-delete")).to_be_disabled()
    image = data_url(render_canvas_png(mnist_sample["x_test"][3]))
    saved = page.request.post(f"{live_server}/api/samples", data={"image": image, "label": 3})
    page.goto(f"{live_server}/forget#{saved.json()['id']}.not-the-token")
    page.click("#forget-delete")
    expect(page.locator("#forget-status")).to_have_text(
        i18n.translate("en", "js.error.wrong_delete_token"), timeout=20_000
    )
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_private_gallery_is_explained_and_opens_with_the_admin_token(
    open_page, live_server
) -> None:
    """As a server without PUBLIC_GALLERY answers: the listing is the admins' alone."""
    private = json.dumps({"error": {"code": "private_gallery", "message": "admins only"}})

    def gallery(route) -> None:
        if "authorization" in route.request.headers:
            route.continue_()
        else:
            route.fulfill(status=401, content_type="application/json", body=private)

    page = open_page("/about")
    page.route(re.compile(r"/api/samples\?"), gallery)
    page.goto(live_server + "/samples")
    summary = page.locator("#samples-summary")
    expect(summary).to_have_text(i18n.translate("en", "js.error.private_gallery"))
    expect(page.locator("#samples-grid li")).to_have_count(0)
    page.fill("#admin-token", ADMIN_TOKEN)
    expect(summary).to_have_text(re.compile(r"newest first|No samples"))
    page.fill("#admin-token", "")
    expect(summary).to_have_text(i18n.translate("en", "js.error.private_gallery"))
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_collector_token_on_the_collect_page_attributes_the_sample(open_page, live_server) -> None:
    page = open_page("/collect")
    name = f"ada-{uuid.uuid4().hex[:6]}"
    issued = page.request.post(f"{live_server}/api/collectors", data={"name": name}, headers=ADMIN)
    assert issued.status == 201
    page.click("#collector summary")
    page.fill("#collector-token", issued.json()["token"])
    page.click('label[for="label-4"]')  # not the key: the token field has the focus
    draw_stroke(page, [(0.3, 0.2), (0.3, 0.55), (0.7, 0.55)])
    draw_stroke(page, [(0.6, 0.2), (0.6, 0.85)])
    with page.expect_response(re.compile(r"/api/samples$")) as answer:
        page.click("#save")
    assert answer.value.status == 202 and answer.value.json()["collector"] == name
    status = page.locator("#status")
    expect(status).to_have_attribute("data-state", "saved")
    expect(status).to_have_text(
        i18n.translate("en", "js.collect.saved_as", label=4, collector=name)
    )
    page.reload()  # the token is kept in the browser, shown unfolded
    expect(page.locator("#collector-token")).to_be_visible()
    expect(page.locator("#collector-token")).to_have_value(issued.json()["token"])
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_undo_removes_the_last_stroke(open_page) -> None:
    page = open_page("/")
    # The pad's own ink only: an automatic answer would frame the strokes with its boxes.
    page.locator("#auto-recognize").uncheck()
    draw_stroke(page, ONE)
    one_stroke = ink(page)
    draw_stroke(page, [(0.2, 0.5), (0.8, 0.5)])
    assert ink(page) > one_stroke * 1.3
    page.click("#undo")
    assert abs(ink(page) - one_stroke) <= one_stroke * 0.05
    page.click("#undo")
    assert ink(page) == 0
    expect(page.locator("#undo")).to_be_disabled()


def test_undoing_every_stroke_forgets_the_answer_and_its_boxes(open_page) -> None:
    page = open_page("/")
    draw_stroke(page, ONE)  # recognized automatically: a box over the drawing
    expect(page.locator("#pad-boxes rect")).to_have_count(1, timeout=30_000)
    page.click("#undo")
    expect(page.locator("#pad-boxes rect")).to_have_count(0)
    expect(page.locator("#result")).to_be_hidden()
    assert ink(page) == 0
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_switching_to_russian_translates_this_and_later_pages(open_page, live_server) -> None:  # noqa: F811
    page = open_page("/")
    page.click("#lang-ru")
    expect(page.locator("h1")).to_have_text(i18n.translate("ru", "draw.title"))
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    page.goto(live_server + "/stats")
    expect(page.locator("h1")).to_have_text(i18n.translate("ru", "stats.title"))
    expect(page.locator("#chart-samples-title")).to_have_text(
        i18n.translate("ru", "stats.chart.samples")
    )
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_models_page_lists_each_version_with_counts_in_russian(open_page, live_server) -> None:  # noqa: F811
    """The rows come from the page's <template>; counts take the Russian plural forms."""
    page = open_page("/models?lang=ru")
    listing = page.request.get(live_server + "/api/models").json()["models"]["cnn"]
    versions = {v["version"]: v for v in listing["versions"]}
    count = i18n.translate("ru", "js.models.version_count", count=len(versions))
    expect(page.locator("#cnn-count")).to_have_text(count)
    rows = page.locator("#cnn-versions tr[data-version]")
    expect(rows).to_have_count(len(versions))
    current = page.locator(f'#cnn-versions tr[data-version="{listing["current"]}"]')
    expect(current.locator('[data-slot="current"]')).to_be_visible()
    expect(current.locator("button.rollback")).to_have_count(0)
    first = versions[1].get("card", {}).get("data", {}).get("train_digits", 60000)
    trained = i18n.translate("ru", "js.models.mnist_digits", count=first)
    # Babel and Intl group digits with a no-break space; match any space there.
    expect(page.locator('#cnn-versions tr[data-version="1"] [data-slot="trained"]')).to_have_text(
        re.compile("^" + re.escape(trained).replace("\xa0", r"\s") + "$")
    )
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_wrong_admin_token_is_refused_in_words(open_page) -> None:
    page = open_page("/models")
    page.fill("#admin-token", "not-" + ADMIN_TOKEN)
    page.click("#start-fine-tune")
    expect(page.locator("#admin-status")).to_have_text(
        i18n.translate("en", "js.error.unauthorized")
    )
    page.reload()  # the token is kept for the tab
    expect(page.locator("#admin-token")).to_have_value("not-" + ADMIN_TOKEN)
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_every_page_opens_without_console_errors(open_page, live_server) -> None:  # noqa: F811
    page = open_page("/")
    ARTIFACTS.mkdir(exist_ok=True)
    for path in PAGES:
        page.goto(live_server + path)
        selector, text = PAGE_READY[path]
        if text is None:
            expect(page.locator(selector)).to_be_attached()
        else:
            expect(page.locator(selector)).to_have_text(text)
        name = path.strip("/") or "draw"
        page.screenshot(path=str(ARTIFACTS / f"page-{name}.png"), full_page=True)
        assert page.console_errors == [], path  # type: ignore[attr-defined]
