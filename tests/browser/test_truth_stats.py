"""The Stats page tells the truth on its first load (issue #41): while the first ping of
the workers has not ended it says "checking…", not "0" and a red "No worker answered."
(an outage that is not there), and it shows the workers once a ping answers."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from web import i18n

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_workers_read_checking_until_the_first_ping_answers(open_page, live_server, lang) -> None:
    page = open_page("/about")
    first = True

    def answer(route) -> None:
        """The first answer as before any ping ended; the later ones the server's own."""
        nonlocal first
        response = route.fetch()
        body = response.json()
        if first:
            first = False
            body.update(workers=[], workers_ping="pending")
        route.fulfill(response=response, body=json.dumps(body))

    page.route(re.compile(r"/api/stats$"), answer)
    page.goto(f"{live_server}/stats?lang={lang}")
    workers = page.locator("#stat-workers")
    expect(workers).to_have_text(i18n.translate(lang, "js.stats.workers_checking"))
    no_workers = i18n.translate(lang, "js.stats.no_workers")
    expect(page.locator("#workers-list")).not_to_contain_text(no_workers)
    # Asked again soon, not after the whole refresh period: a live worker answered.
    expect(workers).to_have_text(re.compile(r"^[1-9]\d*$"), timeout=10_000)
    expect(page.locator("#workers-list li .worker-dot").first).to_be_attached()
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_the_stats_answer_says_whether_a_ping_has_ended(client) -> None:
    """``workers_ping`` tells an empty ``workers`` apart: not asked yet, or none answered."""
    stats = client.get("/api/stats").get_json()
    assert stats["workers_ping"] in ("pending", "done", "failed")
    if stats["workers_ping"] == "pending":
        assert stats["workers"] == []
