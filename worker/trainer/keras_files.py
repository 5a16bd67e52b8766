"""Keras models to and from ``.keras`` bytes in the object store."""

from __future__ import annotations

import tempfile
from pathlib import Path

import keras

from shared import registry
from shared.storage import Store


def load_version(store: Store, name: str, version: int) -> keras.Model:
    """A version's Keras model; only ever from our own store (Keras loading has had CVEs)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        path.write_bytes(store.get_bytes(registry.version_key(name, version, "model.keras")))
        return keras.models.load_model(path, compile=False)


def keras_bytes(model: keras.Model) -> bytes:
    """The model as a ``.keras`` file (Keras 3 saves only to paths with that suffix)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)
        return path.read_bytes()
