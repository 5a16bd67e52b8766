"""End to end in headless Chromium: draw with the mouse, see both models' answers."""

from __future__ import annotations

import base64
import io
import math
import re

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from tests.browser.pages import draw_stroke
from tests.helpers import ARTIFACTS
from tests.pad_strokes import YEAR_2024, K, as_shares
from tests.strokes import SEVEN_WITH_CROSSBAR, TWO, ZERO, leaning, shifted
from worker.trainer.tools.numbers import CANVAS_HEIGHT, CANVAS_WIDTH

pytestmark = pytest.mark.browser


@pytest.fixture()
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="en-US")
    page = context.new_page()
    page.console_errors = []  # type: ignore[attr-defined]
    page.on(
        "console",
        lambda message: message.type == "error" and page.console_errors.append(message.text),
    )
    page.on("pageerror", lambda error: page.console_errors.append(str(error)))
    yield page
    context.close()


def test_mouse_drawn_one_is_recognized_by_both_models(page, live_server):
    page.goto(live_server + "/")
    draw_stroke(page, [(0.5, 0.15), (0.5, 0.85)])
    with page.expect_request(
        lambda r: r.method == "POST" and r.url.endswith("/api/predictions")
    ) as sent:
        page.click("#recognize")
    # One round trip when the answer is quick; polling only after a 202.
    assert re.fullmatch(r"wait=\d+", sent.value.all_headers().get("prefer", ""))
    for name in ("cnn", "fnn"):
        expect(page.locator(f"#{name}-digit")).to_have_text(
            re.compile(r"^\s*[0-9]\s*$"), timeout=60_000
        )
    assert page.locator("#cnn-digit").inner_text().strip() == "1"
    assert page.locator("#fnn-digit").inner_text().strip() == "1"
    preview = page.locator("#preview")
    assert (preview.get_attribute("src") or "").startswith("data:image/png;base64,")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "draw-result.png"), full_page=True)
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_empty_canvas_shows_a_clear_message(page, live_server):
    page.goto(live_server + "/")
    page.click("#recognize")
    expect(page.locator("#status")).to_contain_text(re.compile("draw", re.IGNORECASE))


def test_automatic_mode_recognizes_a_moment_after_the_stroke_ends(page, live_server):
    page.goto(live_server + "/")
    page.check("#auto-recognize")
    draw_stroke(page, [(0.5, 0.15), (0.5, 0.85)])
    expect(page.locator("#cnn-digit")).to_have_text(re.compile(r"^\s*1\s*$"), timeout=60_000)
    assert page.console_errors == []  # type: ignore[attr-defined]


def draw_42(page: Page) -> None:
    """Draw 4 in two strokes, then 2, side by side on the 3:1 pad (x: a share of its width)."""
    draw_stroke(page, [(0.2, 0.15), (0.16, 0.6), (0.3, 0.6)])
    draw_stroke(page, [(0.26, 0.2), (0.26, 0.85)])
    draw_stroke(page, [(0.42, 0.3), (0.48, 0.15), (0.55, 0.3), (0.43, 0.85), (0.57, 0.85)])


def test_a_number_written_leaning_is_read_with_its_touching_digits_cut_apart(page, live_server):
    # 2007 leaning right, the two 0s touching: only a slanted cut parts them, so their
    # boxes overlap; the second 0's label goes under its box rather than over the first's.
    page.goto(live_server + "/")
    strokes = (
        shifted(leaning(TWO), 40)
        + shifted(leaning(ZERO), 200)
        + shifted(leaning(ZERO), 324)
        + shifted(leaning(SEVEN_WITH_CROSSBAR), 520)
    )
    for stroke in strokes:
        draw_stroke(page, [(x / CANVAS_WIDTH, y / CANVAS_HEIGHT) for x, y in stroke])
    page.click("#recognize")
    expect(page.locator("#pad-boxes rect")).to_have_count(4, timeout=60_000)
    assert page.locator("#number-text").inner_text().strip() == "2007"
    zeros = [page.locator("#pad-boxes rect").nth(i).bounding_box() for i in (1, 2)]
    assert zeros[0]["x"] + zeros[0]["width"] > zeros[1]["x"]  # the boxes overlap
    labels = [page.locator("#pad-boxes text").nth(i).bounding_box() for i in range(4)]
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            apart = a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
            assert apart or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#pad-frame").screenshot(path=str(ARTIFACTS / "number-leaning.png"))
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_a_number_drawn_on_the_page_shows_a_box_per_digit(page, live_server):
    page.goto(live_server + "/")
    draw_42(page)
    with page.expect_request(
        lambda r: r.method == "POST" and r.url.endswith("/api/predictions")
    ) as sent:
        page.click("#recognize")
    body = sent.value.post_data_json
    assert len(body["strokes"]) == 3 and all(len(point) == 3 for point in body["strokes"][0])
    expect(page.locator("#pad-boxes rect")).to_have_count(2, timeout=60_000)
    expect(page.locator("#number")).to_be_visible()
    expect(page.locator("#number-digits img")).to_have_count(2)
    expect(page.locator("#whole-reading")).to_be_hidden()
    assert page.locator("#number-text").inner_text().strip() == "42"
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#pad-frame").screenshot(path=str(ARTIFACTS / "number-42.png"))
    page.screenshot(path=str(ARTIFACTS / "draw-number.png"), full_page=True)
    # The verdict is on the whole number.
    page.click("#feedback-wrong")
    page.fill("#feedback-number-input", "42")
    with page.expect_response(lambda r: r.url.endswith("/feedback")) as answered:
        page.click("#feedback-number-send")
    assert answered.value.status == 202
    expect(page.locator("#feedback-status")).to_have_attribute("data-state", "done")
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_a_high_density_screen_draws_sharp_but_sends_the_pad_at_its_css_size(open_page):
    """A 2x screen gets a 2x bitmap to draw on, but the PNG (and the strokes) sent are at 1x:
    a quarter of the pixels for web to decode; the boxes still land on the digits."""
    page = open_page("/", device_scale_factor=2)
    draw_42(page)
    css = page.locator("#canvas").evaluate(
        "c => [c.getBoundingClientRect().width, c.getBoundingClientRect().height, "
        "c.width, c.height]"
    )
    assert css[2] == round(css[0] * 2) and css[3] == round(css[1] * 2)  # drawn at 2x
    with page.expect_request(
        lambda r: r.method == "POST" and r.url.endswith("/api/predictions")
    ) as sent:
        page.click("#recognize")
    body = sent.value.post_data_json
    png = base64.b64decode(body["image"].split(",", 1)[1])
    with Image.open(io.BytesIO(png)) as image:
        width, height = image.size
        assert image.getchannel("A").getbbox() is not None  # with the drawing on it
    assert (width, height) == (round(css[0]), round(css[1]))  # sent at 1x
    points = [point for stroke in body["strokes"] for point in stroke]
    assert max(x for x, _, _ in points) <= width and max(y for _, y, _ in points) <= height
    assert max(x for x, _, _ in points) > width / 2  # the 2's right end, at 1x
    expect(page.locator("#pad-boxes rect")).to_have_count(2, timeout=60_000)
    assert page.locator("#number-text").inner_text().strip() == "42"
    # The boxes sit over the digits: the 4 in the left third, the 2 right of it.
    boxes = page.locator("#pad-boxes rect").evaluate_all(
        "rects => rects.map(r => { const b = r.getBoundingClientRect(); "
        "return [b.left, b.right]; })"
    )
    pad = page.locator("#canvas").bounding_box()
    assert pad is not None
    shares = sorted(((a - pad["x"]) / pad["width"], (b - pad["x"]) / pad["width"])
                    for a, b in boxes)  # fmt: skip
    assert 0.1 < shares[0][0] < 0.2 and 0.25 < shares[0][1] < 0.4
    assert 0.35 < shares[1][0] < 0.45 and 0.5 < shares[1][1] < 0.65
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_a_face_drawn_on_the_page_is_shown_as_not_a_digit(page, live_server):
    page.goto(live_server + "/")
    # A face on the left of the 3:1 pad: a round head (x is a share of the width), two eyes
    # and a smile, so it stays one group of strokes.
    head = [(0.2 + 0.1 * math.cos(a / 12 * math.pi), 0.5 + 0.38 * math.sin(a / 12 * math.pi))
            for a in range(25)]  # fmt: skip
    draw_stroke(page, head)
    draw_stroke(page, [(0.165, 0.38), (0.166, 0.44)])
    draw_stroke(page, [(0.235, 0.38), (0.236, 0.44)])
    draw_stroke(page, [(0.16, 0.6), (0.2, 0.7), (0.24, 0.6)])
    page.click("#recognize")
    for name in ("cnn", "fnn"):
        expect(page.locator(f"#{name}-digit")).to_have_text("Not a digit", timeout=60_000)
        expect(page.locator(f"#{name}-digit")).to_have_class(re.compile("is-refused"))
        expect(page.locator(f"#{name}-not-digit")).to_have_text(re.compile(r"Not a digit: [<>]?\d"))
    # Not a digit is not a number either: said plainly, not as a green "Done".
    expect(page.locator("#status")).to_have_text("This does not look like a number.")
    expect(page.locator("#status")).to_have_attribute("data-state", "info")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "draw-not-a-digit.png"), full_page=True)
    # Both models agree, so "Correct" confirms it: the label sent is null, "not a digit".
    with page.expect_request(lambda r: r.url.endswith("/feedback")) as sent:
        page.click("#feedback-correct")
    assert sent.value.post_data_json["label"] is None
    expect(page.locator("#feedback-status")).to_have_attribute("data-state", "done")
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_a_k_drawn_on_the_pad_is_said_plainly_not_to_look_like_a_number(page, live_server):
    page.goto(live_server + "/")
    for stroke in as_shares(K):
        draw_stroke(page, stroke)
    page.click("#recognize")
    status = page.locator("#status")
    expect(status).to_have_text("This does not look like a number.", timeout=60_000)
    # Not a green "Done": a plain note, in the status region screen readers follow.
    expect(status).to_have_attribute("data-state", "info")
    expect(status).not_to_have_class(re.compile("alert-success"))
    assert status.get_attribute("role") == "status"
    expect(page.locator("#result")).to_be_visible()
    if page.locator("#number").is_visible():  # found as parts: the number says so too
        expect(page.locator("#number-text")).to_have_text("Not a number")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "draw-not-a-number.png"), full_page=True)
    # The same feedback as for a drawing that is not a digit: "Correct" sends label null.
    with page.expect_request(lambda r: r.url.endswith("/feedback")) as sent:
        page.click("#feedback-correct")
    assert sent.value.post_data_json["label"] is None
    expect(page.locator("#feedback-status")).to_have_attribute("data-state", "done")
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_a_2024_drawn_on_the_pad_still_reads_2024(page, live_server):
    page.goto(live_server + "/")
    for stroke in as_shares(YEAR_2024):
        draw_stroke(page, stroke)
    page.click("#recognize")
    expect(page.locator("#pad-boxes rect")).to_have_count(4, timeout=60_000)
    expect(page.locator("#number-text")).to_have_text("2024")
    expect(page.locator("#status")).to_have_text("Done: the number reads 2024.")
    expect(page.locator("#status")).to_have_attribute("data-state", "done")
    assert page.console_errors == []  # type: ignore[attr-defined]


#: Per region of the pad (shares of its width), how many opaque pixels of each colour.
COLOURS_IN = """(canvas, regions) => {
  const { width, height } = canvas;
  const { data } = canvas.getContext("2d").getImageData(0, 0, width, height);
  return regions.map(([from, to]) => {
    const counts = {};
    for (let y = 0; y < height; y++) {
      for (let x = Math.round(from * width); x < Math.round(to * width); x++) {
        const i = 4 * (y * width + x);
        if (data[i + 3] !== 255) continue;
        const key = `rgb(${data[i]}, ${data[i + 1]}, ${data[i + 2]})`;
        counts[key] = (counts[key] || 0) + 1;
      }
    }
    return counts;
  });
}"""
#: The page's ink, #111.
INK = "rgb(17, 17, 17)"


def main_colours(page: Page, regions: list[tuple[float, float]]) -> list[str]:
    """The commonest opaque colour of the pad's bitmap in each region."""
    counts = page.locator("#canvas").evaluate(COLOURS_IN, regions)
    return [max(found, key=found.get) for found in counts]


def digit_colours(page: Page, count: int) -> list[str]:
    """The first ``count`` colours of the digits' palette (digits.css), as rgb()."""
    palette = page.locator("#canvas").evaluate(
        "(c, count) => Array.from({ length: count }, (_, i) =>"
        " getComputedStyle(c).getPropertyValue(`--digits-stroke-${i + 1}`).trim())",
        count,
    )
    return ["rgb({}, {}, {})".format(*(int(h[i : i + 2], 16) for i in (1, 3, 5))) for h in palette]


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_each_digit_of_a_number_is_coloured_on_the_pad_but_sent_in_ink(open_page, theme):
    page = open_page("/", color_scheme=theme)
    page.locator("#auto-recognize").uncheck()
    draw_42(page)
    regions = [(0.14, 0.32), (0.4, 0.6)]  # the 4, the 2
    assert main_colours(page, regions) == [INK, INK]
    page.click("#recognize")
    expect(page.locator("#number-text")).to_have_text("42", timeout=60_000)
    expected = digit_colours(page, 2)  # coloured as the answer shows, in the same task
    assert main_colours(page, regions) == expected
    assert expected[0] != expected[1] and INK not in expected
    # Asked again, the same drawing goes in ink: the colours are for the eye only.
    with page.expect_request(
        lambda r: r.method == "POST" and r.url.endswith("/api/predictions")
    ) as sent:
        page.click("#recognize")
    png = base64.b64decode(sent.value.post_data_json["image"].split(",", 1)[1])
    with Image.open(io.BytesIO(png)) as image:
        rgba = np.asarray(image.convert("RGBA")).astype(int)
    opaque = rgba[rgba[..., 3] >= 250][:, :3]
    assert len(opaque) and np.abs(opaque - 17).max() <= 2
    # A stroke more changes the drawing: the ink comes back.
    draw_stroke(page, [(0.7, 0.2), (0.7, 0.8)])
    assert main_colours(page, regions) == [INK, INK]
    assert page.console_errors == []  # type: ignore[attr-defined]
