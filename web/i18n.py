"""English and Russian strings for the pages and their scripts, and choosing between them.

The strings live in message catalogues, one JSON file per language in web/translations/,
so translators edit data, not code; a test checks that both have the same keys and
placeholders. Keys starting with ``js.`` are also handed to the browser (as JSON in
``<body data-messages>``), so script messages come from the same files.

A message is a string with ``str.format`` placeholders, ``{name}``, or, where it shows a
count, an object of CLDR plural categories (``one``, ``few``, ``many``, ``other``): the
``count`` parameter picks the category (Babel here, ``Intl.PluralRules`` in the scripts)
and is shown in the language's number format.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import MappingProxyType

from babel import Locale
from babel.numbers import format_decimal
from werkzeug.datastructures import LanguageAccept

LANGUAGES: tuple[str, ...] = ("en", "ru")
DEFAULT_LANGUAGE = "en"
#: Name of the cookie the language switch sets (``?lang=ru`` on any page).
COOKIE_NAME = "lang"
#: Native names for the switch, so each is readable to those who need it.
LANGUAGE_NAMES = {"en": "English", "ru": "Русский"}
#: Where the catalogues are: ``<lang>.json`` for each of LANGUAGES.
TRANSLATIONS = Path(__file__).resolve().parent / "translations"
#: Plural messages pick their form by this parameter.
COUNT = "count"

#: A plain string, or a plural message: CLDR category -> string.
Message = str | dict[str, str]


@cache
def catalogue(lang: str) -> Mapping[str, Message]:
    """The messages of lang, read once per process (an unknown lang reads English)."""
    name = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
    with (TRANSLATIONS / f"{name}.json").open(encoding="utf-8") as file:
        return MappingProxyType(json.load(file))


@cache
def _locale(lang: str) -> Locale:
    """Babel's CLDR data for lang, parsed once."""
    return Locale.parse(lang)


def plural_category(lang: str, count: float) -> str:
    """The CLDR plural category of count in lang: 'one', 'few', 'many' or 'other'."""
    return _locale(lang).plural_form(count)


def plural_categories(lang: str) -> frozenset[str]:
    """Every category a plural message in lang needs (CLDR leaves 'other' implicit)."""
    return _locale(lang).plural_form.tags | {"other"}


def translate(lang: str, key: str, **params: object) -> str:
    """The string for key in lang (English if missing there), with {placeholders} filled.

    A plural message needs ``count``: it picks the form and is shown as a localized number.
    """
    message = catalogue(lang).get(key)
    if message is None:
        lang, message = DEFAULT_LANGUAGE, catalogue(DEFAULT_LANGUAGE).get(key, key)
    if isinstance(message, dict):
        count = params[COUNT]
        if not isinstance(count, int | float):
            raise TypeError(f"{key} is a plural message: count must be a number")
        message = message.get(plural_category(lang, count)) or message["other"]
        params[COUNT] = format_decimal(count, locale=lang)
    return message.format(**params) if params else message


def js_messages(lang: str) -> dict[str, Message]:
    """The messages the scripts need, keyed without their ``js.`` prefix."""
    english, own = catalogue(DEFAULT_LANGUAGE), catalogue(lang)
    return {key[3:]: own.get(key, text) for key, text in english.items() if key.startswith("js.")}


def negotiate(requested: str | None, cookie: str | None, accept: LanguageAccept) -> str:
    """An explicit ?lang= wins, then the cookie the switch set, then the browser's languages."""
    for choice in (requested, cookie):
        if choice is not None and choice in LANGUAGES:
            return choice
    return accept.best_match(LANGUAGES, default=DEFAULT_LANGUAGE) or DEFAULT_LANGUAGE
