"""The dataset at scale: the sample index and its rebuild, moderation, collectors, export."""

from __future__ import annotations

import io
import time
import tracemalloc
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import redis
from PIL import Image

from shared import names
from shared.celery_config import send
from shared.dataset import exports, moderation_records, sample_index, samples, training_set
from shared.dataset.sample_index import Filter
from shared.imaging import encode_pixels, render_canvas_png
from shared.storage import LocalStore
from tests import processes
from tests.helpers import ADMIN, data_url
from tests.processes import wait_for


@pytest.fixture()
def index_redis(redis_database: str) -> Iterator[redis.Redis]:
    """A Redis database of its own on the session's valkey, emptied before and after."""
    with redis.Redis.from_url(redis_database) as client:
        yield client


def store_samples(
    store: LocalStore, client: redis.Redis | None, count: int, start: datetime | None = None
) -> list[dict]:
    """``count`` samples in the store's real layout (and indexed unless ``client`` is None)."""
    rng = np.random.default_rng(count)
    start = start or datetime(2026, 11, 1, tzinfo=UTC)
    made = []
    for i in range(count):
        sample_id = uuid.UUID(int=int(rng.integers(1 << 62)) << 64 | i).hex
        label = None if i % 11 == 10 else i % 11
        meta = samples.new_meta(
            label,
            "collect" if i % 3 else "feedback",
            f"client-{i % 7}",
            predictions={"cnn": {"digit": label, "version": 1 + i % 2}} if i % 3 == 0 else None,
            collector="ada" if i % 5 == 0 else None,
        )
        meta["created_at"] = (start + timedelta(minutes=i)).isoformat()
        pixels = rng.integers(0, 255, (28, 28), dtype=np.uint8)
        samples.write_sample(store, sample_id, pixels, meta)
        if client is not None:
            sample_index.add(client, sample_id, meta)
        made.append({"id": sample_id, **meta})
    return made


def listed(client: redis.Redis, chosen: Filter) -> list[str]:
    return [entry["id"] for entry in sample_index.iterate(client, chosen)]


def newest_first(made: list[dict]) -> list[str]:
    return [m["id"] for m in sorted(made, key=lambda m: m["created_at"], reverse=True)]


def test_index_lists_filters_and_counts_like_the_store(tmp_path, index_redis):
    store = LocalStore(tmp_path)
    made = store_samples(store, index_redis, 120)
    assert listed(index_redis, Filter()) == newest_first(made)
    fours = [m for m in made if m["label"] == 4 and m["source"] == "collect"]
    assert listed(index_redis, Filter(label=4, source="collect")) == newest_first(fours)
    refused = [m for m in made if m["label"] is None]
    assert listed(index_redis, Filter(label=None)) == newest_first(refused)
    ada_fives = [m for m in made if m.get("collector") == "ada" and m["label"] == 5]
    assert listed(index_redis, Filter(label=5, collector="ada")) == newest_first(ada_fives)
    v2 = [m for m in made if (m.get("predictions") or {}).get("cnn", {}).get("version") == 2]
    assert listed(index_redis, Filter(version=("cnn", 2))) == newest_first(v2)
    day = datetime(2026, 11, 1, 1, tzinfo=UTC).timestamp()
    late = [m for m in made if datetime.fromisoformat(m["created_at"]).timestamp() >= day]
    assert listed(index_redis, Filter(since=day)) == newest_first(late)

    total, page = sample_index.page(index_redis, Filter(source="feedback"), 10, 5)
    feedback = newest_first([m for m in made if m["source"] == "feedback"])
    assert total == len(feedback) and [e["id"] for e in page] == feedback[5:15]
    counts = sample_index.counts(index_redis)
    assert counts["total"] == 120 and counts["per_label"]["none"] == len(refused)
    assert counts["per_label_and_source"]["4"]["collect"] == len(fours)
    # Indexing is idempotent: a redelivered save adds nothing.
    assert sample_index.add(index_redis, made[0]["id"], made[0]) is False
    assert sample_index.counts(index_redis)["total"] == 120


def test_rebuild_after_a_wipe_restores_every_listing(tmp_path, index_redis):
    store = LocalStore(tmp_path)
    made = store_samples(store, index_redis, 150)
    sample_index.write_manifest(index_redis, store)
    later = store_samples(store, index_redis, 30, start=datetime(2026, 11, 20, tzinfo=UTC))
    hidden = made[3]["id"]
    samples.write_meta(store, hidden, {**made[3], "hidden": True})
    moderation_records.record(store, hidden, "hide", "test")
    sample_index.set_hidden(index_redis, hidden, True)
    before = {
        "all": listed(index_redis, Filter()),
        "sevens": listed(index_redis, Filter(label=7)),
        "hidden": listed(index_redis, Filter(hidden=True)),
        "counts": sample_index.counts(index_redis),
    }
    assert before["hidden"] == [hidden] and hidden not in before["all"]

    index_redis.flushdb()
    assert not sample_index.is_built(index_redis) and listed(index_redis, Filter()) == []
    done = sample_index.rebuild_once(index_redis, store)
    assert done is not None
    # 150 came from the manifest, the 30 written after it from their own metadata.
    assert (done["samples"], done["from_manifest"], done["read_from_store"]) == (180, 150, 30)
    after = {
        "all": listed(index_redis, Filter()),
        "sevens": listed(index_redis, Filter(label=7)),
        "hidden": listed(index_redis, Filter(hidden=True)),
        "counts": sample_index.counts(index_redis),
    }
    assert after == before and len(after["all"]) == len(made) + len(later) - 1
    assert sample_index.rebuild_once(index_redis, store) is None  # built: nothing to do


def _peak_export(client: redis.Redis, store: LocalStore, kind: str) -> tuple[int, int]:
    """Peak Python memory while streaming a whole export, and the archive's size."""
    tracemalloc.start()
    size = 0
    for chunk in exports.stream(client, store, Filter(), kind):
        size += len(chunk)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, size


@pytest.mark.parametrize("kind", ["zip", "npz"])
def test_export_streams_with_constant_memory(tmp_path, index_redis, kind):
    store = LocalStore(tmp_path)
    store_samples(store, index_redis, 300)
    small_peak, small_size = _peak_export(index_redis, store, kind)
    store_samples(store, index_redis, 2700, start=datetime(2026, 11, 10, tzinfo=UTC))
    big_peak, big_size = _peak_export(index_redis, store, kind)
    figures = f"{kind}: peak {small_peak} B at 300 samples, {big_peak} B at 3,000 ({big_size} B)"
    assert big_size > 8 * small_size, figures
    assert big_peak < 1.5 * small_peak + 256 * 1024, figures
    assert big_peak < big_size / 3, figures


def test_export_of_a_filtered_set_holds_exactly_that_set(tmp_path, index_redis):
    store = LocalStore(tmp_path)
    made = store_samples(store, index_redis, 60)
    chosen = Filter(label=3, source="collect")
    expected = {m["id"] for m in made if m["label"] == 3 and m["source"] == "collect"}
    archive = zipfile.ZipFile(
        io.BytesIO(b"".join(exports.stream(index_redis, store, chosen, "zip")))
    )
    assert {
        n[len("images/") : -4] for n in archive.namelist() if n.startswith("images/")
    } == expected
    rows = archive.read("labels.csv").decode().splitlines()
    assert rows[0] == ",".join(exports.CSV_COLUMNS) and len(rows) == len(expected) + 1
    npz = np.load(
        io.BytesIO(b"".join(exports.stream(index_redis, store, Filter(label=None), "npz")))
    )
    refused = [m for m in made if m["label"] is None]
    assert npz["x"].shape == (len(refused), 28, 28) and set(npz["y"]) == {10}
    first = newest_first(refused)[0]
    pixels = np.asarray(
        __import__("PIL.Image", fromlist=["Image"]).open(store.root / f"samples/{first}.png")
    )
    assert npz["ids"][0].decode() == first and np.array_equal(npz["x"][0], pixels)


# -- through the API, with the real samples worker --------------------------------------------


def post_sample(client, digit: np.ndarray, label: int, headers: dict | None = None):
    return client.post(
        "/api/samples",
        json={"image": data_url(render_canvas_png(digit)), "label": label},
        headers=headers or {},
    )


def wait_indexed(app, ids: list[str]) -> None:
    client = app.extensions["digits"].redis
    wait_for(lambda: all(client.hexists(sample_index.META_KEY, i) for i in ids), 60, "indexed")


@pytest.mark.usefixtures("predict_worker")
def test_collector_token_attributes_samples_and_bad_tokens_are_refused(client, app, mnist_sample):
    name = f"ada-{uuid.uuid4().hex[:6]}"
    assert client.post("/api/collectors", json={"name": name}).status_code == 401
    assert client.post("/api/collectors", json={"name": "Ada!"}, headers=ADMIN).status_code == 400
    issued = client.post("/api/collectors", json={"name": name}, headers=ADMIN)
    assert issued.status_code == 201
    token = issued.get_json()["token"]
    again = client.post("/api/collectors", json={"name": name}, headers=ADMIN)
    assert again.status_code == 409

    x = mnist_sample["x_test"]
    mine = post_sample(client, x[0], 7, {"X-Collector-Token": token})
    assert mine.status_code == 202 and mine.get_json()["collector"] == name
    anonymous = post_sample(client, x[1], 2)
    assert anonymous.status_code == 202 and "collector" not in anonymous.get_json()
    forged = post_sample(client, x[2], 2, {"X-Collector-Token": "dc_not-a-token"})
    assert forged.status_code == 401
    assert forged.get_json()["error"]["code"] == "invalid_collector_token"

    ids = [mine.get_json()["id"], anonymous.get_json()["id"]]
    wait_indexed(app, ids)
    store = app.extensions["digits"].store
    assert samples.read_meta(store, ids[0])["collector"] == name
    assert "collector" not in samples.read_meta(store, ids[1])
    theirs = client.get(f"/api/samples?collector={name}").get_json()
    assert [s["id"] for s in theirs["samples"]] == [ids[0]]
    assert client.get("/api/stats").get_json()["samples_per_collector"][name] == 1
    listing = client.get("/api/collectors", headers=ADMIN).get_json()["collectors"]
    assert {"name": name, "samples": 1}.items() <= next(
        c for c in listing if c["name"] == name
    ).items()
    assert all("token" not in key for c in listing for key in c)

    revoked = client.delete(f"/api/collectors/{name}", headers=ADMIN)
    assert revoked.status_code == 200 and revoked.get_json()["revoked_at"]
    late = post_sample(client, x[3], 5, {"X-Collector-Token": token})
    assert late.status_code == 401


@pytest.mark.usefixtures("predict_worker")
def test_hidden_and_deleted_samples_leave_listing_export_and_training(client, app, mnist_sample):
    x = mnist_sample["x_test"]
    ids = [post_sample(client, x[i], 8).get_json()["id"] for i in range(20, 23)]
    wait_indexed(app, ids)
    kept, hidden, deleted = ids
    services = app.extensions["digits"]
    store = services.store

    def trained() -> set[str]:
        return {sample.id for sample in training_set.trainable(store, services.redis)}

    def exported() -> set[str]:
        answer = client.get("/api/samples/export?format=zip&label=8", headers=ADMIN)
        with zipfile.ZipFile(io.BytesIO(answer.data)) as archive:
            return {n[len("images/") : -4] for n in archive.namelist() if n.startswith("images/")}

    def listed_ids(query: str = "label=8&limit=200") -> set[str]:
        return {
            s["id"]
            for s in client.get(f"/api/samples?{query}", headers=ADMIN).get_json()["samples"]
        }

    assert set(ids) <= listed_ids() and set(ids) <= exported()
    assert client.patch(f"/api/samples/{hidden}", json={"hidden": True}).status_code == 401
    answer = client.patch(
        f"/api/samples/{hidden}", json={"hidden": True, "reason": "a test"}, headers=ADMIN
    )
    assert answer.status_code == 200
    assert client.get("/api/samples?hidden=1").status_code == 400  # admins only
    assert hidden in listed_ids("hidden=1")
    gone = client.delete(f"/api/samples/{deleted}?reason=spam", headers=ADMIN)
    assert gone.status_code == 200
    assert client.delete(f"/api/samples/{deleted}", headers=ADMIN).status_code == 404

    assert kept in listed_ids() and not {hidden, deleted} & listed_ids()
    assert kept in exported() and not {hidden, deleted} & exported()
    training = trained()
    assert kept in training and hidden not in training and deleted not in training
    assert not store.exists(f"samples/{deleted}.png")
    record = moderation_records.read_record(store, deleted)
    assert record["state"] == "deleted" and record["actions"][-1]["reason"] == "spam"
    assert moderation_records.read_record(store, hidden)["state"] == "hidden"

    shown = client.patch(f"/api/samples/{hidden}", json={"hidden": False}, headers=ADMIN)
    assert shown.status_code == 200 and hidden in listed_ids() and hidden in trained()


@pytest.mark.usefixtures("predict_worker")
def test_a_late_save_job_brings_back_no_deleted_sample_and_unhides_none(client, app, mnist_sample):
    """A redelivered save job (or one parked in the backlog) that runs after a moderator
    acted on its sample writes it as moderation left it: deleted stays gone, hidden hidden."""
    services = app.extensions["digits"]
    store = services.store
    x = mnist_sample["x_test"]
    ids = [post_sample(client, x[i], 5).get_json()["id"] for i in range(40, 42)]
    wait_indexed(app, ids)
    hidden, deleted = ids
    late_jobs = {
        sample_id: [
            sample_id,
            encode_pixels(
                np.asarray(Image.open(io.BytesIO(store.get_bytes(samples.image_key(sample_id)))))
            ),
            {k: v for k, v in samples.read_meta(store, sample_id).items() if k != "id"},
        ]
        for sample_id in ids
    }
    hide = client.patch(f"/api/samples/{hidden}", json={"hidden": True}, headers=ADMIN)
    assert hide.status_code == 200
    assert client.delete(f"/api/samples/{deleted}", headers=ADMIN).status_code == 200

    for args in late_jobs.values():  # the same jobs again, as a redelivery runs them
        send(services.celery, names.SAVE_SAMPLE, args)
    # A sample saved after them: once it is indexed, the worker has taken the late jobs.
    marker = post_sample(client, x[42], 5).get_json()["id"]
    wait_indexed(app, [marker])
    time.sleep(1)  # the worker's threads may finish them in any order

    assert not store.exists(samples.meta_key(deleted))
    assert not store.exists(samples.image_key(deleted))
    assert not services.redis.hexists(sample_index.META_KEY, deleted)
    assert samples.read_meta(store, hidden).get("hidden") is True
    training = {sample.id for sample in training_set.trainable(store, services.redis)}
    assert marker in training and hidden not in training and deleted not in training
    listed = client.get("/api/samples?label=5&limit=200", headers=ADMIN).get_json()["samples"]
    assert marker in {s["id"] for s in listed} and not {hidden, deleted} & {s["id"] for s in listed}


@pytest.mark.usefixtures("predict_worker")
def test_background_export_writes_the_archive_to_the_store(client, app, mnist_sample):
    ids = [
        post_sample(client, mnist_sample["x_test"][30 + i], 6).get_json()["id"] for i in range(3)
    ]
    wait_indexed(app, ids)
    started = client.post("/api/samples/exports?format=npz&label=6", headers=ADMIN)
    assert started.status_code == 202
    status_url = started.get_json()["status_url"]

    def finished():
        job = client.get(status_url, headers=ADMIN).get_json()
        return job if job["status"] in {"done", "failed"} else None

    job = wait_for(finished, 60, "the export job")
    assert job["status"] == "done" and job["done"] == job["total"] >= 3
    archive = client.get(job["archive_url"], headers=ADMIN)
    assert archive.status_code == 200
    arrays = np.load(io.BytesIO(archive.data))
    assert set(ids) <= {i.decode() for i in arrays["ids"]} and set(arrays["y"]) == {6}
    assert client.get("/api/samples/exports/nope", headers=ADMIN).status_code == 404


def test_bad_filters_are_clear_errors(client):
    for query, word in [("label=12", "label"), ("source=mail", "source"), ("from=yesterday", "from"),
                        ("version=rnn:1", "version"), ("collector=A%20B", "name")]:  # fmt: skip
        answer = client.get(f"/api/samples?{query}")
        assert answer.status_code == 400, query
        assert word in answer.get_json()["error"]["message"], query


def test_a_worker_started_on_an_empty_redis_rebuilds_the_index(tmp_path, redis_database):
    """Redis lost everything: the first worker to start indexes the store again by itself."""
    from tests.helpers import stack

    store = LocalStore(tmp_path / "store")
    made = store_samples(store, None, 40)
    client = redis.Redis.from_url(redis_database)
    env = stack(redis_database, str(tmp_path / "store"))
    worker = processes.start_celery_worker(
        env, "samples", tmp_path / "worker.log", "indexer", concurrency=1,
        redis_url=env["REDIS_URL"], pool="threads",
    )  # fmt: skip
    try:
        wait_for(lambda: sample_index.is_built(client), 30, "the index rebuilt at start-up")
        assert listed(client, Filter()) == newest_first(made)
    finally:
        worker.stop()
        client.flushdb()
