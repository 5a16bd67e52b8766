"""A sample's way in (``shared.dataset.intake``): stored as moderation left it, parked when
the store refuses it, then raced, indexed, counted and noted new, in that order, once."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis

from shared import metrics
from shared.dataset import (
    collectors,
    forgetting,
    intake,
    moderation_records,
    sample_backlog,
    sample_index,
    samples,
)
from shared.errors import InvalidImage
from shared.imaging import encode_pixels
from shared.storage import LocalStore, StoreUnavailable

PIXELS = encode_pixels(np.full((28, 28), 200, np.uint8))


class FlakyStore(LocalStore):
    """A local store that refuses every write while ``down``."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.down = False

    def put_bytes(self, key: str, data: bytes, content_type: str = "") -> None:
        if self.down:
            raise StoreUnavailable("the store is down")
        super().put_bytes(key, data, content_type)


class Recorder:
    """Hooks that note what the worker would do, and what the index held at that moment."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.calls: list[tuple[str, str, bool]] = []
        self.hooks = intake.Hooks(race=self.race, note_new=self.note_new)

    def indexed(self, sample_id: str) -> bool:
        return bool(self.client.hexists(sample_index.META_KEY, sample_id))

    def race(self, sample_id: str, image: np.ndarray, meta: samples.SampleMeta) -> None:
        assert image.shape == (28, 28)
        self.calls.append(("race", sample_id, self.indexed(sample_id)))

    def note_new(self, sample_id: str) -> None:
        self.calls.append(("note_new", sample_id, self.indexed(sample_id)))


@pytest.fixture()
def client(redis_database: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_database) as connection:
        yield connection


def counted(client: redis.Redis, metric: str, **labels: str) -> int:
    field = metrics.series_field(metric, labels)
    return int(client.hget(metrics.KEY, field) or 0)


def index_training(client: redis.Redis, sample_id: str) -> dict:
    """What the index keeps of a sample for the trainer alone."""
    return dict(json.loads(client.hget(sample_index.TRAINING_KEY, sample_id)))


def test_a_sample_is_stored_raced_indexed_counted_then_noted_and_a_redelivery_counts_none(
    tmp_path, client
):
    store, recorder = LocalStore(tmp_path), Recorder(client)
    sample_id = uuid.uuid4().hex
    meta = samples.new_meta(3, "collect", "client-a")
    assert intake.save(client, store, sample_id, PIXELS, meta, recorder.hooks) == {"id": sample_id}
    assert samples.read_meta(store, sample_id)["label"] == 3
    assert store.exists(samples.image_key(sample_id))
    # The race before the index (the sample enters training only after), the note last.
    assert recorder.calls == [("race", sample_id, False), ("note_new", sample_id, True)]
    assert counted(client, "samples_stored", source="collect") == 1

    intake.save(client, store, sample_id, PIXELS, meta, recorder.hooks)  # a redelivery
    assert counted(client, "samples_stored", source="collect") == 1
    assert sample_index.counts(client)["total"] == 1

    feedback = uuid.uuid4().hex
    meta = samples.new_meta(None, "feedback", "client-b")
    intake.save(client, store, feedback, PIXELS, meta, recorder.hooks)
    assert ("race", feedback, False) not in recorder.calls  # only collected samples race
    assert counted(client, "samples_stored", source="feedback") == 1
    assert index_training(client, feedback) == {
        "label": None,
        "consent": True,
        "client": "client-b",
    }


def test_a_late_save_is_written_as_moderation_and_revocation_left_it(tmp_path, client):
    store, recorder = LocalStore(tmp_path), Recorder(client)
    deleted, hidden, revoked = (uuid.uuid4().hex for _ in range(3))
    moderation_records.record(store, deleted, "delete", "spam")
    moderation_records.record(store, hidden, "hide", "spam")
    collectors.issue(client, store, "eve")
    collectors.revoke(client, store, "eve")

    meta = samples.new_meta(1, "collect", "client-a")
    answer = intake.save(client, store, deleted, PIXELS, meta, recorder.hooks)
    assert answer == {"id": deleted, "deleted": True}
    assert not store.exists(samples.image_key(deleted)) and recorder.calls == []

    intake.save(client, store, hidden, PIXELS, meta, recorder.hooks)
    assert samples.read_meta(store, hidden)["hidden"] is True
    assert sample_index.read(client, hidden)["hidden"] is True
    assert [c[0] for c in recorder.calls] == ["note_new"]  # a hidden sample races nobody

    theirs = samples.new_meta(1, "collect", "client-e", collector="eve")
    intake.save(client, store, revoked, PIXELS, theirs, recorder.hooks)
    kept = samples.read_meta(store, revoked)
    assert "collector" not in kept and kept["revoked_collector"] == "eve"


def test_a_refused_sample_waits_in_the_backlog_until_the_store_takes_it(tmp_path, client):
    store, recorder = FlakyStore(tmp_path), Recorder(client)
    ids = [uuid.uuid4().hex for _ in range(3)]
    store.down = True
    for sample_id in ids:
        meta = samples.new_meta(5, "collect", "client-a")
        answer = intake.save(client, store, sample_id, PIXELS, meta, recorder.hooks)
        assert answer == {"id": sample_id, "backlog": True}
    assert sample_backlog.waiting(client) == 3 and client.ttl(sample_backlog.BACKLOG_KEY) == -1
    assert counted(client, "samples_backlogged") == 3
    assert intake.drain_backlog(client, store, recorder.hooks) == 0  # still down: all kept
    assert sample_backlog.waiting(client) == 3 and recorder.calls == []

    store.down = False
    moderation_records.record(store, ids[1], "delete", "deleted while it waited")
    assert intake.drain_backlog(client, store, recorder.hooks) == 2  # the deleted one dropped
    assert sample_backlog.waiting(client) == 0
    assert {i for i in ids if store.exists(samples.meta_key(i))} == {ids[0], ids[2]}
    assert [c[0] for c in recorder.calls] == ["race", "note_new"] * 2
    assert counted(client, "samples_stored", source="collect") == 2


def test_a_malformed_job_is_refused_not_parked(tmp_path, client):
    store, recorder = LocalStore(tmp_path), Recorder(client)
    meta = samples.new_meta(5, "collect", "client-a")
    with pytest.raises(InvalidImage):
        intake.save(client, store, uuid.uuid4().hex, "not pixels", meta, recorder.hooks)
    assert sample_backlog.waiting(client) == 0 and recorder.calls == []


def test_the_manifest_is_written_every_manifest_every_samples(tmp_path, client, monkeypatch):
    store, recorder = LocalStore(tmp_path), Recorder(client)
    monkeypatch.setattr(sample_index, "MANIFEST_EVERY", 2)
    ids = [uuid.uuid4().hex for _ in range(3)]
    for sample_id in ids[:1]:
        intake.save(
            client, store, sample_id, PIXELS, samples.new_meta(2, "collect", "a"), recorder.hooks
        )
    assert not store.exists(sample_index.MANIFEST_KEY)
    for sample_id in ids[1:]:
        intake.save(
            client, store, sample_id, PIXELS, samples.new_meta(2, "collect", "a"), recorder.hooks
        )
    assert set(sample_index.read_manifest(store)) == set(ids[:2])  # at the second


def test_tend_drains_then_keeps_up_and_survives_a_redis_that_is_down(tmp_path, client):
    store, recorder = FlakyStore(tmp_path), Recorder(client)
    sample_id = uuid.uuid4().hex
    sample_backlog.push(client, sample_id, PIXELS, samples.new_meta(6, "collect", "a"))
    archive = forgetting.archive_key(uuid.uuid4().hex, "zip", forgetting.now(client) - 1)
    store.put_bytes(archive, b"PK")
    forgetting.note_deletion(client)  # the archive may hold a deleted drawing
    intake.tend(client, store, recorder.hooks)
    assert store.exists(samples.meta_key(sample_id)) and sample_backlog.waiting(client) == 0
    assert not store.exists(archive)
    with redis.Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.5) as down:
        intake.tend(down, store, recorder.hooks)  # logs, raises nothing
