"""The dataset endpoints: collect, browse, count, moderate and export samples; collectors.

Thin views over ``web.dataset``; every admin call needs the admin token. A store that
does not answer is a 503 ``store_unavailable`` on every path of the app (registered here,
where most store calls are), never a 500.
"""

from __future__ import annotations

import base64
import logging
import uuid
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from shared import names
from shared.celery_config import send
from shared.dataset import collectors, exports, samples
from shared.dataset.samples import deletion_token, new_meta
from shared.errors import (
    InvalidRequest,
    NotFound,
    ObjectNotFound,
    PrivateGallery,
    WrongDeleteToken,
)
from shared.imaging import encode_pixels
from web import dataset
from web.admin import admin_required, check_admin, is_admin
from web.api import digit_label, image_from, int_arg, json_body
from web.client_ids import client_id
from web.services import current_services

bp = Blueprint("dataset", __name__, url_prefix="/api")
log = logging.getLogger(__name__)

#: The header a trusted collector sends its token in (Authorization is the admin's).
COLLECTOR_HEADER = "X-Collector-Token"
#: The header that carries a sample's deletion secret.
DELETE_HEADER = "X-Delete-Token"


@bp.post("/samples")
def create_sample() -> tuple[Response, int]:
    """A labelled drawing for the dataset; with a collector token, it is theirs."""
    body = json_body({"image", "label"})
    label = digit_label(body["label"])
    services = current_services()
    token = request.headers.get(COLLECTOR_HEADER)
    collector = collectors.name_of(services.redis, services.store, token) if token else None
    pixels = image_from(body)
    sample_id = uuid.uuid4().hex
    token, kept = deletion_token()
    meta = new_meta(label, "collect", client_id(), collector=collector, delete_token_sha256=kept)
    send(
        services.celery,
        names.SAVE_SAMPLE,
        [sample_id, encode_pixels(pixels), meta],
        task_id=sample_id,  # worker logs name the sample
    )
    # The deletion secret is shown this once; the page turns it into a link to /forget.
    answer: dict[str, Any] = {"id": sample_id, "delete_token": token}
    if collector:
        answer["collector"] = collector
    return jsonify(answer), 202


@bp.get("/samples")
def list_samples() -> Response:
    """``?label=&source=&collector=&from=&to=&version=&hidden=&limit=&offset=``.

    The drawings are public only with PUBLIC_GALLERY=true; otherwise admins list them.
    """
    admin = is_admin()
    if not (admin or current_services().settings.public_gallery):
        raise PrivateGallery("the samples are shown to admins only (PUBLIC_GALLERY is off)")
    chosen = dataset.parse_filter(request.args, admin)
    limit = int_arg("limit", 50, 1, dataset.MAX_PAGE)
    offset = int_arg("offset", 0, 0, 10**9)
    return jsonify(dataset.list_samples(current_services(), chosen, limit, offset))


@bp.get("/samples/counts")
def sample_counts() -> Response:
    return jsonify(dataset.counts(current_services()))


@bp.get("/samples/<sample_id>/image")
def own_sample_image(sample_id: str) -> Response:
    """A sample's 28x28 image as a data URL, for the person who sent it (``X-Delete-Token``):
    the Forget page shows the drawing it deletes, even when the gallery is private."""
    store = current_services().store
    meta = samples.stored_meta(store, sample_id)  # 404 until the worker has stored it
    if not samples.token_matches(meta, request.headers.get(DELETE_HEADER, "")):
        raise WrongDeleteToken("this is not the deletion token of that sample")
    try:
        png = store.get_bytes(samples.image_key(sample_id))
    except ObjectNotFound:
        raise NotFound(f"no sample {sample_id}") from None
    return jsonify(id=sample_id, image="data:image/png;base64," + base64.b64encode(png).decode())


def _reason(body: dict[str, Any]) -> str:
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 500:
        raise InvalidRequest("reason must be text of at most 500 characters")
    return reason


@bp.patch("/samples/<sample_id>")
@admin_required
def moderate_sample(sample_id: str) -> Response:
    """``{"hidden": true|false, "reason": "..."}``: hide a sample or show it again."""
    body = json_body({"hidden"}, frozenset({"reason"}))
    if not isinstance(body["hidden"], bool):
        raise InvalidRequest("hidden must be true or false")
    services = current_services()
    return jsonify(dataset.set_hidden(services, sample_id, body["hidden"], _reason(body)))


@bp.delete("/samples/<sample_id>")
def delete_sample(sample_id: str) -> Response:
    """Delete a sample for good: an admin (``?reason=`` is recorded), or the person who
    sent it, with the ``X-Delete-Token`` they were given."""
    token = request.headers.get(DELETE_HEADER)
    if token and not is_admin():
        return jsonify(dataset.delete_own_sample(current_services(), sample_id, token))
    check_admin()
    reason = _reason({"reason": request.args.get("reason", "")})
    return jsonify(dataset.delete_sample(current_services(), sample_id, reason))


def _format() -> str:
    kind = request.args.get("format", "zip")
    if kind not in exports.FORMATS:
        raise InvalidRequest("format must be zip or npz")
    return kind


@bp.get("/samples/export")
@admin_required
def export_samples() -> Response:
    """The filtered samples as one archive, streamed as it is written."""
    kind = _format()
    chosen = dataset.parse_filter(request.args, admin=True)
    return Response(
        dataset.export_stream(current_services(), chosen, kind),
        mimetype=exports.CONTENT_TYPES[kind],
        headers={"Content-Disposition": f"attachment; filename=digits-samples.{kind}"},
    )


@bp.post("/samples/exports")
@admin_required
def start_export() -> tuple[Response, int, dict[str, str]]:
    """The same archive written to the store by the samples worker, for big datasets."""
    kind = _format()
    chosen = dataset.parse_filter(request.args, admin=True)
    job = dataset.start_export(current_services(), chosen, kind)
    status_url = url_for("dataset.export_status", job_id=job["id"])
    return jsonify(id=job["id"], status_url=status_url), 202, {"Location": status_url}


@bp.get("/samples/exports/<job_id>")
@admin_required
def export_status(job_id: str) -> Response:
    job = dataset.export_job(current_services(), job_id)
    if job["status"] == "done":
        job["archive_url"] = url_for("dataset.export_archive", job_id=job_id)
    return jsonify(job)


@bp.get("/samples/exports/<job_id>/archive")
@admin_required
def export_archive(job_id: str) -> Response:
    job, chunks = dataset.export_archive(current_services(), job_id)
    kind = job["format"]
    return Response(
        chunks,
        mimetype=exports.CONTENT_TYPES[kind],
        headers={
            "Content-Disposition": f"attachment; filename=digits-samples-{job_id[:8]}.{kind}",
            "Content-Length": str(job["bytes"]),
        },
    )


@bp.post("/collectors")
@admin_required
def issue_collector() -> tuple[Response, int]:
    """``{"name": "ada"}``: a collector and its token, shown this once."""
    name = collectors.check_name(json_body({"name"})["name"])
    return jsonify(dataset.issue_collector(current_services(), name)), 201


@bp.get("/collectors")
@admin_required
def list_collectors() -> Response:
    """The collectors with the sample counts: each collector's ``samples`` is the figure of
    ``counts.per_collector``, so the page's two lists agree."""
    services = current_services()
    counts = dataset.counts(services)
    per = counts["per_collector"]
    found = [
        {**c, "samples": per.get(c["name"], c["samples"])}
        for c in dataset.list_collectors(services)
    ]
    return jsonify(collectors=found, counts=counts)


@bp.delete("/collectors/<name>")
@admin_required
def revoke_collector(name: str) -> Response:
    """The token stops working, and the samples sent with it lose their exemption from the
    per-client cap (``samples_untrusted`` counts them); they stay attributed."""
    services = current_services()
    return jsonify(collectors.revoke(services.redis, services.store, collectors.check_name(name)))


@bp.patch("/collectors/<name>/samples")
@admin_required
def moderate_collector_samples(name: str) -> Response:
    """``{"hidden": true|false, "reason": "..."}``: hide every sample of a collector, or
    show them all again; each gets its moderation record."""
    body = json_body({"hidden"}, frozenset({"reason"}))
    if not isinstance(body["hidden"], bool):
        raise InvalidRequest("hidden must be true or false")
    services, name = current_services(), collectors.check_name(name)
    return jsonify(dataset.hide_collector_samples(services, name, body["hidden"], _reason(body)))
