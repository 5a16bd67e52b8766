"""The JSON API: thin views over plain functions in ``web.predictions``, ``web.feedback``,
``web.drawings`` and ``shared``."""

from __future__ import annotations

from typing import Any

import numpy as np
from flask import Blueprint, Response, current_app, jsonify, request, url_for

from shared.errors import InvalidRequest
from shared.imaging import MAX_DIGITS, preprocess_png
from web import feedback, learning, predictions
from web.admin import admin_required
from web.client_ids import client_id
from web.drawings import checked_png, drawing_from
from web.services import current_services
from web.stats import compute_stats, queue_state

bp = Blueprint("api", __name__, url_prefix="/api")

#: Longest long-poll a client may ask for; well below any router's 30 s timeout.
MAX_WAIT = 5.0
#: Longest ``Prefer: wait=N`` honoured on a new prediction; a larger N is treated as this.
MAX_PREFER_WAIT = 10


def json_body(required: set[str], optional: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The request's JSON object, with the required fields and no field this endpoint ignores."""
    body = None
    if request.is_json:
        try:
            body = current_app.json.loads(request.get_data())
        except (ValueError, RecursionError) as exc:  # orjson stops at 1,024 levels
            raise InvalidRequest(f"the body is not JSON, or is nested too deeply ({exc})") from None
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object (Content-Type: application/json)")
    missing = sorted(required - body.keys())
    if missing:
        raise InvalidRequest(f"missing field(s): {', '.join(missing)}")
    extra = sorted(body.keys() - required - optional)
    if extra:
        raise InvalidRequest(f"unknown field(s): {', '.join(extra)}")
    return body


def image_from(body: dict[str, Any]) -> np.ndarray:
    services = current_services()
    settings = services.settings
    image = checked_png(body["image"])
    return services.decodes.run(
        image.pixels,
        preprocess_png,
        image.png,
        settings.max_image_side,
        settings.max_image_pixels,
        True,
    )


def digit_label(value: Any, allow_null: bool = False) -> int | None:
    if value is None and allow_null:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 9:
        allowed = "an integer 0-9 or null" if allow_null else "an integer 0-9"
        raise InvalidRequest(f"label must be {allowed}")
    return value


def preferred_wait() -> int | None:
    """Seconds of RFC 7240's ``Prefer: wait=N``, capped; None when absent or malformed.

    The RFC says to ignore a preference one cannot read, and that only the first
    instance of a preference counts.
    """
    for header in request.headers.getlist("Prefer"):
        for preference in header.split(","):
            name, _, value = preference.split(";", 1)[0].partition("=")
            if name.strip().lower() != "wait":
                continue
            seconds = value.strip().strip('"')
            if not (seconds.isascii() and seconds.isdigit()):
                return None
            # delta-seconds (RFC 9111 1.2.2): a value too large to hold counts as a large
            # one, here the cap; int() refuses strings past 4,300 digits, so count them.
            significant = seconds.lstrip("0") or "0"
            if len(significant) > len(str(MAX_PREFER_WAIT)):
                return MAX_PREFER_WAIT
            return min(int(significant), MAX_PREFER_WAIT)
    return None


@bp.post("/predictions")
def create_prediction() -> tuple[Response, int, dict[str, str]]:
    drawing = drawing_from(json_body({"image"}, frozenset({"strokes"})))
    wait = preferred_wait()
    answer = predictions.create_prediction(current_services(), drawing, wait or 0)
    status_url = url_for("api.prediction_status", job_id=answer["id"])
    headers = {"Location": status_url}
    if answer["status"] != "queued":
        return jsonify(answer), 200, {**headers, "Preference-Applied": f"wait={wait}"}
    return jsonify(id=answer["id"], status_url=status_url), 202, headers


@bp.get("/predictions/<job_id>")
def prediction_status(job_id: str) -> Response:
    raw_wait = request.args.get("wait", "0")
    try:
        wait = float(raw_wait)
    except ValueError:
        raise InvalidRequest("wait must be a number of seconds (0-5)") from None
    if not 0 <= wait <= MAX_WAIT:
        raise InvalidRequest("wait must be between 0 and 5 seconds")
    return jsonify(predictions.prediction_status(current_services(), job_id, wait))


def number_text(value: Any) -> str:
    if not (isinstance(value, str) and value.isascii() and value.isdigit()):
        raise InvalidRequest('number must be a string of digits, such as "2024"')
    if len(value) > MAX_DIGITS:
        raise InvalidRequest(f"number must have at most {MAX_DIGITS} digits")
    return value


@bp.post("/predictions/<job_id>/feedback")
def prediction_feedback(job_id: str) -> tuple[Response, int]:
    body = json_body({"consent"}, frozenset({"label", "number"}))
    if ("label" in body) == ("number" in body):
        raise InvalidRequest("send either label (one digit, or null) or number (the right number)")
    label = digit_label(body["label"], allow_null=True) if "label" in body else None
    number = number_text(body["number"]) if "number" in body else None
    if not isinstance(body["consent"], bool):
        raise InvalidRequest("consent must be true or false")
    answer = feedback.record_feedback(
        current_services(), job_id, label, body["consent"], client_id, number
    )
    return jsonify(answer), 202


@bp.get("/models")
def models() -> Response:
    return jsonify(learning.list_models(current_services()))


@bp.post("/models/<name>/rollback")
@admin_required
def rollback(name: str) -> Response:
    body = json_body({"version"})
    version = body["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidRequest("version must be a positive integer")
    return jsonify(models=learning.rollback(current_services(), name, version))


@bp.post("/models/<name>/challenger")
@admin_required
def decide_challenger(name: str) -> Response:
    """``{"decision": "promoted" | "retired"}``: settle the live challenger by hand."""
    decision = json_body({"decision"})["decision"]
    if decision not in ("promoted", "retired"):
        raise InvalidRequest('decision must be "promoted" or "retired"')
    return jsonify(learning.decide_challenger(current_services(), name, decision))


@bp.post("/fine-tunes")
@admin_required
def start_fine_tune() -> tuple[Response, int, dict[str, str]]:
    job_id = learning.start_fine_tune(current_services())
    status_url = url_for("api.fine_tune_status", job_id=job_id)
    return jsonify(id=job_id, status_url=status_url), 202, {"Location": status_url}


@bp.post("/retrains")
@admin_required
def start_retrain() -> tuple[Response, int, dict[str, str]]:
    """Optional ``{"epochs": 1-50, "mnist_limit": n}``; polled at the fine-tunes' status URL."""
    body = json_body(set(), frozenset({"epochs", "mnist_limit"})) if request.data else {}
    job_id = learning.start_retrain(current_services(), learning.retrain_options(body))
    status_url = url_for("api.fine_tune_status", job_id=job_id)
    return jsonify(id=job_id, kind="retrain", status_url=status_url), 202, {"Location": status_url}


@bp.get("/fine-tunes/<job_id>")
def fine_tune_status(job_id: str) -> Response:
    return jsonify(learning.fine_tune_status(current_services(), job_id))


@bp.get("/stats")
def stats() -> Response:
    services = current_services()
    races = {"challengers": learning.races(services)}
    return jsonify({**compute_stats(services.redis), **queue_state(services), **races})


def int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"{name} must be an integer") from None
    if not low <= value <= high:
        raise InvalidRequest(f"{name} must be between {low} and {high}")
    return value
