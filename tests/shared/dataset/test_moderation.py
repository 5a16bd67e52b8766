"""Moderation in one place: each action writes the sample's metadata, its record and the
index together; a deletion also leaves the pending set, the store and the archives."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np
import pytest
import redis

from shared import fine_tune_jobs
from shared.dataset import (
    collectors,
    forgetting,
    moderation,
    moderation_records,
    sample_index,
    samples,
)
from shared.dataset.sample_index import Filter
from shared.errors import InvalidRequest, NotFound
from shared.storage import LocalStore

PIXELS = np.zeros((28, 28), np.uint8)


@pytest.fixture()
def index(redis_database: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_database) as client:
        yield client


def stored(store: LocalStore, client: redis.Redis | None, **extra: object) -> str:
    """A sample as the samples worker leaves it: in the store, indexed, new to fine-tunes."""
    sample_id = uuid.uuid4().hex
    meta = {**samples.new_meta(4, "collect", "client-a"), **extra}
    samples.write_sample(store, sample_id, PIXELS, meta)
    if client is not None:
        sample_index.add(client, sample_id, meta)
        fine_tune_jobs.note_new_sample(client, sample_id, 1000)
    return sample_id


def listed(client: redis.Redis, **chosen: object) -> set[str]:
    return {entry["id"] for entry in sample_index.iterate(client, Filter(**chosen))}


def test_hide_and_unhide_write_the_metadata_the_record_and_the_index(tmp_path, index):
    store = LocalStore(tmp_path)
    sample_id = stored(store, index)

    hidden = moderation.hide(index, store, sample_id, "spam")
    assert hidden["id"] == sample_id and hidden["hidden"] is True
    assert samples.read_meta(store, sample_id)["hidden"] is True
    record = moderation_records.read_record(store, sample_id)
    assert record == hidden["moderation"]
    assert record["state"] == "hidden" and record["actions"][-1]["reason"] == "spam"
    assert sample_index.read(index, sample_id)["hidden"] is True
    assert sample_id in listed(index, hidden=True) and sample_id not in listed(index)

    shown = moderation.unhide(index, store, sample_id, "a mistake")
    assert shown["hidden"] is False
    assert "hidden" not in samples.read_meta(store, sample_id)
    record = moderation_records.read_record(store, sample_id)
    assert record["state"] == "visible" and [a["action"] for a in record["actions"]] == [
        "hide",
        "unhide",
    ]
    assert "hidden" not in sample_index.read(index, sample_id)
    assert sample_id in listed(index) and sample_id not in listed(index, hidden=True)


def test_hiding_a_sample_stored_but_not_indexed_yet_indexes_it_hidden(tmp_path, index):
    store = LocalStore(tmp_path)
    sample_id = stored(store, None)
    moderation.hide(index, store, sample_id, "before its index")
    assert sample_index.read(index, sample_id)["hidden"] is True
    assert index.hexists(sample_index.TRAINING_KEY, sample_id)
    assert listed(index, hidden=True) == {sample_id}


def test_delete_leaves_every_place_and_is_recorded_first(tmp_path, index):
    store = LocalStore(tmp_path)
    sample_id, kept = stored(store, index), stored(store, index)
    before = forgetting.now(index)
    archive = forgetting.archive_key(uuid.uuid4().hex, "zip", before)
    store.put_bytes(archive, b"PK\x05\x06" + bytes(18))  # an export begun before it

    gone = moderation.delete(index, store, sample_id, "asked to")
    assert gone["id"] == sample_id and gone["deleted"] is True
    record = moderation_records.read_record(store, sample_id)
    assert record == gone["moderation"] and record["state"] == "deleted"
    assert not store.exists(samples.meta_key(sample_id))
    assert not store.exists(samples.image_key(sample_id))
    for key in (sample_index.META_KEY, sample_index.TRAINING_KEY):
        assert not index.hexists(key, sample_id) and index.hexists(key, kept)
    assert listed(index) == {kept}
    assert fine_tune_jobs.pending_samples(index) == {kept}
    assert forgetting.last_deletion(index) > before and index.exists(forgetting.MANIFEST_STALE_KEY)
    assert not store.exists(archive)
    with pytest.raises(NotFound):  # once only
        moderation.delete(index, store, sample_id, "again")
    with pytest.raises(NotFound):
        moderation.hide(index, store, sample_id, "too late")
    with pytest.raises(InvalidRequest):
        moderation.delete(index, store, "../samples/x", "no such id")


def test_a_collectors_samples_are_hidden_together_each_with_its_record(tmp_path, index):
    store = LocalStore(tmp_path)
    collectors.issue(index, store, "ada")
    theirs = [stored(store, index, collector="ada") for _ in range(5)]
    other = stored(store, index)
    moderation.hide(index, store, theirs[0], "one first")

    done = moderation.moderate_collector(index, store, "ada", True, "spam")
    assert done == {"collector": "ada", "hidden": True, "samples": 4}  # the other was hidden
    assert listed(index, collector="ada", hidden=True) == set(theirs)
    assert listed(index) == {other}
    for sample_id in theirs:
        assert samples.read_meta(store, sample_id)["hidden"] is True
        assert moderation_records.read_record(store, sample_id)["state"] == "hidden"
    shown = moderation.moderate_collector(index, store, "ada", False, "fine after all")
    assert shown["samples"] == 5 and listed(index) == {other, *theirs}
    with pytest.raises(NotFound):
        moderation.moderate_collector(index, store, "nobody", True, "")
