"""The dataset seen from web: browse, count, moderate and export samples; trusted collectors.

Every listing and count reads the Redis index (``shared.dataset.sample_index``), never the whole
store; only the images of one page are read from the store. Moderation is
``shared.dataset.moderation``'s: it changes the store first (the truth), records why, then
the index; a deletion also takes the sample out of every export archive and the manifest.
"""

from __future__ import annotations

import base64
import itertools
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared import names
from shared.celery_config import send
from shared.dataset import collectors, export_jobs, exports, moderation, sample_index, samples
from shared.dataset.sample_index import Filter
from shared.errors import Conflict, InvalidRequest, NotFound, ObjectNotFound, WrongDeleteToken
from shared.names import MODEL_NAMES
from web.services import Services
from web.stats import samples_per_collector

MAX_PAGE = 200
#: Store reads in flight for one page of images (each an S3 GET on Heroku).
PAGE_READERS = 8


def parse_filter(args: dict[str, str], admin: bool) -> Filter:
    """A Filter from query arguments: label, source, collector, from, to, version, hidden."""
    label: int | None | str = "any"
    raw = args.get("label") or ""
    if raw == "none":
        label = None
    elif raw:
        if not (raw.isascii() and raw.isdigit() and int(raw) <= 9):
            raise InvalidRequest('label must be a digit 0-9 or "none" (not a digit)')
        label = int(raw)
    source = args.get("source") or None
    if source is not None and source not in samples.SOURCES:
        raise InvalidRequest(f"source must be one of {', '.join(samples.SOURCES)}")
    collector = args.get("collector") or None
    if collector is not None:
        collectors.check_name(collector)
    hidden = (args.get("hidden") or "").lower() in {"1", "true", "yes"}
    if hidden and not admin:
        raise InvalidRequest("hidden samples are listed for admins only")
    return Filter(
        label=label,
        source=source,
        collector=collector,
        hidden=hidden,
        since=_time(args.get("from"), "from", end=False),
        until=_time(args.get("to"), "to", end=True),
        version=_version(args.get("version")),
    )


def _time(raw: str | None, name: str, end: bool) -> float | None:
    """A day (``2026-11-28``, the whole day) or an ISO 8601 time, as epoch seconds."""
    if not raw:
        return None
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return (start + timedelta(days=1 if end else 0)).timestamp()
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"{name} must be a day (YYYY-MM-DD) or an ISO 8601 time") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _version(raw: str | None) -> tuple[str, int] | None:
    """``cnn:3``: only drawings version 3 of the CNN answered."""
    if not raw:
        return None
    model, _, number = raw.partition(":")
    if model not in MODEL_NAMES or not (number.isascii() and number.isdigit()):
        raise InvalidRequest(f"version must be a model and a number, such as {MODEL_NAMES[-1]}:3")
    return model, int(number)


def list_samples(services: Services, chosen: Filter, limit: int, offset: int) -> dict[str, Any]:
    """One page, newest first, each with its 28x28 image as a data URL."""
    total, page = sample_index.page(services.redis, chosen, limit, offset)
    store = services.store

    def image(entry: dict[str, Any]) -> str | None:
        try:
            png = store.get_bytes(samples.image_key(entry["id"]))
        except ObjectNotFound:  # deleted since the page was read
            return None
        return "data:image/png;base64," + base64.b64encode(png).decode("ascii")

    with ThreadPoolExecutor(PAGE_READERS) as pool:
        images = list(pool.map(image, page))
    items = [
        {**entry, "image": picture}
        for entry, picture in zip(page, images, strict=True)
        if picture is not None
    ]
    return {"total": total, "offset": offset, "limit": limit, "samples": items}


def counts(services: Services) -> dict[str, Any]:
    """Samples per label and source, hidden, and per collector: a few O(1) Redis reads."""
    found = sample_index.counts(services.redis)
    found["per_collector"] = samples_per_collector(services)
    return found


# -- moderation -----------------------------------------------------------------------------


def set_hidden(services: Services, sample_id: str, hidden: bool, reason: str) -> moderation.Hidden:
    """Hide a sample from listings, exports and training (or show it again), and say why."""
    act = moderation.hide if hidden else moderation.unhide
    return act(services.redis, services.store, sample_id, reason)


def delete_sample(services: Services, sample_id: str, reason: str) -> moderation.Deleted:
    """Remove a sample for good (``shared.dataset.moderation.delete``)."""
    return moderation.delete(services.redis, services.store, sample_id, reason)


def delete_own_sample(services: Services, sample_id: str, token: str) -> moderation.Deleted:
    """The person who sent a sample deletes it with the secret they were given."""
    try:
        meta = samples.stored_meta(services.store, sample_id)
    except NotFound:
        raise Conflict(
            "this sample is not stored yet (or no longer exists); try again in a minute"
        ) from None
    if not samples.token_matches(meta, token):
        raise WrongDeleteToken("this is not the deletion token of that sample")
    return delete_sample(services, sample_id, "deleted by the person who sent it")


# -- export ---------------------------------------------------------------------------------


def export_stream(services: Services, chosen: Filter, kind: str) -> Iterator[bytes]:
    return exports.stream(services.redis, services.store, chosen, kind)


def start_export(services: Services, chosen: Filter, kind: str) -> dict[str, Any]:
    """A background export: the samples worker writes the archive to the store."""
    job_id = uuid.uuid4().hex
    job = export_jobs.new_job(services.redis, job_id, kind, chosen)
    send(services.celery, names.EXPORT_SAMPLES, [job_id], task_id=job_id)
    return job


def export_job(services: Services, job_id: str) -> dict[str, Any]:
    """The job as the admin sees it ("expired" once its archive may not be served)."""
    job = export_jobs.read_job(services.redis, job_id)
    if job is None:
        raise NotFound(f"no export {job_id}")
    return export_jobs.view(services.redis, job)


def export_archive(services: Services, job_id: str) -> tuple[dict[str, Any], Iterator[bytes]]:
    """The archive's bytes; its first block is read here, so a deleted one is a 410, not
    a response cut short."""
    job = export_job(services, job_id)
    if job["status"] == "expired":
        raise export_jobs.ExportGone(f"export {job_id} expired: {job['error']}")
    if job["status"] != "done":
        raise NotFound(f"export {job_id} is {job['status']}, not done")
    chunks = services.store.iter_bytes(job["key"])
    try:
        first = next(chunks, b"")
    except ObjectNotFound:  # swept since the job was read
        raise export_jobs.ExportGone(f"export {job_id} expired: export again") from None
    return job, itertools.chain([first], chunks)


# -- collectors -----------------------------------------------------------------------------


def issue_collector(services: Services, name: str) -> dict[str, Any]:
    collector, token = collectors.issue(services.redis, services.store, name)
    return {"collector": collector, "token": token}


def hide_collector_samples(
    services: Services, name: str, hidden: bool, reason: str
) -> moderation.CollectorHidden:
    """Hide every sample a collector sent (or show them all again), each with its record;
    404 for a collector never issued."""
    return moderation.moderate_collector(services.redis, services.store, name, hidden, reason)


def list_collectors(services: Services) -> list[dict[str, Any]]:
    found = collectors.list_all(services.store)
    per = sample_index.collector_counts(services.redis, [c["name"] for c in found])
    return [{**collectors.public(c), "samples": per[c["name"]]} for c in found]
