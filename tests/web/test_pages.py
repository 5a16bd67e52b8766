"""The HTML pages: they render, carry what their scripts need, obey the CSP, speak Russian.

Fast tests through Flask's test client: no Redis, store or workers are needed to render a
page, so the app here points at a closed port and a temporary directory.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from web import create_app, i18n

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
PAGES = ["/", "/collect", "/models", "/samples", "/stats", "/about"]
# Pages reached by a link the site hands out, not from the navbar.
UNLISTED = ["/forget"]


@pytest.fixture()
def pages_app(tmp_path: Path) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "SETTINGS_ENV": {"REDIS_URL": "redis://127.0.0.1:1/0", "STORAGE_URL": str(tmp_path)},
        }
    )


@pytest.fixture()
def page_client(pages_app: Flask) -> FlaskClient:
    return pages_app.test_client()


class Page(HTMLParser):
    """The parts of a page the tests look at: elements by id, scripts, links, attributes."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.script_bodies: list[str] = []
        self.style_blocks = 0
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))
        self._in_script = tag == "script"
        self.style_blocks += tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.script_bodies.append(data)

    def by_id(self, element_id: str) -> tuple[str, dict[str, str]]:
        found = [e for e in self.elements if e[1].get("id") == element_id]
        assert len(found) == 1, f"expected one #{element_id}, found {len(found)}"
        return found[0]

    def first(self, tag: str) -> dict[str, str]:
        return next(attrs for name, attrs in self.elements if name == tag)


def plain_name(url: str) -> str:
    """A static URL without its content hash (web/static_files.py): draw.<hash>.js -> draw.js."""
    return re.sub(r"\.[0-9a-f]{12}(\.\w+)$", r"\1", url)


def get_page(client: FlaskClient, path: str, **kwargs: object) -> Page:
    response = client.get(path, **kwargs)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    return Page(response.get_data(as_text=True))


@pytest.mark.parametrize("path", PAGES + UNLISTED)
def test_page_renders_in_english_by_default(page_client: FlaskClient, path: str) -> None:
    page = get_page(page_client, path)
    assert page.first("html")["lang"] == "en"
    assert page.by_id("main")


@pytest.mark.parametrize("path", PAGES + UNLISTED)
def test_page_has_no_inline_script_style_or_handler(page_client: FlaskClient, path: str) -> None:
    """The CSP allows only scripts and styles from files; inline ones would be blocked."""
    page = get_page(page_client, path)
    assert page.script_bodies == []
    assert page.style_blocks == 0
    for tag, attrs in page.elements:
        if tag == "script":
            assert attrs.get("src", "").startswith("/static/"), attrs
        assert "style" not in attrs, (tag, attrs)
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)


@pytest.mark.parametrize("path", PAGES + UNLISTED)
def test_every_script_and_stylesheet_a_page_uses_is_served(
    page_client: FlaskClient, path: str
) -> None:
    page = get_page(page_client, path)
    urls = [a["src"] for t, a in page.elements if t == "script"]
    urls += [
        a["href"]
        for t, a in page.elements
        if t == "link" and a.get("rel") in {"stylesheet", "icon"}
    ]
    assert len(urls) >= 4
    for url in urls:
        response = page_client.get(url)
        assert response.status_code == 200, url
        response.close()


def test_draw_page_has_the_canvas_controls_and_result_slots(page_client: FlaskClient) -> None:
    page = get_page(page_client, "/")
    tag, canvas = page.by_id("canvas")
    assert tag == "canvas" and canvas["aria-label"]
    for element_id in [
        "recognize", "undo", "clear", "status", "result", "preview",
        "fnn-digit", "fnn-top3", "fnn-bars", "fnn-version",
        "cnn-digit", "cnn-top3", "cnn-bars", "cnn-version",
        "feedback-correct", "feedback-wrong", "feedback-none", "feedback-consent",
        "feedback-status", *(f"feedback-digit-{d}" for d in range(10)),
    ]:  # fmt: skip
        page.by_id(element_id)
    body = page.first("body")
    assert body["data-predictions-url"] == "/api/predictions"
    assert body["data-poll-wait"] == "2"


def test_collect_page_has_the_canvas_labels_save_and_counter(page_client: FlaskClient) -> None:
    page = get_page(page_client, "/collect")
    assert page.by_id("canvas")[0] == "canvas"
    for element_id in ["save", "undo", "clear", "status", "saved-count"]:
        page.by_id(element_id)
    labels = [a for t, a in page.elements if t == "input" and a.get("name") == "label"]
    assert [a["value"] for a in labels] == [str(d) for d in range(10)]
    assert page.first("body")["data-samples-url"] == "/api/samples"


def test_collect_page_has_a_folded_collector_token_field(page_client: FlaskClient) -> None:
    page = get_page(page_client, "/collect")
    assert page.by_id("collector")[0] == "details"
    tag, field = page.by_id("collector-token")
    assert tag == "input" and field["type"] == "password"
    assert page.by_id("collector-forget")[0] == "button"
    assert page.by_id("collector-state")[1]["aria-live"] == "polite"


def test_forget_page_has_the_drawing_the_delete_button_and_a_status(
    page_client: FlaskClient,
) -> None:
    page = get_page(page_client, "/forget")
    assert page.by_id("forget-id")[0] == "code"
    tag, button = page.by_id("forget-delete")
    assert tag == "button" and "disabled" in button  # forget.js enables it for a whole link
    assert page.by_id("forget-status")[1]["role"] == "status"
    assert page.first("body")["data-samples-url"] == "/api/samples"
    assert "/static/js/forget.js" in [
        plain_name(a["src"]) for t, a in page.elements if t == "script"
    ]


def test_forget_page_is_not_in_the_navbar(page_client: FlaskClient) -> None:
    page = get_page(page_client, "/forget")
    links = [a["href"] for t, a in page.elements if t == "a" and "nav-link" in a.get("class", "")]
    assert links and "/forget" not in links


@pytest.mark.parametrize(("path", "slot"), [("/collect", "forget-last"), ("/", "feedback-forget")])
def test_pages_that_store_drawings_have_a_hidden_slot_for_the_delete_link(
    page_client: FlaskClient, path: str, slot: str
) -> None:
    page = get_page(page_client, path)
    assert page.first("body")["data-forget-url"] == "/forget"
    assert "hidden" in page.by_id(slot)[1]


def test_navbar_links_every_page(page_client: FlaskClient) -> None:
    page = get_page(page_client, "/about")
    links = [a["href"] for t, a in page.elements if t == "a" and "nav-link" in a.get("class", "")]
    assert [link for link in links if not link.startswith("?")] == PAGES[:-1] + ["/about"]


def test_models_page_has_version_tables_progress_and_admin_controls(
    page_client: FlaskClient,
) -> None:
    page = get_page(page_client, "/models")
    for element_id in [
        "fnn-versions", "cnn-versions", "fnn-current", "cnn-current", "fine-tune-progress",
        "fine-tune-bar", "fine-tune-state", "admin-token", "start-fine-tune", "admin-status",
    ]:  # fmt: skip
        page.by_id(element_id)
    assert page.by_id("admin-token")[1]["type"] == "password"
    body = page.first("body")
    assert (body["data-models-url"], body["data-fine-tunes-url"]) == (
        "/api/models",
        "/api/fine-tunes",
    )


def test_samples_page_has_filters_grid_and_export(page_client: FlaskClient) -> None:
    page = get_page(page_client, "/samples")
    for element_id in ["filter-label", "filter-source", "samples-grid", "samples-summary",
                       "samples-prev", "samples-next", "export-zip", "export-npz"]:  # fmt: skip
        page.by_id(element_id)
    sources = [a["value"] for t, a in page.elements if t == "option" and a.get("value") in
               {"collect", "feedback"}]  # fmt: skip
    assert sources == ["collect", "feedback"]
    assert {"value": "none"} in [a for t, a in page.elements if t == "option"]
    tag, hidden = page.by_id("filter-hidden")
    assert tag == "input" and hidden["type"] == "checkbox" and "disabled" in hidden
    body = page.first("body")
    assert (body["data-samples-url"], body["data-export-url"]) == (
        "/api/samples",
        "/api/samples/export",
    )
    assert (body["data-counts-url"], body["data-exports-url"], body["data-collectors-url"]) == (
        "/api/samples/counts",
        "/api/samples/exports",
        "/api/collectors",
    )


def test_samples_page_has_the_counts_table(page_client: FlaskClient) -> None:
    page = get_page(page_client, "/samples")
    assert page.by_id("counts-table")[0] == "table"
    for element_id in ["counts-body", "counts-hidden", "counts-collectors",
                       "counts-collectors-list"]:  # fmt: skip
        page.by_id(element_id)
    rows = [a["data-label"] for t, a in page.elements if t == "tr" and "data-label" in a]
    assert rows == [*(str(d) for d in range(10)), "none", "all"]
    cells = [a["data-source"] for t, a in page.elements if t == "td" and "data-source" in a]
    assert cells == ["collect", "feedback", "all"] * len(rows)


def test_samples_page_has_moderation_background_export_and_collectors(
    page_client: FlaskClient,
) -> None:
    page = get_page(page_client, "/samples")
    for element_id in [
        "export-background", "export-background-format", "export-progress", "admin-status",
        "collectors", "collector-form", "collector-name", "collector-create", "collector-issued",
        "collector-issued-token", "collectors-list",
    ]:  # fmt: skip
        page.by_id(element_id)
    assert page.by_id("sample-item")[0] == "template"
    assert page.by_id("collector-item")[0] == "template"
    slots = {a["data-slot"] for t, a in page.elements if "data-slot" in a}
    assert {"image", "label", "source", "hide", "delete", "name", "samples", "revoke"} <= slots


def test_stats_page_has_charts_heat_map_and_the_chart_library(page_client: FlaskClient) -> None:
    page = get_page(page_client, "/stats")
    for chart in [
        "chart-by-day",
        "chart-by-version",
        "chart-samples",
        "chart-queues",
        "chart-races",
    ]:
        assert page.by_id(chart)[0] == "canvas"
    cells = [a for t, a in page.elements if t == "td" and "data-row" in a]
    assert len(cells) == 121  # ten digits and "not a digit", drawn and read
    assert page.by_id("refusals-body")[0] == "tbody"
    assert page.by_id("races-live")[0] == "ul" and page.by_id("races-history")[0] == "ul"
    scripts = [plain_name(a["src"]) for t, a in page.elements if t == "script"]
    assert "/static/vendor/chart.js/chart.umd.min.js" in scripts
    assert page.first("body")["data-stats-url"] == "/api/stats"


def test_russian_follows_the_browser_language(page_client: FlaskClient) -> None:
    response = page_client.get("/", headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
    html = response.get_data(as_text=True)
    assert '<html lang="ru"' in html
    assert i18n.translate("ru", "draw.title") in html
    assert "Accept-Language" in response.headers["Vary"]


def test_language_switch_sets_a_cookie_that_later_pages_follow(
    page_client: FlaskClient,
) -> None:
    response = page_client.get("/about?lang=ru", headers={"Accept-Language": "en"})
    assert i18n.translate("ru", "about.title") in response.get_data(as_text=True)
    assert "lang=ru" in response.headers["Set-Cookie"]
    later = page_client.get("/collect", headers={"Accept-Language": "en"})
    assert i18n.translate("ru", "collect.title") in later.get_data(as_text=True)
    back = page_client.get("/collect?lang=en")
    assert i18n.translate("en", "collect.title") in back.get_data(as_text=True)


def test_unknown_language_falls_back_to_english(page_client: FlaskClient) -> None:
    page = get_page(page_client, "/?lang=xx", headers={"Accept-Language": "de"})
    assert page.first("html")["lang"] == "en"


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_script_messages_are_in_the_page_language(page_client: FlaskClient, lang: str) -> None:
    page = get_page(page_client, f"/?lang={lang}")
    messages = json.loads(page.first("body")["data-messages"])
    assert messages == i18n.js_messages(lang)
    assert messages["error.empty_canvas"] == i18n.catalogue(lang)["js.error.empty_canvas"]
    assert messages["models.samples"] == i18n.catalogue(lang)["js.models.samples"]


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_scripts_get_the_models_names_from_the_page(page_client: FlaskClient, lang: str) -> None:
    """Scripts spell no model name: the server's list and display names come as data."""
    page = get_page(page_client, f"/models?lang={lang}")
    assert json.loads(page.first("body")["data-models"]) == [
        {"name": "fnn", "label": i18n.translate(lang, "model.fnn")},
        {"name": "cnn", "label": i18n.translate(lang, "model.cnn")},
    ]
    for script in (WEB / "static" / "js").glob("*.js"):
        assert not re.search(r"""["'](fnn|cnn)["']""", script.read_text()), script.name


def test_models_page_has_a_row_template_for_its_script(page_client: FlaskClient) -> None:
    page = get_page(page_client, "/models")
    assert page.by_id("version-row")[0] == "template"
    assert page.by_id("no-versions-row")[0] == "template"
    slots = {a["data-slot"] for t, a in page.elements if "data-slot" in a}
    assert {"version", "current", "origin", "outcome", "trained", "rollback"} <= slots
    metrics = [a["data-metric"] for t, a in page.elements if "data-metric" in a]
    assert metrics == ["mnist", "loss", "user", "pens", "negatives", "digits_refused"]
    for name in ("fnn", "cnn"):  # the live race, with the admin's promote and retire
        assert page.by_id(f"{name}-race")[0] == "div"
    decisions = [a["data-decision"] for t, a in page.elements if "data-decision" in a]
    assert decisions == ["promoted", "retired"] * 2


def test_vendored_chart_js_matches_the_lock_file() -> None:
    lock = json.loads((ROOT / "package-lock.json").read_text())
    locked = lock["packages"]["node_modules/chart.js"]["version"]
    vendor = WEB / "static" / "vendor" / "chart.js"
    banner = re.search(r"Chart\.js v(\S+)", (vendor / "chart.umd.min.js").read_text()[:300])
    assert banner and banner.group(1) == locked
    assert (vendor / "LICENSE.md").is_file()


def test_vendored_bootstrap_matches_the_lock_file() -> None:
    """scripts/vendor_frontend.sh copies from the locked version; the two must not drift."""
    lock = json.loads((ROOT / "package-lock.json").read_text())
    locked = lock["packages"]["node_modules/bootstrap"]["version"]
    vendor = WEB / "static" / "vendor" / "bootstrap"
    for name in ("bootstrap.min.css", "bootstrap.bundle.min.js"):
        banner = re.search(r"Bootstrap\s+v(\S+)", (vendor / name).read_text()[:300])
        assert banner and banner.group(1) == locked, name
    assert (vendor / "LICENSE").is_file()
