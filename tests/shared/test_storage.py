"""The object store (local directory and real S3) and the model registry on top of it."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from shared import registry
from shared.errors import NotFound, ObjectNotFound
from shared.storage import LocalStore, S3Store, Store, open_store
from tests.helpers import BUCKET


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    seaweedfs = request.getfixturevalue("seaweedfs")
    return open_store(f"s3://{BUCKET}/unit-{uuid.uuid4().hex[:8]}", seaweedfs.url)


def test_written_object_reads_back(store: Store):
    store.put_bytes("samples/a.json", b'{"label": 3}', "application/json")
    assert store.get_bytes("samples/a.json") == b'{"label": 3}'
    assert store.exists("samples/a.json")


def test_rewriting_a_key_replaces_it(store: Store):
    store.put_bytes("samples/a.png", b"one")
    store.put_bytes("samples/a.png", b"two")
    assert store.get_bytes("samples/a.png") == b"two"
    assert list(store.list_keys("samples/")) == ["samples/a.png"]


def test_missing_key_raises_object_not_found(store: Store):
    with pytest.raises(ObjectNotFound):
        store.get_bytes("samples/missing.png")
    assert not store.exists("samples/missing.png")


def test_list_keys_filters_by_prefix(store: Store):
    for key in ("models/fnn/1/metrics.json", "models/cnn/1/metrics.json", "samples/x.png"):
        store.put_bytes(key, b"{}")
    assert sorted(store.list_keys("models/")) == [
        "models/cnn/1/metrics.json",
        "models/fnn/1/metrics.json",
    ]
    store.delete("samples/x.png")
    assert list(store.list_keys("samples/")) == []


def test_store_is_reachable(store: Store):
    store.ping()


@pytest.mark.parametrize("key", ["", "/etc/passwd", "../escape", "a//b", "a/./b"])
def test_keys_cannot_escape_the_store(tmp_path: Path, key: str):
    with pytest.raises(ValueError):
        LocalStore(tmp_path).put_bytes(key, b"x")


def test_open_store_picks_the_implementation(tmp_path: Path):
    assert isinstance(open_store(str(tmp_path)), LocalStore)
    assert isinstance(open_store(f"file://{tmp_path}"), LocalStore)
    s3 = open_store("s3://bucket/some/prefix", "http://127.0.0.1:1")
    assert isinstance(s3, S3Store) and s3.bucket == "bucket" and s3.prefix == "some/prefix/"


def fake_weights(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("fnn", "cnn"):
        (directory / f"{name}.keras").write_bytes(b"keras-" + name.encode())
        (directory / f"{name}.tflite").write_bytes(b"tflite-" + name.encode())
        (directory / f"{name}.metrics.json").write_text(json.dumps({"accuracy": 0.99}))
    return directory


def test_shipped_weights_are_published_as_version_one(store: Store, tmp_path: Path):
    assert registry.read_manifest(store) is None
    versions = registry.ensure_initial_versions(store, fake_weights(tmp_path / "w"))
    assert versions == {"fnn": 1, "cnn": 1}
    assert registry.read_manifest(store) == {"fnn": 1, "cnn": 1}
    assert store.get_bytes("models/cnn/1/model.tflite") == b"tflite-cnn"
    assert registry.read_metrics(store, "fnn", 1)["outcome"] == "initial"


def test_publishing_twice_keeps_version_one(store: Store, tmp_path: Path):
    weights = fake_weights(tmp_path / "w")
    registry.ensure_initial_versions(store, weights)
    registry.ensure_initial_versions(store, weights)
    assert registry.version_numbers(store, "fnn") == [1]


def test_incomplete_version_is_not_listed_and_cannot_become_current(store: Store, tmp_path: Path):
    registry.ensure_initial_versions(store, fake_weights(tmp_path / "w"))
    store.put_bytes(registry.version_key("cnn", 2, "model.tflite"), b"half")  # no metrics.json
    assert registry.version_numbers(store, "cnn") == [1]
    assert registry.next_version(store, "cnn") == 3
    with pytest.raises(NotFound):
        registry.promote(store, {"cnn": 2})
    assert registry.read_manifest(store) == {"fnn": 1, "cnn": 1}


def test_promote_moves_only_the_models_it_names(store: Store, tmp_path: Path):
    registry.ensure_initial_versions(store, fake_weights(tmp_path / "w"))
    registry.publish_version(store, "cnn", 2, {"model.tflite": b"v2"}, {"outcome": "promoted"})
    assert registry.promote(store, {"cnn": 2}) == {"fnn": 1, "cnn": 2}
    assert registry.promote(store, {"cnn": 1}) == {"fnn": 1, "cnn": 1}
    registry.publish_version(store, "fnn", 2, {"model.tflite": b"v2"}, {"outcome": "promoted"})
    assert registry.promote(store, {"fnn": 2, "cnn": 2}) == {"fnn": 2, "cnn": 2}
    with pytest.raises(NotFound):
        registry.promote(store, {"rnn": 1})
