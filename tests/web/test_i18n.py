"""The message catalogues: both languages complete and alike, and counts read right, in
Python (Babel) and in the page's scripts (Intl.PluralRules in a real headless Chromium)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from web import i18n

WEB = Path(__file__).resolve().parents[2] / "web"
COUNTS = [1, 2, 5, 11, 21, 101]
PLACEHOLDER = re.compile(r"\{(\w+)\}")

# What a reader must see for each of COUNTS: the forms Russian needs differ at 1, 2, 5,
# 11 (not "one" though it ends in 1), 21 and 101 (both "one").
EXPECTED: dict[tuple[str, str], list[str]] = {
    ("en", "js.models.samples"): [f"{n} sample{'s' * (n != 1)}" for n in COUNTS],
    ("ru", "js.models.samples"): [
        "1 образец", "2 образца", "5 образцов", "11 образцов", "21 образец", "101 образец",
    ],
    ("en", "js.models.version_count"): [f"{n} version{'s' * (n != 1)}" for n in COUNTS],
    ("ru", "js.models.version_count"): [
        "1 версия", "2 версии", "5 версий", "11 версий", "21 версия", "101 версия",
    ],
    ("en", "js.models.mnist_digits"): [f"{n} MNIST digit{'s' * (n != 1)}" for n in COUNTS],
    ("ru", "js.models.mnist_digits"): [
        "1 цифра MNIST", "2 цифры MNIST", "5 цифр MNIST", "11 цифр MNIST", "21 цифра MNIST",
        "101 цифра MNIST",
    ],
}  # fmt: skip
# The word after the number in messages that say more around it.
EXPECTED_WORDS: dict[tuple[str, str], list[str]] = {
    ("en", "js.status.timeout"): ["second.", *["seconds."] * 5],
    ("ru", "js.status.timeout"): ["секунду.", "секунды.", "секунд.", "секунд.", "секунду.", "секунду."],
    ("ru", "js.stats.confusion_cell"): ["ответ", "ответа", "ответов", "ответов", "ответ", "ответ"],
    ("en", "js.samples.showing"): ["sample,", *["samples,"] * 5],
    ("ru", "js.samples.showing"): ["образца,", "образцов,", "образцов,", "образцов,", "образца,", "образца,"],
}  # fmt: skip
PARAMS = {"first": 1, "last": 1, "label": 3, "predicted": 5, "percent": "40"}


def placeholders(message: i18n.Message) -> set[str]:
    forms = message.values() if isinstance(message, dict) else [message]
    return {name for form in forms for name in PLACEHOLDER.findall(form)}


def word_after_count(text: str, count: int) -> str:
    return text.split(f" {count} ", 1)[1].split(" ")[0]


def test_both_languages_have_the_same_keys() -> None:
    english = i18n.catalogue("en")
    for lang in i18n.LANGUAGES:
        assert list(i18n.catalogue(lang)) == list(english), lang


def test_both_languages_have_the_same_placeholders() -> None:
    russian = i18n.catalogue("ru")
    for key, english in i18n.catalogue("en").items():
        assert placeholders(english) == placeholders(russian[key]), key


def test_every_form_of_a_plural_message_shows_the_count_and_the_same_placeholders() -> None:
    for lang in i18n.LANGUAGES:
        for key, message in i18n.catalogue(lang).items():
            if isinstance(message, dict):
                wanted = placeholders(message)
                assert i18n.COUNT in wanted, (lang, key)
                for category, form in message.items():
                    assert set(PLACEHOLDER.findall(form)) == wanted, (lang, key, category)


def test_plural_messages_have_every_category_their_language_needs() -> None:
    english = i18n.catalogue("en")
    plural_keys = {key for key, message in english.items() if isinstance(message, dict)}
    assert len(plural_keys) >= 5
    for lang in i18n.LANGUAGES:
        catalogue = i18n.catalogue(lang)
        assert {key for key, m in catalogue.items() if isinstance(m, dict)} == plural_keys, lang
        for key in plural_keys:
            assert set(catalogue[key]) == i18n.plural_categories(lang), (lang, key)


def test_russian_needs_four_categories_and_english_two() -> None:
    assert i18n.plural_categories("ru") == {"one", "few", "many", "other"}
    assert i18n.plural_categories("en") == {"one", "other"}


@pytest.mark.parametrize(("lang", "key"), list(EXPECTED))
def test_counts_read_right_in_python(lang: str, key: str) -> None:
    assert [i18n.translate(lang, key, count=n) for n in COUNTS] == EXPECTED[lang, key]


@pytest.mark.parametrize(("lang", "key"), list(EXPECTED_WORDS))
def test_counts_inside_longer_messages_read_right_in_python(lang: str, key: str) -> None:
    texts = [i18n.translate(lang, key, count=n, **PARAMS) for n in COUNTS]
    assert [word_after_count(text, n) for text, n in zip(texts, COUNTS, strict=True)] == (
        EXPECTED_WORDS[lang, key]
    )


def test_a_count_is_shown_in_the_languages_number_format() -> None:
    assert i18n.translate("en", "js.models.samples", count=60000) == "60,000 samples"
    assert i18n.translate("ru", "js.models.samples", count=60000) == "60\xa0000 образцов"


def test_a_plural_message_without_a_count_is_a_mistake() -> None:
    with pytest.raises(KeyError):
        i18n.translate("ru", "js.models.samples")


def test_every_key_the_templates_and_scripts_name_exists() -> None:
    literal_key = re.compile(r"""\bt\(\s*["']([\w.]+)["']\s*[,)]""")
    english = i18n.catalogue("en")
    for template in (WEB / "templates").glob("*.html"):
        for key in literal_key.findall(template.read_text()):
            assert key in english, f"{template.name}: {key}"
    for script in (WEB / "static" / "js").glob("*.js"):
        for key in literal_key.findall(script.read_text()):
            assert f"js.{key}" in english, f"{script.name}: {key}"


# ---- the same in the browser ------------------------------------------------------------

# Runs in the page: the very module the page scripts import, with the page's catalogue.
IN_PAGE = """async ([key, counts, params]) => {
  const { t } = await import("/static/js/i18n.js");
  return counts.map((count) => t(key, { ...params, count }));
}"""
RULES_IN_PAGE = """async (counts) => {
  const { pluralCategory } = await import("/static/js/i18n.js");
  const rules = new Intl.PluralRules(document.body.dataset.lang);
  return [rules.resolvedOptions().pluralCategories, counts.map(pluralCategory)];
}"""


@pytest.fixture(scope="module", params=i18n.LANGUAGES)
def page_in(request: pytest.FixtureRequest, browser, live_server):
    """A page of the live site in one language, in headless Chromium."""
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.goto(f"{live_server}/about?lang={request.param}")
    yield request.param, page
    context.close()


@pytest.mark.browser
def test_counts_read_right_in_the_browser(page_in) -> None:
    lang, page = page_in
    for (key_lang, key), expected in EXPECTED.items():
        if key_lang == lang:
            assert page.evaluate(IN_PAGE, [key.removeprefix("js."), COUNTS, {}]) == expected, key
    for (key_lang, key), words in EXPECTED_WORDS.items():
        if key_lang == lang:
            texts = page.evaluate(IN_PAGE, [key.removeprefix("js."), COUNTS, PARAMS])
            assert [word_after_count(text, n) for text, n in zip(texts, COUNTS, strict=True)] == (
                words
            ), key


@pytest.mark.browser
def test_browser_and_babel_choose_the_same_plural_forms(page_in) -> None:
    lang, page = page_in
    counts = [*range(0, 125), 1001, 1.5]
    categories, chosen = page.evaluate(RULES_IN_PAGE, counts)
    assert set(categories) == i18n.plural_categories(lang)
    assert chosen == [i18n.plural_category(lang, n) for n in counts]
