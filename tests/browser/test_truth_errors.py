"""An API error reads as a translated, actionable sentence wherever the scripts show one
(issue #41): looked up by its code, with the server's own words only as a fallback."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from tests.helpers import ADMIN_TOKEN
from web import i18n

pytestmark = pytest.mark.browser
SERVER_WORDS = "raw words from the server"


@pytest.mark.parametrize("lang", ["en", "ru"])
@pytest.mark.parametrize("code", ["redis_full", "queue_unavailable", "busy", "invalid_request"])
def test_an_api_error_is_shown_by_its_code_in_the_pages_language(
    open_page, live_server, lang: str, code: str
) -> None:
    page = open_page("/about")
    page.route(re.compile(r"/api/fine-tunes$"), lambda route: route.fulfill(
        status=503, content_type="application/json",
        body=json.dumps({"error": {"code": code, "message": SERVER_WORDS}})))  # fmt: skip
    page.goto(f"{live_server}/models?lang={lang}")
    page.fill("#admin-token", ADMIN_TOKEN)
    page.click("#start-fine-tune")
    status = page.locator("#admin-status")
    expect(status).to_have_text(i18n.translate(lang, f"js.error.{code}"))
    expect(status).not_to_contain_text(SERVER_WORDS)


def test_an_unknown_code_falls_back_to_the_servers_words(open_page, live_server) -> None:
    page = open_page("/about")
    page.route(re.compile(r"/api/fine-tunes$"), lambda route: route.fulfill(
        status=400, content_type="application/json",
        body=json.dumps({"error": {"code": "from_a_newer_server", "message": SERVER_WORDS}})))  # fmt: skip
    page.goto(f"{live_server}/models")
    page.fill("#admin-token", ADMIN_TOKEN)
    page.click("#start-fine-tune")
    expect(page.locator("#admin-status")).to_have_text(SERVER_WORDS)
