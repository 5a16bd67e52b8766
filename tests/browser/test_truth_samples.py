"""The Samples, Forget and Draw pages tell the truth (issue #41): a private gallery is not
asked for, the two per-collector counts agree, "Not a digit" fits its row, the Forget page
shows the drawing it deletes, and a box's label stays inside the pad."""

from __future__ import annotations

import json
import re
import time
import urllib.request
import uuid

import pytest
from playwright.sync_api import Route, expect

from shared.imaging import render_canvas_png
from tests.browser.pages import draw_stroke
from tests.browser.test_truth_draw import recognized_number
from tests.helpers import ADMIN, ADMIN_TOKEN, data_url
from web import i18n

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}
WIDE = {"width": 1280, "height": 900}


def private_page(route: Route) -> None:
    """The Samples page as a server without PUBLIC_GALLERY renders it."""
    response = route.fetch()
    body = response.text().replace('data-public-gallery="true"', 'data-public-gallery="false"')
    route.fulfill(response=response, body=body)


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_private_gallery_is_not_asked_for_without_the_token(open_page, live_server, lang):
    page = open_page("/about")
    asked: list[str] = []
    page.on(
        "request",
        lambda request: (
            re.search(r"/api/samples\?", request.url)
            and "authorization" not in request.headers
            and asked.append(request.url)
        ),
    )
    page.route(re.compile(r"/samples\?lang="), private_page)
    page.goto(f"{live_server}/samples?lang={lang}")
    summary = page.locator("#samples-summary")
    expect(summary).to_have_text(i18n.translate(lang, "js.error.private_gallery"))
    expect(page.locator("#counts-table td[data-source='all']").first).to_have_text(
        re.compile(r"\d")
    )
    page.fill("#admin-token", ADMIN_TOKEN)  # the token opens it
    expect(summary).to_have_text(re.compile(r"\d|" + i18n.translate(lang, "js.samples.none")))
    page.fill("#admin-token", "")
    expect(summary).to_have_text(i18n.translate(lang, "js.error.private_gallery"))
    assert asked == []
    assert page.console_errors == []  # type: ignore[attr-defined]


def _post(url: str, body: dict[str, object], headers: dict[str, str]) -> dict[str, object]:
    data = json.dumps(body).encode()
    sent = urllib.request.Request(url, data, {"Content-Type": "application/json", **headers})
    with urllib.request.urlopen(sent, timeout=10) as answer:
        return json.loads(answer.read())


def _collector_samples(live_server: str, name: str) -> int:
    with urllib.request.urlopen(f"{live_server}/api/samples/counts", timeout=10) as answer:
        return int(json.loads(answer.read())["per_collector"].get(name, 0))


def test_the_two_per_collector_counts_agree(open_page, live_server, mnist_sample):
    page = open_page("/about")
    name = f"eve-{uuid.uuid4().hex[:6]}"
    issued = _post(f"{live_server}/api/collectors", {"name": name}, ADMIN)
    image = data_url(render_canvas_png(mnist_sample["x_test"][0]))
    sent = [False]

    def save_one_first(route: Route) -> None:
        """A sample of the collector's arrives while the page asks for the collectors."""
        if route.request.method == "GET" and not sent[0]:
            sent[0] = True
            token = {"X-Collector-Token": str(issued["token"])}
            _post(f"{live_server}/api/samples", {"image": image, "label": 7}, token)
            deadline = time.monotonic() + 20
            while _collector_samples(live_server, name) < 1 and time.monotonic() < deadline:
                time.sleep(0.1)
        route.continue_()

    page.route(re.compile(r"/api/collectors$"), save_one_first)
    page.goto(live_server + "/samples")
    expect(page.locator("#counts-collectors-list li", has_text=name)).to_have_count(1)
    page.fill("#admin-token", ADMIN_TOKEN)
    listed = page.locator(f'#collectors-list li[data-name="{name}"] [data-slot="samples"]')
    expect(listed).to_have_text(i18n.translate("en", "js.models.samples", count=1))
    counted = page.locator("#counts-collectors-list li", has_text=name)
    expect(counted).to_have_text(re.compile(rf"^{re.escape(name)}\s*1$"))
    assert sent[0]
    assert page.console_errors == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("lang", ["en", "ru"])
@pytest.mark.parametrize("viewport", [WIDE, PHONE], ids=["1280", "390"])
def test_not_a_digit_fits_on_one_line(open_page, lang, viewport):
    page = open_page(f"/samples?lang={lang}", viewport=viewport)
    expect(page.locator("#counts-table td[data-source='all']").first).to_have_text(
        re.compile(r"\d")
    )
    none = page.locator('#counts-table tr[data-label="none"] th').bounding_box()
    zero = page.locator('#counts-table tr[data-label="0"] th').bounding_box()
    assert none and zero and none["height"] <= zero["height"] + 1
    table = page.locator("#counts-table").bounding_box()
    card = page.locator("section[aria-labelledby='counts-title'] .card-body").bounding_box()
    assert table and card and table["x"] + table["width"] <= card["x"] + card["width"] + 1


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_forget_shows_the_drawing_and_keeps_the_id(open_page, live_server, mnist_sample, lang):
    page = open_page("/about")
    image = data_url(render_canvas_png(mnist_sample["x_test"][5]))
    saved = page.request.post(f"{live_server}/api/samples", data={"image": image, "label": 1})
    sample = saved.json()
    page.goto(f"{live_server}/forget?lang={lang}#{sample['id']}.{sample['delete_token']}")
    drawing = page.locator("#forget-image")
    expect(drawing).to_be_visible(timeout=20_000)
    expect(drawing).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    expect(drawing).to_have_attribute("alt", i18n.translate(lang, "js.forget.image_alt"))
    expect(page.locator("#forget-id")).to_have_text(sample["id"])
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_a_label_at_the_right_edge_stays_inside_the_pad(open_page):
    page = open_page("/")
    draw_stroke(page, [(0.3, 0.15), (0.3, 0.85)])
    draw_stroke(page, [(0.985, 0.15), (0.985, 0.85)])
    assert recognized_number(page) >= 2
    pad = page.locator("#pad-boxes").bounding_box()
    assert pad is not None
    for label in page.locator("#pad-boxes text").all():
        box = label.bounding_box()
        assert (
            box
            and pad["x"] - 1 <= box["x"]
            and box["x"] + box["width"] <= pad["x"] + pad["width"] + 1
        )
    assert page.console_errors == []  # type: ignore[attr-defined]
