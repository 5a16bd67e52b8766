"""Model versions in the object store, and the manifest that names the current ones.

Layout: ``models/<name>/<version>/{model.keras, model.tflite, metrics.json}`` and
``models/manifest.json``. A version's files are written first and its
``metrics.json`` last (the mark of a complete version); the manifest changes in
one PUT afterwards, so a reader never sees a half-written version.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.errors import NotFound, ObjectNotFound
from shared.names import MODEL_NAMES
from shared.storage import Store

log = logging.getLogger(__name__)

MANIFEST_KEY = "models/manifest.json"
ARTIFACTS = ("model.keras", "model.tflite")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def version_key(name: str, version: int, filename: str) -> str:
    return f"models/{name}/{int(version)}/{filename}"


def read_manifest(store: Store) -> dict[str, int] | None:
    """Current version of each model, or None before anything was published."""
    try:
        document = json.loads(store.get_bytes(MANIFEST_KEY))
    except ObjectNotFound:
        return None
    return {name: int(version) for name, version in document["models"].items()}


def write_manifest(store: Store, versions: dict[str, int]) -> None:
    body = {"models": dict(sorted(versions.items())), "updated_at": now_iso()}
    store.put_bytes(MANIFEST_KEY, json.dumps(body, indent=2).encode(), "application/json")


def publish_version(
    store: Store, name: str, version: int, files: dict[str, bytes], metrics: dict[str, Any]
) -> None:
    """Write a version's artifacts, then its metrics.json (which marks it complete)."""
    for filename, data in files.items():
        store.put_bytes(version_key(name, version, filename), data)
    body = {"name": name, "version": int(version), "created_at": now_iso(), **metrics}
    store.put_bytes(
        version_key(name, version, "metrics.json"),
        json.dumps(body, indent=2).encode(),
        "application/json",
    )


def update_metrics(store: Store, name: str, version: int, changes: dict[str, Any]) -> None:
    """Add ``changes`` to a complete version's metrics (a challenger's decision), in one PUT."""
    body = {**read_metrics(store, name, version), **changes}
    store.put_bytes(
        version_key(name, version, "metrics.json"),
        json.dumps(body, indent=2).encode(),
        "application/json",
    )


def version_numbers(store: Store, name: str) -> list[int]:
    """Complete versions of a model (those whose metrics.json exists), ascending."""
    numbers = set()
    for key in store.list_keys(f"models/{name}/"):
        parts = key.split("/")
        if len(parts) == 4 and parts[3] == "metrics.json" and parts[2].isdigit():
            numbers.add(int(parts[2]))
    return sorted(numbers)


#: Outcomes of versions that never served: they may be removed once old enough.
NEVER_SERVED = ("rejected", "retired")


def prune_versions(store: Store, name: str, keep: int, protect: set[int]) -> list[int]:
    """Remove versions that never served and are older than the newest ``keep``.

    Never a version that is current, shipped, promoted, racing or in ``protect`` (the
    manifest's and the live challenger's). metrics.json goes first, so a reader sees
    a version complete or not at all; returns the versions removed.
    """
    numbers = version_numbers(store, name)
    removed = []
    for version in numbers[: max(len(numbers) - keep, 0)]:
        if (
            version in protect
            or read_metrics(store, name, version).get("outcome") not in NEVER_SERVED
        ):
            continue
        store.delete(version_key(name, version, "metrics.json"))
        for artifact in ARTIFACTS:
            store.delete(version_key(name, version, artifact))
        removed.append(version)
    if removed:
        log.info(
            "removed %s versions %s (never served, older than the newest %d)", name, removed, keep
        )
    return removed


def next_version(store: Store, name: str) -> int:
    """One past the highest version number any file of the model uses (complete or not)."""
    highest = 0
    for key in store.list_keys(f"models/{name}/"):
        parts = key.split("/")
        if len(parts) == 4 and parts[2].isdigit():
            highest = max(highest, int(parts[2]))
    return highest + 1


def read_metrics(store: Store, name: str, version: int) -> dict[str, Any]:
    try:
        return dict(json.loads(store.get_bytes(version_key(name, version, "metrics.json"))))
    except ObjectNotFound:
        raise NotFound(f"model {name} has no version {version}") from None


def promote(store: Store, chosen: dict[str, int]) -> dict[str, int]:
    """Point the manifest at complete versions of some models (promotion or rollback).

    The other models keep whatever the manifest names now (an admin may have rolled one
    back meanwhile); the manifest changes in one write.
    """
    for name, version in chosen.items():
        if name not in MODEL_NAMES:
            raise NotFound(f"no model named {name!r}")
        read_metrics(store, name, version)  # NotFound for an incomplete or unknown version
    versions = {**(read_manifest(store) or {}), **{n: int(v) for n, v in chosen.items()}}
    write_manifest(store, versions)
    return versions


def ensure_initial_versions(store: Store, weights_dir: str | Path) -> dict[str, int]:
    """Publish the shipped weights as version 1 of any model the manifest lacks."""
    versions = read_manifest(store) or {}
    missing = [name for name in MODEL_NAMES if name not in versions]
    if not missing:
        return versions
    weights = Path(weights_dir)
    for name in missing:
        if 1 not in version_numbers(store, name):
            files = {
                artifact: (weights / f"{name}{Path(artifact).suffix}").read_bytes()
                for artifact in ARTIFACTS
            }
            card_path = weights / f"{name}.metrics.json"
            card = json.loads(card_path.read_text()) if card_path.is_file() else {}
            publish_version(store, name, 1, files, {"outcome": "initial", "card": card})
            log.info("published shipped %s weights as version 1", name)
        versions[name] = 1
    write_manifest(store, versions)
    return versions
