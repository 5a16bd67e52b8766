"""Export samples as a zip of PNGs with a CSV, or as an npz, streamed with constant memory.

Both formats are written entry by entry to a file object that need not seek (an HTTP
response, a temporary file), from a snapshot of the index: the samples are read from the
store a chunk at a time, never all at once. A sample deleted while its archive is written
is left out whole (image, label row, array entries), never a reason to stop half-way. Web
streams them; the samples worker writes big ones to the store as a background job
(``shared.dataset.export_jobs``).
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

import numpy as np
import redis
from PIL import Image

from shared import answers
from shared.dataset import sample_index, samples
from shared.dataset.sample_index import Filter
from shared.dataset.zip_stream import KEEP_ALIVE, ZipStream
from shared.errors import ObjectNotFound
from shared.storage import Store

FORMATS = ("zip", "npz")
CONTENT_TYPES = {"zip": "application/zip", "npz": "application/octet-stream"}
CSV_COLUMNS = ("id", "label", "source", "created_at", "collector")
#: ``report(done, total)`` while an export runs.
Progress = Callable[[int, int], None]
#: Reads one sample's PNG; None when the sample was deleted since the snapshot.
PngReader = Callable[[str], bytes | None]
#: An npz export sends a keep-alive every this many samples while it reads their images.
KEEP_ALIVE_EVERY = 64
#: Bytes one sample takes in an npz export's row file: its label, then its id.
_ROW = 33
_BLOCK = 1 << 16


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

        def read_png(sample_id: str) -> bytes | None:
            """A sample's image; each read (or vanished sample) is one more sample done."""
            try:
                png: bytes | None = store.get_bytes(samples.image_key(sample_id))
            except ObjectNotFound:  # deleted since the snapshot: left out
                png = None
            done[0] += 1
            if progress is not None:
                progress(done[0], total)
            return png

        yield from writer(sample_index.walk(client, key), read_png, archive)
        yield from archive.finish()
        if progress is not None:
            progress(total, total)  # every sample of the snapshot written or left out
    finally:
        client.delete(key)


def _blocks(handle: IO[bytes], size: int = _BLOCK) -> Iterator[bytes]:
    """A temporary file's content from its start, a block at a time."""
    handle.seek(0)
    while block := handle.read(size):
        yield block


def _csv_row(entry: dict[str, Any]) -> bytes:
    line = io.StringIO()
    label = "" if entry.get("label") is None else entry["label"]
    csv.writer(line).writerow(
        [
            entry["id"],
            label,
            entry.get("source", ""),
            entry.get("created_at", ""),
            entry.get("collector", ""),
        ]
    )
    return line.getvalue().encode()


def _zip(
    entries: Iterable[dict[str, Any]], read_png: PngReader, archive: ZipStream
) -> Iterator[bytes]:
    """``images/<id>.png`` (stored: PNGs are compressed already), then ``labels.csv``.

    The rows wait in a temporary file as the images are written, so the CSV names exactly
    the images the archive holds.
    """
    with tempfile.TemporaryFile() as rows:
        rows.write((",".join(CSV_COLUMNS) + "\r\n").encode())
        for entry in entries:
            png = read_png(entry["id"])
            if png is not None:
                yield archive.file(f"images/{entry['id']}.png", png)
                rows.write(_csv_row(entry))
        yield from archive.entry("labels.csv", _blocks(rows), compress=True)


def _npz(
    entries: Iterable[dict[str, Any]], read_png: PngReader, archive: ZipStream
) -> Iterator[bytes]:
    """``x`` (n, 28, 28) uint8, ``y`` (n,) uint8 with 10 for "not a digit", ``ids`` (n,).

    ``np.load`` reads it like any npz. Each array's header states n up front, and a
    sample may vanish while images are read, so they are read first, into temporary files
    (784 bytes and a 33-byte row a sample), inside ``y.npy``'s compressed entry, whose
    keep-alives let the response go on meanwhile; then the arrays are copied out.
    """
    with tempfile.TemporaryFile() as pixels, tempfile.TemporaryFile() as rows:
        count = [0]

        def labels() -> Iterator[bytes]:
            for index, entry in enumerate(entries):
                png = read_png(entry["id"])
                if png is not None:
                    image = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.uint8)
                    pixels.write(image.tobytes())
                    label = entry.get("label")
                    rows.write(bytes([answers.NOT_DIGIT if label is None else int(label)]))
                    rows.write(entry["id"].encode("ascii"))
                    count[0] += 1
                if index % KEEP_ALIVE_EVERY == KEEP_ALIVE_EVERY - 1:
                    yield KEEP_ALIVE
            yield _header((count[0],), np.uint8)
            yield from (block[::_ROW] for block in _blocks(rows, _ROW * 2048))

        def ids() -> Iterator[bytes]:
            yield _header((count[0],), np.dtype("S32"))
            for block in _blocks(rows, _ROW * 2048):
                yield b"".join(block[i + 1 : i + _ROW] for i in range(0, len(block), _ROW))

        def images() -> Iterator[bytes]:
            yield _header((count[0], 28, 28), np.uint8)
            yield from _blocks(pixels, 28 * 28 * 128)

        yield from archive.entry("y.npy", labels(), compress=True)
        yield from archive.entry("ids.npy", ids(), compress=False)
        yield from archive.entry("x.npy", images(), compress=False)


def _header(shape: tuple[int, ...], dtype: Any) -> bytes:
    out = io.BytesIO()
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
        "fortran_order": False,
        "shape": shape,
    }
    np.lib.format.write_array_header_1_0(out, header)
    return out.getvalue()
