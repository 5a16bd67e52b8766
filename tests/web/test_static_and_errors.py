"""Static files compressed and cached under fingerprinted names (web/static_files.py), and
the site's own error pages on HTML paths while API paths keep their JSON (web/errors.py).

Fast tests through Flask's test client (which goes through WhiteNoise too, as gunicorn
does), like tests/web/test_pages.py; the last test opens the 404 page in headless Chromium.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import re
import socket
import struct
import sys
import time
from pathlib import Path

import httpx
import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from werkzeug.exceptions import ServiceUnavailable, TooManyRequests

from web import create_app, errors, static_files
from web.security import COMMON_HEADERS

STATIC = Path(__file__).resolve().parents[2] / "web" / "static"
ONE_YEAR = 365 * 24 * 3600
FINGERPRINTED = re.compile(r"\.[0-9a-f]{12}\.\w+$")
STATIC_URL = re.compile(r"""(?:src|href)="(/static/[^"]+)\"""")
RELATIVE_IMPORT = re.compile(r"""from\s*"(\.\.?/[^"]+)\"""")
#: A script without src, a <style> block or a style attribute: all blocked by the CSP.
INLINE = re.compile(r"<script(?![^>]*\bsrc=)|<style|\sstyle=")
#: Chromium logs the 404 page itself as a failed resource: expected here.
EXPECTED_CONSOLE = re.compile(r"Failed to load resource: the server responded with a status of 404")
DESKTOP = {"width": 1200, "height": 900}


def make_app(tmp_path: Path, **config: object) -> Flask:
    """An app with Redis at a closed port: enough to render pages and serve files."""
    return create_app(
        {
            "TESTING": True,
            "SETTINGS_ENV": {"REDIS_URL": "redis://127.0.0.1:1/0", "STORAGE_URL": str(tmp_path)},
            **config,
        }
    )


@pytest.fixture()
def app(tmp_path: Path) -> Flask:
    return make_app(tmp_path)


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def get(client: FlaskClient, url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of a GET, the streamed file closed."""
    with client.get(url, headers=headers) as response:
        return response.status_code, dict(response.headers), response.get_data()


def page_static_urls(client: FlaskClient, path: str = "/") -> list[str]:
    html = client.get(path).get_data(as_text=True)
    return STATIC_URL.findall(html)


# -- static files ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "encoding"),
    [
        ("vendor/bootstrap/bootstrap.min.css", "gzip"),
        ("vendor/bootstrap/bootstrap.min.css", "br"),
        ("css/digits.css", "gzip"),
        ("js/draw.js", "gzip"),
        ("js/draw.js", "br"),
        ("vendor/bootstrap/bootstrap.bundle.min.js", "br"),
    ],
)
def test_css_and_js_come_compressed_when_the_client_accepts_it(
    app: Flask, client: FlaskClient, name: str, encoding: str
) -> None:
    with app.test_request_context():
        url = url_for("static", filename=name)
    raw_size = (STATIC / name).stat().st_size
    status, headers, body = get(client, url, **{"Accept-Encoding": encoding})
    assert status == 200
    assert headers["Content-Encoding"] == encoding
    assert "Accept-Encoding" in headers["Vary"]
    assert len(body) < raw_size * 0.6, (len(body), raw_size)
    # Without Accept-Encoding, the file as it is.
    status, headers, body = get(client, url)
    assert "Content-Encoding" not in headers
    assert len(body) >= raw_size


def test_pages_reference_fingerprinted_names_that_are_served(client: FlaskClient) -> None:
    urls = page_static_urls(client, "/")
    assert len(urls) >= 6
    assert any("/js/draw." in url for url in urls)
    for url in urls:
        assert FINGERPRINTED.search(url), url
        status, _, _ = get(client, url)
        assert status == 200, url


def test_a_fingerprinted_name_is_immutable_for_a_year(client: FlaskClient) -> None:
    css = next(url for url in page_static_urls(client) if "/css/digits." in url)
    status, headers, _ = get(client, css)
    assert status == 200
    directives = [part.strip() for part in headers["Cache-Control"].split(",")]
    assert "immutable" in directives
    max_age = next(int(d.split("=")[1]) for d in directives if d.startswith("max-age="))
    assert max_age >= ONE_YEAR


def test_a_plain_name_still_serves_the_file_and_is_revalidated(client: FlaskClient) -> None:
    status, headers, body = get(client, "/static/js/draw.js")
    assert status == 200
    assert body == (STATIC / "js" / "draw.js").read_bytes()
    assert headers["Cache-Control"] == static_files.PLAIN_CACHE_CONTROL
    assert headers["Content-Type"].startswith("text/javascript")
    status, _, body = get(client, "/static/js/draw.js", **{"If-None-Match": headers["ETag"]})
    assert status == 304 and body == b""


def test_static_files_carry_the_security_headers(client: FlaskClient) -> None:
    for url in ["/static/favicon.svg", page_static_urls(client)[0]]:
        _, headers, _ = get(client, url)
        for name, value in COMMON_HEADERS.items():
            assert headers[name] == value, (url, name)


def test_imports_in_a_fingerprinted_module_name_fingerprinted_modules(
    client: FlaskClient,
) -> None:
    draw = next(url for url in page_static_urls(client) if "/js/draw." in url)
    seen: set[str] = set()
    pending = [draw]
    while pending:  # the whole module graph the drawing page loads
        url = pending.pop()
        seen.add(url)
        status, _, body = get(client, url)
        assert status == 200, url
        for spec in RELATIVE_IMPORT.findall(body.decode()):
            assert FINGERPRINTED.search(spec), (url, spec)
            target = url.rsplit("/", 1)[0] + "/" + spec.removeprefix("./")
            if target not in seen:
                pending.append(target)
    assert {re.sub(r"\.[0-9a-f]{12}", "", url).rsplit("/", 1)[1] for url in seen} >= {
        "draw.js",
        "api.js",
        "i18n.js",
        "ui.js",
    }


def test_url_for_leaves_unknown_static_names_alone(app: Flask) -> None:
    with app.test_request_context():
        assert url_for("static", filename="no-such.js") == "/static/no-such.js"


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


TREE = {
    "js/main.js": 'import { b } from "./b.js";\nimport "./side.js";\nconsole.log(b);\n',
    "js/b.js": "export const b = 1;\n",
    "js/side.js": "document.title = 'x';\n",
    "css/site.css": "body { color: red; }\n" * 50,
    "vendor/lib.js": "var s = 'from \"./b.js\"';\n",
}


def test_a_changed_file_gets_a_new_name_and_so_do_its_importers(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = static_files.build(write_tree(tmp_path / "one", TREE), cache)
    changed = write_tree(tmp_path / "two", {**TREE, "js/b.js": "export const b = 2;\n"})
    second = static_files.build(changed, cache)
    assert first.root != second.root
    for name in TREE:
        assert FINGERPRINTED.search(first.names[name]), name
    assert first.names["js/b.js"] != second.names["js/b.js"]
    assert first.names["js/main.js"] != second.names["js/main.js"]  # it imports b.js
    for same in ("js/side.js", "css/site.css", "vendor/lib.js"):
        assert first.names[same] == second.names[same]
    main = (second.static_dir / second.names["js/main.js"]).read_text()
    b_name = Path(second.names["js/b.js"]).name
    side_name = Path(second.names["js/side.js"]).name
    assert f'from "./{b_name}"' in main and f'import "./{side_name}"' in main
    # Plain copies are the files as they are; vendored code is never rewritten.
    assert (second.static_dir / "js/main.js").read_text() == TREE["js/main.js"]
    assert (second.static_dir / second.names["vendor/lib.js"]).read_text() == TREE["vendor/lib.js"]
    assert (second.static_dir / (second.names["css/site.css"] + ".gz")).is_file()
    # The same tree again: the build in the cache, untouched.
    again = static_files.build(tmp_path / "one", cache)
    assert again == first


def test_a_build_missing_a_file_is_made_again(tmp_path: Path) -> None:
    cache, source = tmp_path / "cache", write_tree(tmp_path / "src", TREE)
    built = static_files.build(source, cache)
    (built.static_dir / built.names["js/b.js"]).unlink()  # as a /tmp cleaner would
    again = static_files.build(source, cache)
    assert (again.static_dir / again.names["js/b.js"]).is_file()
    assert json.loads((again.root / "manifest.json").read_text())["names"] == dict(built.names)


def test_builds_unused_for_a_week_go_when_another_is_made(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    week, day = static_files.STALE_AFTER, 24 * 3600
    now = time.time()
    builds = []
    for n in range(6):  # six versions of the tree, built and then left alone
        source = write_tree(tmp_path / f"v{n}", {**TREE, "js/b.js": f"export const b = {n};\n"})
        builds.append(static_files.build(source, cache))
    ages = [week + 5 * day, week + 4 * day, week + 3 * day, week + 2 * day, 2 * day, day]
    for built, age in zip(builds, ages, strict=True):
        os.utime(built.root, (now - age, now - age))
    # The oldest one starts again: used now, it stays.
    static_files.build(tmp_path / "v0", cache)
    fresh = {**TREE, "js/b.js": "export const b = 99;\n"}
    newest = static_files.build(write_tree(tmp_path / "v6", fresh), cache)

    kept = {p.name for p in cache.iterdir() if p.is_dir() and not p.name.startswith(".")}
    # v1-v3 are over a week old and not among the three most recently used: gone.
    assert kept == {b.root.name for b in (builds[0], builds[4], builds[5], newest)}
    assert static_files.build(tmp_path / "v5", cache) == builds[5]  # still whole


def test_modules_importing_each_other_in_a_cycle_are_refused(tmp_path: Path) -> None:
    source = write_tree(
        tmp_path / "src", {"a.js": 'import "./b.js";\n', "b.js": 'import "./a.js";\n'}
    )
    with pytest.raises(ValueError, match="cycle"):
        static_files.build(source, tmp_path / "cache")


def test_a_cache_directory_others_can_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(RuntimeError, match="writable by no one else"):
        static_files.build(write_tree(tmp_path / "src", TREE), shared)


# -- error pages -----------------------------------------------------------------------


def error_page(client: FlaskClient, path: str, status: int, method: str = "GET", **kw):
    response = client.open(path, method=method, **kw)
    assert response.status_code == status
    assert response.mimetype == "text/html"
    return response, response.get_data(as_text=True)


def test_an_unknown_page_is_the_sites_404_with_the_layout_and_a_way_back(
    client: FlaskClient,
) -> None:
    _, html = error_page(client, "/no-such-page", 404)
    assert '<html lang="en"' in html
    assert 'class="navbar' in html and 'id="lang-ru"' in html and "<footer" in html
    assert "Page not found" in html and "Error 404" in html
    assert re.search(r'id="error-back" href="/"', html)
    # As strict as any page: nothing inline for the CSP to block.
    assert not INLINE.search(html)


def test_the_404_page_speaks_russian_by_switch_and_by_cookie(client: FlaskClient) -> None:
    response, html = error_page(client, "/no-such-page?lang=ru", 404)
    assert '<html lang="ru"' in html
    assert "Страница не найдена" in html and "Вернуться к рисованию" in html
    assert "lang=ru" in response.headers["Set-Cookie"]
    _, html = error_page(client, "/another-missing-page", 404)  # the cookie alone
    assert "Страница не найдена" in html and "Ошибка 404" in html


def test_api_and_health_errors_stay_json(client: FlaskClient) -> None:
    response = client.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    response = client.post("/healthz")
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"


def test_a_wrong_method_on_a_page_is_the_405_page_with_allow(client: FlaskClient) -> None:
    response, html = error_page(client, "/about", 405, method="POST")
    assert "Request not allowed" in html and 'class="navbar' in html
    assert "GET" in response.headers["Allow"]


def test_an_unexpected_exception_on_a_page_is_logged_and_the_500_page(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(tmp_path, PROPAGATE_EXCEPTIONS=False)

    def broken() -> str:
        raise RuntimeError("a bug in a view")

    app.add_url_rule("/broken", view_func=broken)
    app.add_url_rule("/api/broken", endpoint="api_broken", view_func=broken)
    client = app.test_client()
    with caplog.at_level(logging.ERROR):
        _, html = error_page(client, "/broken?lang=ru", 500)
    assert "Что-то пошло не так" in html and 'class="navbar' in html
    assert "a bug in a view" in caplog.text
    response = client.get("/api/broken")
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "internal_server_error"


def test_429_and_503_pages_keep_their_headers(tmp_path: Path) -> None:
    app = make_app(tmp_path)

    def busy() -> str:
        raise TooManyRequests(retry_after=7)

    def down() -> str:
        raise ServiceUnavailable()

    app.add_url_rule("/busy", view_func=busy)
    app.add_url_rule("/down", view_func=down)
    client = app.test_client()
    response, html = error_page(client, "/busy", 429)
    assert response.headers["Retry-After"] == "7" and "Too many requests" in html
    _, html = error_page(client, "/down", 503)
    assert "Temporarily unavailable" in html


def test_every_status_has_its_text_in_both_languages() -> None:
    from web import i18n

    for status in [400, 404, 405, 408, 413, 429, 500, 502, 503]:
        kind = errors.error_kind(status)
        for lang in i18n.LANGUAGES:
            for part in ("title", "text"):
                assert f"error.{part}.{kind}" in i18n.catalogue(lang), (lang, status)


def test_a_page_that_cannot_render_still_answers(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_template(*args: object, **kwargs: object) -> str:
        raise RuntimeError("template broken")

    monkeypatch.setattr(errors, "render_template", broken_template)
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert b"Not Found" in response.get_data()


# -- in a browser ----------------------------------------------------------------------


@pytest.mark.browser
def test_the_404_page_and_the_way_back_in_chromium(browser, live_server) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport=DESKTOP, locale="en-US")
    try:
        page = context.new_page()
        problems: list[str] = []
        page.on(
            "console",
            lambda m: (
                m.type == "error"
                and not EXPECTED_CONSOLE.search(m.text)
                and problems.append(m.text)
            ),
        )
        page.on("pageerror", lambda error: problems.append(str(error)))
        response = page.goto(live_server + "/no-such-page")
        assert response is not None and response.status == 404
        expect(page.locator("h1")).to_have_text("Page not found")
        # Bootstrap's stylesheet (fingerprinted, compressed) applied: the button is styled.
        button = page.locator("#error-back")
        assert button.evaluate("e => getComputedStyle(e).display") == "inline-block"
        page.click("#lang-ru")
        expect(page.locator("h1")).to_have_text("Страница не найдена")
        page.click("#error-back")
        expect(page).to_have_url(live_server + "/")
        # The drawing page's modules ran, through their fingerprinted imports: ui.js
        # disables Clear on an empty pad.
        expect(page.locator("#clear")).to_be_disabled()
        expect(page.locator("html")).to_have_attribute("lang", "ru")
        page.wait_for_load_state("networkidle")
        assert problems == []
    finally:
        context.close()


def test_the_live_server_closes_a_file_whose_client_hung_up(live_server: str) -> None:
    """The test server's own fix (tests/conftest.py): a client that resets the connection
    just after a small file was sent leaves no open file behind to fail a later test."""
    page = httpx.get(live_server + "/", timeout=10).text
    icon = next(url for url in STATIC_URL.findall(page) if url.endswith(".svg"))
    host, port = live_server.removeprefix("http://").split(":")
    found: list[type[BaseException]] = []

    def note(unraisable: sys.UnraisableHookArgs) -> None:
        found.append(unraisable.exc_type)

    hook, sys.unraisablehook = sys.unraisablehook, note
    try:
        for _ in range(5):
            with socket.create_connection((host, int(port)), timeout=10) as sock:
                sock.sendall(f"GET {icon} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
                assert sock.recv(1024).startswith(b"HTTP/1.1 200")
                # A reset, not a FIN, while the server still drains the socket.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        time.sleep(1)  # the server's threads notice the reset
        gc.collect()
    finally:
        sys.unraisablehook = hook
    assert found == []
