"""Background exports: the samples worker writes an archive to the store, web serves it.

A job's record lives in Redis (``digits:exports:<id>``); its archive in the store under a
key that says when the export began (``shared.dataset.forgetting``). An archive is served for
``ARCHIVE_SECONDS`` at most, and never once a drawing was deleted after its export began
(it may be inside): the job then reads "expired", with why, and the sweep deletes it.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from shared.dataset import exports, forgetting
from shared.dataset.sample_index import Filter
from shared.errors import NotFound, describe_error
from shared.storage import Store

JOB_PREFIX = "digits:exports:"
JOB_SECONDS = 7 * 24 * 3600
#: Runs of one job when drawings are deleted while it writes, before it gives up.
ATTEMPTS = 3
#: Why an archive is no longer served, as the job's ``error``.
GONE = {
    "deleted": "a drawing was deleted after this export began, so its archive was deleted; "
    "export again",
    "expired": f"archives are kept {forgetting.ARCHIVE_SECONDS // 3600} hours; this one was "
    "deleted; export again",
}
BUSY = "drawings kept being deleted while the archive was written; export again"


class ExportGone(NotFound):
    """The export finished, but its archive was deleted (expired, or a drawing deleted)."""

    code = "export_gone"
    http_status = 410


def job_key(job_id: str) -> str:
    return JOB_PREFIX + job_id


def filter_to_json(chosen: Filter) -> dict[str, Any]:
    data = dict(chosen.__dict__)
    if chosen.version is not None:
        data["version"] = list(chosen.version)
    return data


def filter_from_json(data: dict[str, Any]) -> Filter:
    version = data.get("version")
    return Filter(**{**data, "version": tuple(version) if version else None})


def new_job(client: redis.Redis, job_id: str, kind: str, chosen: Filter) -> dict[str, Any]:
    job = {
        "id": job_id,
        "status": "queued",
        "format": kind,
        "done": 0,
        "total": None,
        "filter": filter_to_json(chosen),
        "created_at": time.time(),
    }
    client.set(job_key(job_id), json.dumps(job), ex=JOB_SECONDS)
    return job


def read_job(client: redis.Redis, job_id: str) -> dict[str, Any] | None:
    raw = client.get(job_key(job_id))
    return None if raw is None else dict(json.loads(raw))


def view(client: redis.Redis, job: dict[str, Any]) -> dict[str, Any]:
    """The job as an admin sees it: a done job whose archive may not be served is "expired"."""
    if job["status"] != "done":
        return job
    state = forgetting.archive_state(client, job.get("started"))
    if state is None:
        return job
    return {
        **{k: v for k, v in job.items() if k != "key"},
        "status": "expired",
        "error": GONE[state],
    }


def _update(client: redis.Redis, job: dict[str, Any], **fields: Any) -> None:
    job.update(fields)
    client.set(job_key(job["id"]), json.dumps(job), ex=JOB_SECONDS)


def run_job(client: redis.Redis, store: Store, job_id: str) -> dict[str, Any]:
    """Write the job's archive and put it in the store; again if a drawing was deleted
    meanwhile (the archive may hold it: it is deleted, and the next snapshot lacks it)."""
    job = read_job(client, job_id)
    if job is None or job["status"] == "done":
        return job or {"id": job_id, "status": "unknown"}
    for _ in range(ATTEMPTS):
        started = forgetting.now(client)  # before the snapshot
        key = forgetting.archive_key(job_id, job["format"], started)
        _update(client, job, status="running", done=0, total=None)
        try:
            size = _write(client, store, job, key)
        except Exception as exc:
            # What anyone with the admin token reads: no path, no host (the log has them).
            _update(client, job, status="failed", error=describe_error(exc))
            raise
        if forgetting.last_deletion(client) < started:
            expires_at = started / 1e6 + forgetting.ARCHIVE_SECONDS
            _update(
                client,
                job,
                status="done",
                key=key,
                bytes=size,
                started=started,
                expires_at=expires_at,
            )
            return job
        store.delete(key)
    _update(client, job, status="failed", error=BUSY)
    return job


def _write(client: redis.Redis, store: Store, job: dict[str, Any], key: str) -> int:
    """Write the archive to a temporary file, then to the store in parts; its size."""
    chosen, kind = filter_from_json(job["filter"]), job["format"]
    last = [0.0]

    def report(done: int, total: int) -> None:
        if time.monotonic() - last[0] >= 0.5 or done == total:
            last[0] = time.monotonic()
            _update(client, job, done=done, total=total)

    with tempfile.TemporaryDirectory(prefix="digits-export-") as folder:
        path = Path(folder) / f"archive.{kind}"
        with path.open("wb") as out:
            for data in exports.stream(client, store, chosen, kind, report):
                out.write(data)
        store.put_file(key, path, exports.CONTENT_TYPES[kind])
        return path.stat().st_size
