"""HTML pages: thin views that render templates, plus the language choice they share.

The pages talk to the JSON API from static scripts (web/static/js/); the views pass
everything those scripts need (URLs, messages, the models' names) as data-* attributes,
because the Content-Security-Policy forbids inline scripts.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import Blueprint, Response, g, render_template, request

from shared.names import MODEL_NAMES, QUEUES
from web import i18n
from web.services import current_services

bp = Blueprint("pages", __name__)

#: Navbar entries, in order: (endpoint, catalogue key).
NAV_ITEMS: list[tuple[str, str]] = [
    ("pages.draw", "nav.draw"),
    ("pages.collect", "nav.collect"),
    ("pages.models", "nav.models"),
    ("pages.samples", "nav.samples"),
    ("pages.stats", "nav.stats"),
    ("pages.about", "nav.about"),
]
_ONE_YEAR = 365 * 24 * 3600


def current_language() -> str:
    """The language of this request's pages, decided once per request."""
    if "lang" not in g:
        g.lang = i18n.negotiate(
            request.args.get("lang"),
            request.cookies.get(i18n.COOKIE_NAME),
            request.accept_languages,
        )
    return g.lang


def script_models(lang: str) -> list[dict[str, str]]:
    """Each model's name and display name, in display order, so no script spells them."""
    return [{"name": name, "label": i18n.translate(lang, f"model.{name}")} for name in MODEL_NAMES]


@bp.app_context_processor
def inject_i18n() -> dict[str, Any]:
    """Give every template t(key), the language, the models, and the data for <body>."""
    lang = current_language()
    return {
        "lang": lang,
        "t": partial(i18n.translate, lang),
        "languages": i18n.LANGUAGE_NAMES,
        "js_messages": i18n.js_messages(lang),
        "model_names": MODEL_NAMES,
        "script_models": script_models(lang),
        "nav_items": NAV_ITEMS,
    }


@bp.after_app_request
def remember_language(response: Response) -> Response:
    """Turn the switch's ?lang=xx into a cookie, so the choice follows the visitor around."""
    requested = request.args.get("lang")
    if requested in i18n.LANGUAGES and request.cookies.get(i18n.COOKIE_NAME) != requested:
        response.set_cookie(
            i18n.COOKIE_NAME,
            requested,
            max_age=_ONE_YEAR,
            samesite="Lax",
            secure=request.is_secure,
            httponly=True,
        )
    if response.mimetype == "text/html":
        # The same URL renders in different languages; caches must keep them apart.
        response.vary.update(("Accept-Language", "Cookie"))
    return response


@bp.get("/")
def draw() -> str:
    """Draw a digit and see what both models read."""
    return render_template("draw.html", public_gallery=_public_gallery())


@bp.get("/collect")
def collect() -> str:
    """Draw labelled digits that go straight into the training samples."""
    return render_template("collect.html", public_gallery=_public_gallery())


def _public_gallery() -> bool:
    """Whether stored drawings are listed for everyone: the consent text must say which."""
    return current_services().settings.public_gallery


@bp.get("/models")
def models() -> str:
    """Each model's versions and metrics, the fine-tune in progress, admin actions."""
    return render_template("models.html")


@bp.get("/samples")
def samples() -> str:
    """Browse the stored samples as images; admins export them."""
    return render_template("samples.html", public_gallery=_public_gallery())


@bp.get("/stats")
def stats() -> str:
    """Accuracy from feedback, the confusion matrix, samples per digit, queues and workers."""
    return render_template("stats.html", queues=QUEUES)


@bp.get("/about")
def about() -> str:
    """What Digits is, how it works, and where its data comes from."""
    return render_template("about.html")


@bp.get("/forget")
def forget() -> str:
    """Delete a drawing you sent, with the link you were given (not in the navbar).

    The link is /forget#<sample id>.<secret>: a fragment never reaches the server, so the
    secret stays out of access logs; forget.js reads it and sends the DELETE.
    """
    return render_template("forget.html")
