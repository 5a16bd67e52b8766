"""axe-core on every page, in light and dark, on a desktop and a phone: no serious finding.

One browser context per viewport and theme visits every page, the Draw page again with an
answer shown, the Samples and Models pages again as the admin (they show more controls),
and the Models page with a fine-tuned history (its deltas, rollback buttons and a race).
Feedback through the API first gives the Stats page charts and a confusion matrix.
The CSP forbids injecting axe's script, so these contexts bypass it.

axe's results at the "serious" and "critical" levels fail the test, each listed with its
rule, element and what to fix; so does a one-character text whose contrast axe measured
too low (it calls those "incomplete").
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import httpx
import numpy as np
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect

from shared.imaging import render_canvas_png
from tests.browser.model_listings import fine_tuned_listing, route_listing
from tests.browser.pages import PAGE_READY, draw_stroke
from tests.helpers import ADMIN_TOKEN, data_url

pytestmark = pytest.mark.browser

DESKTOP = {"viewport": {"width": 1200, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
#: Findings of these impacts fail the test; "moderate" and "minor" ones are not counted.
SERIOUS = {"serious", "critical"}
ONE = [(0.5, 0.15), (0.5, 0.85)]


axe = Axe()
AXE_OPTIONS = {
    "resultTypes": ["violations", "incomplete"],
    # Off by default as experimental: a button's name must contain the words it shows
    # (speech control users say what they see).
    "rules": {"label-content-name-mismatch": {"enabled": True}},
}


@pytest.fixture(scope="module")
def feedback_given(live_server: str, mnist_sample: dict[str, np.ndarray]) -> None:
    """Answers and feedback on a dozen MNIST digits, some of them marked wrong, so the
    Stats page has accuracy charts and a confusion matrix with strong and weak cells; and
    a collected sample, so the Samples page has a tile with the admin's buttons."""
    with httpx.Client(base_url=live_server, timeout=30) as api:
        image = data_url(render_canvas_png(mnist_sample["x_test"][0]))
        saved = api.post("/api/samples", json={"image": image, "label": 7})
        assert saved.status_code == 202, saved.text
        deadline = time.monotonic() + 60
        while not api.get("/api/samples?label=7").json()["samples"]:
            assert time.monotonic() < deadline, "the collected sample never reached the listing"
            time.sleep(0.2)
        for index in range(12):
            digit = mnist_sample["x_test"][index]
            truth = int(mnist_sample["y_test"][index])
            answer = api.post(
                "/api/predictions",
                json={"image": data_url(render_canvas_png(digit))},
                headers={"Prefer": "wait=5"},
            )
            assert answer.status_code in (200, 202), answer.text
            job = answer.json()
            deadline = time.monotonic() + 60
            while job.get("status") not in ("done", "failed"):
                assert time.monotonic() < deadline, f"prediction {job['id']} never finished"
                job = api.get(f"/api/predictions/{job['id']}?wait=5").json()
            assert job["status"] == "done", job
            label = truth if index % 4 else (truth + 1) % 10  # every fourth one disputed
            given = api.post(
                f"/api/predictions/{job['id']}/feedback", json={"label": label, "consent": False}
            )
            assert given.status_code == 202, given.text


def open_context(browser: Browser, **options: object) -> BrowserContext:
    """A context axe can be injected into (CSP bypassed). With reduced motion Bootstrap's
    transitions and Chart.js's animations are off, so axe never measures a colour halfway
    through a change (a button fading in as it is enabled)."""
    return browser.new_context(locale="en-US", bypass_csp=True, reduced_motion="reduce", **options)


def wait_ready(page: Page, path: str) -> None:
    selector, text = PAGE_READY[path.split("?")[0]]
    if text is None:
        expect(page.locator(selector).first).to_be_attached()
    else:
        expect(page.locator(selector)).to_have_text(text, timeout=20_000)


def short_text_contrast(node: dict) -> str | None:
    """axe leaves a one-character text (a count in a confusion-matrix cell) "incomplete",
    though it measured its contrast: the measure, when it falls short of the ratio the
    text needs (else None)."""
    for check in node.get("any", []):
        data = check.get("data") or {}
        if data.get("messageKey") == "shortTextContent" and data.get("contrastRatio"):
            expected = str(data.get("expectedContrastRatio", "4.5:1"))
            if float(data["contrastRatio"]) < float(expected.split(":")[0]):
                colors = f"{data.get('fgColor')} on {data.get('bgColor')}"
                return f"contrast {data['contrastRatio']}:1 < {expected} ({colors})"
    return None


def serious_findings(page: Page, where: str) -> list[str]:
    """axe's serious and critical findings on the page as it is, one line per element."""
    response = axe.run(page, options=AXE_OPTIONS).response
    found = [
        (violation, node, " ".join(node.get("failureSummary", "").split()))
        for violation in response["violations"]
        if violation["impact"] in SERIOUS
        for node in violation["nodes"]
    ]
    found += [
        (check, node, summary)
        for check in response["incomplete"]
        if check["id"] == "color-contrast"
        for node in check["nodes"]
        if (summary := short_text_contrast(node))
    ]
    return [
        f"{where}: {rule['id']} ({rule['impact']}) {node['target']} - {summary} [{rule['help']}]"
        for rule, node, summary in found
    ]


@pytest.fixture()
def visit(browser: Browser) -> Iterator[Callable[..., Page]]:
    """A page in a context of its own (axe allowed in), closed after the test."""
    contexts = []

    def opener(**options: object) -> Page:
        context = open_context(browser, **options)
        contexts.append(context)
        return context.new_page()

    yield opener
    for context in contexts:
        context.close()


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_no_page_has_a_serious_accessibility_finding(
    visit, live_server, feedback_given, device: str, theme: str
) -> None:
    page = visit(color_scheme=theme, **(DESKTOP if device == "desktop" else PHONE))
    findings: list[str] = []

    for path in PAGE_READY:
        page.goto(live_server + path)
        wait_ready(page, path)
        expect(page.locator("html")).to_have_attribute("data-bs-theme", theme)
        findings.extend(serious_findings(page, f"{device} {theme} {path}"))

    # The Draw page with both answers and the feedback buttons shown.
    page.goto(live_server + "/")
    draw_stroke(page, ONE)
    page.click("#recognize")
    expect(page.locator("#cnn-digit")).to_have_text(re.compile(r"^\s*\d\s*$"), timeout=30_000)
    findings.extend(serious_findings(page, f"{device} {theme} / with an answer"))

    # As the admin: moderation buttons on the samples, exports, collectors.
    page.goto(live_server + "/samples")
    page.fill("#admin-token", ADMIN_TOKEN)
    expect(page.locator("#filter-hidden")).to_be_enabled()
    expect(page.locator("#samples-summary")).to_have_text(re.compile(r"\w"))
    expect(page.locator('#samples-grid [data-slot="delete"]').first).to_be_visible()
    findings.extend(serious_findings(page, f"{device} {theme} /samples as admin"))

    # A fine-tuned history on the Models page, as the admin: deltas, rollbacks, a race.
    route_listing(page, fine_tuned_listing(page.request.get(live_server + "/api/models").json()))
    page.goto(live_server + "/models")
    expect(page.locator("#cnn-current")).to_have_text("v3")
    findings.extend(serious_findings(page, f"{device} {theme} /models fine-tuned, as admin"))

    assert not findings, "axe found serious problems:\n" + "\n".join(findings)
