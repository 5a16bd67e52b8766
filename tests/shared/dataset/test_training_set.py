"""Which samples may be trained on: one rule, read by the trainer from the sample index.

The index (Redis) answers without listing the store or reading any sample's metadata; the
store stays the truth, and answers by the same rule when there is no index to read.
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis

from shared import answers
from shared.dataset import collectors, moderation, moderation_records, sample_index, samples
from shared.dataset.samples import SampleMeta
from shared.dataset.training_set import TrainingSample, collector_of, trainable, training_class
from shared.storage import LocalStore
from worker.trainer import user_samples

#: A port no test listens on: a Redis that never answers.
NOWHERE = "redis://127.0.0.1:9/0"


class WatchedStore(LocalStore):
    """A local store that remembers the prefixes listed and the keys read."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.listed: list[str] = []
        self.read: list[str] = []

    def list_keys(self, prefix: str) -> Iterator[str]:
        self.listed.append(prefix)
        return super().list_keys(prefix)

    def get_bytes(self, key: str) -> bytes:
        self.read.append(key)
        return super().get_bytes(key)

    def forget(self) -> None:
        self.listed.clear()
        self.read.clear()

    def metadata_read(self) -> bool:
        """Whether any sample was listed or had its metadata read."""
        return any(p.startswith("samples/") for p in self.listed) or any(
            k.startswith("samples/") and k.endswith(".json") for k in self.read
        )


@pytest.fixture()
def index(redis_database: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_database) as client:
        yield client


def store_sample(
    store: LocalStore,
    client: redis.Redis | None,
    digit: np.ndarray,
    label: int | None,
    who: str,
    **extra: object,
) -> str:
    """A sample as the samples worker stores it (indexed unless ``client`` is None); a
    hidden one as a moderator leaves it, with its record."""
    sample_id = uuid.uuid4().hex
    meta: SampleMeta = {**samples.new_meta(label, "collect", who), **extra}
    samples.write_sample(store, sample_id, digit, meta)
    if meta.get("hidden"):
        moderation_records.record(store, sample_id, "hide", "test")
    if client is not None:
        sample_index.add(client, sample_id, meta)
    return sample_id


def a_dataset(store: LocalStore, client: redis.Redis | None, mnist: dict) -> dict[str, str]:
    """Eight clients' samples, some of each kind the rule says no to; by id, what it is."""
    x, y = mnist["x_train"], mnist["y_train"]
    kinds: dict[str, str] = {}
    for i in range(120):  # clients 0-7: enough people for a holdout of whole people
        kinds[store_sample(store, client, x[i], int(y[i]), f"client-{i % 8}")] = "digit"
    for i in range(120, 130):
        kinds[store_sample(store, client, x[i], None, "client-1")] = "not a digit"
    kinds[store_sample(store, client, x[130], 3, "client-2", consent=False)] = "no consent"
    kinds[store_sample(store, client, x[131], 12, "client-2")] = "no such digit"
    kinds[store_sample(store, client, x[132], 4, "client-3", hidden=True)] = "hidden"
    return kinds


def test_the_rule_labelled_consented_and_not_hidden() -> None:
    base = samples.new_meta(7, "collect", "c")
    assert training_class(base) == 7
    assert training_class({**base, "label": None}) == answers.NOT_DIGIT
    assert training_class({**base, "label": True}) is None  # a bool is no digit
    assert training_class({**base, "label": 10}) is None
    assert training_class({**base, "consent": False}) is None
    assert training_class({**base, "hidden": True}) is None
    assert training_class(samples.without(base, "label")) is None
    assert training_class(samples.without(base, "consent")) is None
    assert collector_of({**base, "collector": "ada"}) == "ada"
    assert collector_of({**base, "collector": "ada"}, revoked={"ada"}) == ""
    assert collector_of({**base, "revoked_collector": "ada"}) == ""


def test_the_index_answers_as_the_store_without_a_samples_metadata_read(
    tmp_path, index, mnist_sample, monkeypatch
):
    store = WatchedStore(tmp_path)
    kinds = a_dataset(store, index, mnist_sample)
    sample_index.rebuild(index, store)  # built: the trainer may read it
    store.forget()
    from_index = trainable(store, index)
    assert not store.metadata_read() and store.listed == [collectors.PREFIX]
    from_store = trainable(store)
    assert from_index == from_store
    assert {s.id for s in from_index} == {
        i for i, kind in kinds.items() if kind in {"digit", "not a digit"}
    }
    assert {s.label for s in from_index if kinds[s.id] == "not a digit"} == {answers.NOT_DIGIT}

    # A round as the trainer makes it: the same holdout of people, cap and samples.
    monkeypatch.setattr(user_samples, "MAX_PER_CLIENT", 6)
    store.forget()
    round_ = user_samples.load_user_samples(store, index=index)
    assert not store.metadata_read()
    again = user_samples.load_user_samples(store)
    assert round_.holdout_by == again.holdout_by == "people" and round_.capped > 0
    for field in ("used_ids", "holdout_ids", "used_collectors", "capped", "holdout_by"):
        assert getattr(round_, field) == getattr(again, field), field
    assert np.array_equal(round_.train_x, again.train_x)
    assert np.array_equal(round_.holdout_y, again.holdout_y)


def test_a_sample_hidden_in_the_index_is_not_trained_on(tmp_path, index, mnist_sample):
    """The index is what the trainer reads: hidden there, the sample is left out even though
    its metadata in the store (not rewritten here) says nothing of it."""
    store = LocalStore(tmp_path)
    x, y = mnist_sample["x_train"], mnist_sample["y_train"]
    ids = [store_sample(store, index, x[i], int(y[i]), "client-a") for i in range(10)]
    sample_index.rebuild(index, store)
    sample_index.set_hidden(index, ids[0], True)
    assert ids[0] not in {s.id for s in trainable(store, index)}
    assert ids[0] in {s.id for s in trainable(store)}  # the store alone does not know
    loaded = user_samples.load_all_user_samples(store, index=index)
    assert ids[0] not in set(loaded.used_ids) | set(loaded.holdout_ids)
    assert len(loaded.used_ids) + len(loaded.holdout_ids) == 9


def test_moderation_and_revocation_reach_the_training_set_through_the_index(
    tmp_path, index, mnist_sample
):
    store = LocalStore(tmp_path)
    x, y = mnist_sample["x_train"], mnist_sample["y_train"]
    collectors.issue(index, store, "ada")
    theirs = [
        store_sample(store, index, x[i], int(y[i]), "c-ada", collector="ada") for i in range(4)
    ]
    other = store_sample(store, index, x[9], int(y[9]), "c-b")
    sample_index.rebuild(index, store)

    def read() -> dict[str, TrainingSample]:
        return {s.id: s for s in trainable(store, index)}

    assert {read()[i].collector for i in theirs} == {"ada"} and read()[other].collector == ""
    moderation.hide(index, store, theirs[0], "test")
    moderation.delete(index, store, theirs[1], "test")
    assert set(read()) == {*theirs[2:], other}
    moderation.unhide(index, store, theirs[0], "test")
    assert theirs[0] in read()
    collectors.revoke(index, store, "ada")
    assert {read()[i].collector for i in (theirs[0], *theirs[2:])} == {""}  # capped now
    assert read() == {s.id: s for s in trainable(store)}  # the store says the same


def test_without_a_built_index_the_store_decides(tmp_path, index, mnist_sample):
    store = WatchedStore(tmp_path)
    kinds = a_dataset(store, None, mnist_sample)  # stored, never indexed
    expected = {i for i, kind in kinds.items() if kind in {"digit", "not a digit"}}
    assert not sample_index.is_built(index)
    assert {s.id for s in trainable(store, index)} == expected
    assert store.metadata_read()
    with redis.Redis.from_url(NOWHERE, socket_connect_timeout=0.5) as down:
        assert {s.id for s in trainable(store, down)} == expected
    sample_index.rebuild(index, store)
    first = sorted(expected)[0]
    index.hdel(sample_index.TRAINING_KEY, first)  # indexed by a worker of the older layout
    store.forget()
    assert {s.id for s in trainable(store, index)} == expected
    assert store.read == [samples.meta_key(first)]  # that one alone


def test_the_manifest_keeps_what_the_trainer_reads_and_a_rebuild_restores_it(
    tmp_path, index, mnist_sample
):
    store = LocalStore(tmp_path)
    a_dataset(store, index, mnist_sample)
    sample_index.rebuild(index, store)
    before = trainable(store, index)
    assert sample_index.write_manifest(index, store) == 133
    lines = [
        json.loads(line)
        for line in gzip.decompress(store.get_bytes(sample_index.MANIFEST_KEY)).splitlines()
    ]
    assert all(set(line["training"]) == {"label", "consent", "client"} for line in lines)
    assert all("client" not in line for line in lines)  # not in the entries pages read
    assert all("client" not in json.loads(raw) for raw in index.hvals(sample_index.META_KEY))

    index.flushdb()
    done = sample_index.rebuild(index, store)
    assert (done["from_manifest"], done["read_from_store"]) == (133, 0)
    assert trainable(store, index) == before
    # A manifest of the older layout, without what the trainer reads: read from the store.
    old = b"".join(
        json.dumps({k: v for k, v in line.items() if k != "training"}).encode() + b"\n"
        for line in lines
    )
    store.put_bytes(sample_index.MANIFEST_KEY, gzip.compress(old))
    index.flushdb()
    done = sample_index.rebuild(index, store)
    assert (done["from_manifest"], done["read_from_store"]) == (0, 133)
    assert trainable(store, index) == before
