"""Every error code the API can answer has a sentence in both catalogues (issue #41), so
the scripts show an API error in the page's language, by its code (web/static/js/api.js).

The codes come from the code: each DigitsError subclass's (after ``create_app`` imported
every module that raises one), the object store's, the queue's, and the HTTP errors
web.errors lists, which a check below keeps in step with what web imports from Werkzeug.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from werkzeug import exceptions

from web import errors, i18n

WEB = Path(__file__).resolve().parents[2] / "web"


@pytest.fixture(scope="module")
def codes() -> set[str]:
    from web import create_app

    create_app({"TESTING": True, "SETTINGS_ENV": {"REDIS_URL": "redis://127.0.0.1:1/0"}})
    return errors.api_error_codes()


def test_the_codes_include_every_kind_of_error(codes: set[str]) -> None:
    assert {"empty_canvas", "unauthorized", "store_unavailable", "queue_unavailable",
            "redis_full", "not_found", "method_not_allowed", "export_gone"} <= codes  # fmt: skip


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_code_has_a_sentence_in_both_languages(codes: set[str], lang: str) -> None:
    catalogue = i18n.catalogue(lang)
    missing = sorted(code for code in codes if f"js.error.{code}" not in catalogue)
    assert missing == [], f"{lang}: no sentence for {missing}"
    for code in codes:
        sentence = catalogue[f"js.error.{code}"]
        assert isinstance(sentence, str) and sentence.rstrip().endswith((".", "!")), code
        assert "{" not in sentence, f"{lang} {code}: the scripts fill no placeholders here"


def test_the_russian_sentences_are_translated(codes: set[str]) -> None:
    english, russian = i18n.catalogue("en"), i18n.catalogue("ru")
    same = sorted(c for c in codes if russian[f"js.error.{c}"] == english[f"js.error.{c}"])
    assert same == []


def test_every_http_error_web_raises_is_listed() -> None:
    """A Werkzeug error web imports (to raise) is one the API can answer."""
    listed = set(errors.HTTP_ERRORS)
    for module in WEB.glob("*.py"):
        tree = ast.parse(module.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "werkzeug.exceptions":
                for alias in node.names:
                    found = getattr(exceptions, alias.name)
                    if isinstance(found, type) and issubclass(found, exceptions.HTTPException):
                        if found is not exceptions.HTTPException:
                            assert found in listed, f"{module.name}: {alias.name}"
