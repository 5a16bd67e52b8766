"""Export samples as a zip of PNGs with a CSV, or as an npz, streamed with constant memory.

Both formats are written entry by entry to a file object that need not seek (an HTTP
response, a temporary file), from a snapshot of the index: the samples are read from the
store a chunk at a time, never all at once. Web streams them; the samples worker writes
big ones to the store as a background job (``digits.export_samples``).
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import redis
from PIL import Image

from shared import answers, sample_index, samples
from shared.sample_index import Filter
from shared.storage import Store
from shared.zip_stream import ZipStream

FORMATS = ("zip", "npz")
CONTENT_TYPES = {"zip": "application/zip", "npz": "application/octet-stream"}
CSV_COLUMNS = ("id", "label", "source", "created_at", "collector")
JOB_PREFIX = "digits:exports:"
JOB_SECONDS = 7 * 24 * 3600
#: Where a background export leaves its archive.
ARCHIVE_PREFIX = "exports/"
#: ``report(done, total)`` while an export runs.
Progress = Callable[[int, int], None]


def stream(
    client: redis.Redis, store: Store, chosen: Filter, kind: str, progress: Progress | None = None
) -> Iterator[bytes]:
    """The archive's bytes, a sample at a time, from a snapshot of the matching ids."""
    if kind not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}")
    key, total = sample_index.snapshot(client, chosen)
    try:
        archive = ZipStream()
        writer = _zip if kind == "zip" else _npz
        done = [0]

        def read_png(sample_id: str) -> bytes:
            """A sample's image; each read is one more sample done."""
            png = store.get_bytes(samples.image_key(sample_id))
            done[0] += 1
            if progress is not None:
                progress(done[0], total)
            return png

        yield from writer(client, read_png, archive, key, total)
        yield from archive.finish()
        if progress is not None:
            progress(done[0], total)
    finally:
        client.delete(key)


#: Reads one sample's PNG.
PngReader = Callable[[str], bytes]


def _zip(
    client: redis.Redis, read_png: PngReader, archive: ZipStream, key: str, total: int
) -> Iterator[bytes]:
    """``images/<id>.png`` (stored: PNGs are compressed already), then ``labels.csv``."""
    for entry in sample_index.walk(client, key):
        yield archive.file(f"images/{entry['id']}.png", read_png(entry["id"]))

    def rows() -> Iterator[bytes]:
        yield (",".join(CSV_COLUMNS) + "\r\n").encode()
        for entry in sample_index.walk(client, key):
            line = io.StringIO()
            label = "" if entry.get("label") is None else entry["label"]
            csv.writer(line).writerow([entry["id"], label, entry.get("source", ""),
                                       entry.get("created_at", ""), entry.get("collector", "")])  # fmt: skip
            yield line.getvalue().encode()

    yield from archive.entry("labels.csv", rows(), compress=True)


def _npz(
    client: redis.Redis, read_png: PngReader, archive: ZipStream, key: str, total: int
) -> Iterator[bytes]:
    """``x`` (n, 28, 28) uint8, ``y`` (n,) uint8 with 10 for "not a digit", ``ids`` (n,).

    ``np.load`` reads it like any npz. Each array's header states n up front, which is why
    the walk is over a snapshot of known size.
    """

    def labels() -> Iterator[bytes]:
        yield _header((total,), np.uint8)
        for entry in sample_index.walk(client, key):
            label = entry.get("label")
            yield bytes([answers.NOT_DIGIT if label is None else int(label)])

    def ids() -> Iterator[bytes]:
        yield _header((total,), np.dtype("S32"))
        for entry in sample_index.walk(client, key):
            yield entry["id"].encode("ascii")

    def images() -> Iterator[bytes]:
        yield _header((total, 28, 28), np.uint8)
        for entry in sample_index.walk(client, key):
            pixels = np.asarray(Image.open(io.BytesIO(read_png(entry["id"]))).convert("L"))
            yield pixels.astype(np.uint8).tobytes()

    yield from archive.entry("y.npy", labels(), compress=False)
    yield from archive.entry("ids.npy", ids(), compress=False)
    yield from archive.entry("x.npy", images(), compress=False)


def _header(shape: tuple[int, ...], dtype: Any) -> bytes:
    out = io.BytesIO()
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
              "shape": shape}  # fmt: skip
    np.lib.format.write_array_header_1_0(out, header)
    return out.getvalue()


# -- background exports ---------------------------------------------------------------------


def job_key(job_id: str) -> str:
    return JOB_PREFIX + job_id


def archive_key(job_id: str, kind: str) -> str:
    return f"{ARCHIVE_PREFIX}{job_id}.{kind}"


def filter_to_json(chosen: Filter) -> dict[str, Any]:
    data = dict(chosen.__dict__)
    if chosen.version is not None:
        data["version"] = list(chosen.version)
    return data


def filter_from_json(data: dict[str, Any]) -> Filter:
    version = data.get("version")
    return Filter(**{**data, "version": tuple(version) if version else None})


def new_job(client: redis.Redis, job_id: str, kind: str, chosen: Filter) -> dict[str, Any]:
    job = {"id": job_id, "status": "queued", "format": kind, "done": 0, "total": None,
           "filter": filter_to_json(chosen), "created_at": time.time()}  # fmt: skip
    client.set(job_key(job_id), json.dumps(job), ex=JOB_SECONDS)
    return job


def read_job(client: redis.Redis, job_id: str) -> dict[str, Any] | None:
    raw = client.get(job_key(job_id))
    return None if raw is None else dict(json.loads(raw))


def _update(client: redis.Redis, job: dict[str, Any], **fields: Any) -> None:
    job.update(fields)
    client.set(job_key(job["id"]), json.dumps(job), ex=JOB_SECONDS)


def run_job(client: redis.Redis, store: Store, job_id: str) -> dict[str, Any]:
    """Write the job's archive to a temporary file, then to the store in parts."""
    job = read_job(client, job_id)
    if job is None or job["status"] == "done":
        return job or {"id": job_id, "status": "unknown"}
    chosen, kind = filter_from_json(job["filter"]), job["format"]
    _update(client, job, status="running")
    last = [0.0]

    def report(done: int, total: int) -> None:
        if time.monotonic() - last[0] >= 0.5 or done == total:
            last[0] = time.monotonic()
            _update(client, job, done=done, total=total)

    with tempfile.TemporaryDirectory(prefix="digits-export-") as folder:
        path = Path(folder) / f"archive.{kind}"
        try:
            with path.open("wb") as out:
                for data in stream(client, store, chosen, kind, report):
                    out.write(data)
            store.put_file(archive_key(job_id, kind), path, CONTENT_TYPES[kind])
        except Exception as exc:
            _update(client, job, status="failed", error=f"{type(exc).__name__}: {exc}")
            raise
        size = path.stat().st_size
    _update(client, job, status="done", key=archive_key(job_id, kind), bytes=size)
    return job
