"""Dataset tools: browse stored samples, export them (zip of PNGs + CSV, or npz)."""

from __future__ import annotations

import base64
import csv
import io
import zipfile
from typing import Any

import numpy as np
from PIL import Image

from shared import samples
from shared.storage import Store

MAX_PAGE = 200


def list_samples(
    store: Store, label: int | None, source: str | None, limit: int, offset: int
) -> dict[str, Any]:
    """Newest first, filtered by label and source, with each 28x28 image as a data URL."""
    metas = [samples.read_meta(store, sample_id) for sample_id in samples.sample_ids(store)]
    chosen = [
        meta
        for meta in metas
        if (label is None or meta.get("label") == label)
        and (source is None or meta.get("source") == source)
    ]
    chosen.sort(key=lambda meta: str(meta.get("created_at", "")), reverse=True)
    page = chosen[offset : offset + limit]
    items = []
    for meta in page:
        png = store.get_bytes(samples.image_key(meta["id"]))
        items.append(
            {
                "id": meta["id"],
                "label": meta.get("label"),
                "source": meta.get("source"),
                "created_at": meta.get("created_at"),
                "image": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
            }
        )
    return {"total": len(chosen), "offset": offset, "limit": limit, "samples": items}


def _labelled(store: Store) -> list[tuple[dict[str, Any], bytes]]:
    found = []
    for sample_id in sorted(samples.sample_ids(store)):
        meta = samples.read_meta(store, sample_id)
        found.append((meta, store.get_bytes(samples.image_key(sample_id))))
    return found


def export_zip(store: Store) -> bytes:
    """PNGs named by id plus labels.csv (id, label, source, created_at)."""
    buffer = io.BytesIO()
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["id", "label", "source", "created_at"])
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for meta, png in _labelled(store):
            archive.writestr(f"images/{meta['id']}.png", png)
            label = "" if meta.get("label") is None else meta["label"]
            writer.writerow([meta["id"], label, meta.get("source", ""), meta.get("created_at", "")])
        archive.writestr("labels.csv", table.getvalue())
    return buffer.getvalue()


def export_npz(store: Store) -> bytes:
    """Labelled samples as ``x`` (n, 28, 28) uint8 and ``y`` (n,), ready for training."""
    xs, ys = [], []
    for meta, png in _labelled(store):
        if isinstance(meta.get("label"), int):
            xs.append(np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.uint8))
            ys.append(meta["label"])
    buffer = io.BytesIO()
    x = np.stack(xs) if xs else np.zeros((0, 28, 28), np.uint8)
    np.savez_compressed(buffer, x=x, y=np.asarray(ys, dtype=np.uint8))
    return buffer.getvalue()
