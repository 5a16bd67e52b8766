"""What the dataset promises the people who draw and the admins who export (issue 36: items
8, 9, 11, 14 and 16), played through the real stack: web, valkey, S3 and Celery workers.

- a store outage never costs a person the secret of a drawing that is stored, nor a 500;
- a deleted drawing leaves the export archives and the manifest too, and archives expire;
- an export goes on when a sample vanishes under it;
- a revoked collector's samples lose their exemption, and can be hidden together;
- an export's error names no path of the server.
"""

from __future__ import annotations

import gzip
import io
import json
import time
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from shared import challengers, metrics, names, prediction_records, registry
from shared.celery_config import send
from shared.dataset import forgetting, sample_index, samples
from shared.dataset.training_set import collector_of, trainable
from shared.imaging import encode_pixels, render_canvas_png
from tests import processes
from tests.helpers import ADMIN, BUCKET, ROOT, data_url, stack, wait_done, web
from tests.processes import wait_for


def post_sample(client: Any, digit: np.ndarray, label: int, headers: dict | None = None) -> dict:
    answer = client.post(
        "/api/samples",
        json={"image": data_url(render_canvas_png(digit)), "label": label},
        headers=headers or {},
    )
    assert answer.status_code == 202, answer.get_json()
    return dict(answer.get_json())


def wait_indexed(app: Any, ids: list[str]) -> None:
    client = app.extensions["digits"].redis
    wait_for(lambda: all(client.hexists(sample_index.META_KEY, i) for i in ids), 60, "indexed")


def since_now() -> str:
    """A ``from`` filter that holds only the samples sent from now on: times are kept to
    the second, so it waits for the next one to begin."""
    now = datetime.now(UTC)
    time.sleep(1 - now.microsecond / 1e6)
    start = now.replace(microsecond=0) + timedelta(seconds=1)
    return start.isoformat().replace("+00:00", "Z")


def finished_export(client: Any, status_url: str) -> dict:
    def finished() -> dict | None:
        job = client.get(status_url, headers=ADMIN).get_json()
        return job if job["status"] not in {"queued", "running"} else None

    return dict(wait_for(finished, 60, "the export job"))


# -- 8. a store outage --------------------------------------------------------------------------


def start_race(store: Any) -> int:
    """The shipped versions, and a copy of the CNN racing it as a live challenger."""
    registry.ensure_initial_versions(store, ROOT / "models")
    files = {f: store.get_bytes(registry.version_key("cnn", 1, f)) for f in registry.ARTIFACTS}
    version = registry.next_version(store, "cnn")
    registry.publish_version(store, "cnn", version, files, {"outcome": "challenger"})
    challengers.start(store, "cnn", version, champion=1)
    return version


def assert_store_unavailable(client: Any, sent: dict, host: str) -> None:
    """Hiding and deleting a sample while the store is down: 503, and no host in the answer."""
    for method, path, kwargs in [
        ("PATCH", f"/api/samples/{sent['id']}", {"json": {"hidden": True}, "headers": ADMIN}),
        ("DELETE", f"/api/samples/{sent['id']}", {"headers": {"X-Delete-Token": sent["delete_token"]}}),
        ("DELETE", f"/api/samples/{sent['id']}", {"headers": ADMIN}),
    ]:  # fmt: skip
        answer = client.open(path, method=method, **kwargs)
        assert answer.status_code == 503, (method, answer.get_json())
        error = answer.get_json()["error"]
        assert error["code"] == "store_unavailable" and answer.headers["Retry-After"]
        assert host not in error["message"]


@pytest.mark.slow
def test_a_store_outage_never_costs_a_drawings_secret_nor_answers_500(
    own_valkey, own_s3, workers, mnist_sample, tmp_path
):
    """Item 8: feedback whose race pair cannot be written still answers, with the secret
    of the drawing that will be stored; moderation says 503 ``store_unavailable``."""
    env = stack(own_valkey.url, f"s3://{BUCKET}/outage", own_s3.url, CHALLENGER_PAIRS="20",
                MODEL_CHECK_INTERVAL="0.2")  # fmt: skip
    app = web(env)
    client, services = app.test_client(), app.extensions["digits"]
    version = start_race(services.store)
    workers.start(env, "predict,samples", "worker")
    x, y = mnist_sample["x_test"], mnist_sample["y_test"]
    sent = post_sample(client, x[0], int(y[0]))
    wait_indexed(app, [sent["id"]])

    def shadowed() -> dict | None:
        answer = client.post("/api/predictions", json={"image": data_url(render_canvas_png(x[1]))})
        done = wait_done(client, answer.headers["Location"])
        outcome = json.loads(prediction_records.read(services.redis, done["id"])["outcome"])
        theirs = outcome["result"].get("shadow", {}).get("cnn", {})
        return done if theirs.get("version") == version else None

    done = wait_for(shadowed, 60, "a prediction the challenger read too", interval=0.5)

    own_s3.stop()
    feedback = client.post(
        f"/api/predictions/{done['id']}/feedback", json={"label": int(y[1]), "consent": True}
    )
    assert feedback.status_code == 202, feedback.get_json()
    [deletion] = feedback.get_json()["deletions"]
    assert deletion["id"] == done["id"] and deletion["delete_token"]
    failures = services.redis.hget(metrics.KEY, "race_pair_failures")
    assert failures is not None and int(failures) == 1  # counted, and logged
    assert_store_unavailable(client, sent, own_s3.url.split("//")[1])

    ports = {flag: int(own_s3.extra[flag]) for flag in processes.weed_port_flags()}
    restarted = processes.start_seaweedfs(tmp_path / "weed", BUCKET, ports)
    own_s3.proc = restarted.proc  # the fixture stops whichever runs now
    store = services.store
    wait_for(lambda: store.exists(samples.meta_key(done["id"])), 90, "the drawing stored")
    # The secret the person got is the one its stored drawing answers to.
    owned = client.delete(
        f"/api/samples/{done['id']}", headers={"X-Delete-Token": deletion["delete_token"]}
    )
    assert owned.status_code == 200 and owned.get_json()["deleted"] is True
    assert not store.exists(samples.meta_key(done["id"]))


# -- 9. a deleted drawing leaves every copy, and archives expire --------------------------------


def archive_keys(store: Any) -> list[str]:
    return list(store.list_keys(forgetting.ARCHIVE_PREFIX))


@pytest.mark.usefixtures("predict_worker")
def test_an_archive_made_before_a_deletion_goes_with_the_drawing(client, app, mnist_sample):
    store = app.extensions["digits"].store
    start = since_now()
    sent = [post_sample(client, mnist_sample["x_test"][60 + i], 4) for i in range(3)]
    wait_indexed(app, [s["id"] for s in sent])
    started = client.post(f"/api/samples/exports?format=zip&label=4&from={start}", headers=ADMIN)
    status_url = started.get_json()["status_url"]
    job = finished_export(client, status_url)
    assert job["status"] == "done" and job["done"] == job["total"] == 3
    mine = [k for k in archive_keys(store) if job["id"] in k]
    assert len(mine) == 1
    with zipfile.ZipFile(io.BytesIO(client.get(job["archive_url"], headers=ADMIN).data)) as zf:
        assert f"images/{sent[1]['id']}.png" in zf.namelist()

    gone = client.delete(
        f"/api/samples/{sent[1]['id']}", headers={"X-Delete-Token": sent[1]["delete_token"]}
    )
    assert gone.status_code == 200
    assert mine[0] not in archive_keys(store)  # deleted from the store with the drawing
    job = client.get(status_url, headers=ADMIN).get_json()
    assert job["status"] == "expired" and "deleted" in job["error"]
    refused = client.get(f"{status_url}/archive", headers=ADMIN)
    assert refused.status_code == 410 and refused.get_json()["error"]["code"] == "export_gone"
    # Else it would have been kept for a day, and the samples page says so.
    assert abs(job["expires_at"] - (time.time() + forgetting.ARCHIVE_SECONDS)) < 300
    assert "24 hours" in client.get("/samples").get_data(as_text=True)
    # The Forget page promises what now happens.
    assert "export archives" in client.get("/forget").get_data(as_text=True)


@pytest.mark.usefixtures("predict_worker")
def test_the_worker_sweeps_archives_past_their_time_and_of_the_older_form(client, app):
    services = app.extensions["digits"]
    store, redis = services.store, services.redis
    now = forgetting.now(redis)
    day = forgetting.ARCHIVE_SECONDS * 1_000_000
    old = forgetting.archive_key(uuid.uuid4().hex, "zip", now - day - 60_000_000)
    fresh = forgetting.archive_key(uuid.uuid4().hex, "zip", now)
    legacy = f"{forgetting.ARCHIVE_PREFIX}{uuid.uuid4().hex}.npz"  # made before archives expired
    for key in (old, fresh, legacy):
        store.put_bytes(key, b"PK\x05\x06" + bytes(18))
    redis.delete(forgetting.SWEEP_KEY)  # the sweep runs once a minute: let it run now
    wait_for(lambda: not {old, legacy} & set(archive_keys(store)), 30, "the old archives swept")
    assert fresh in archive_keys(store)
    store.delete(fresh)


@pytest.mark.usefixtures("predict_worker")
def test_a_deleted_sample_leaves_the_manifest_within_seconds(client, app, mnist_sample):
    services = app.extensions["digits"]
    sent = [post_sample(client, mnist_sample["x_test"][70 + i], 5) for i in range(2)]
    ids = [s["id"] for s in sent]
    wait_indexed(app, ids)
    sample_index.write_manifest(services.redis, services.store)  # as at the 1,000th sample
    assert set(ids) <= set(sample_index.read_manifest(services.store))

    assert client.delete(f"/api/samples/{ids[0]}?reason=test", headers=ADMIN).status_code == 200

    def manifest() -> dict:
        raw = services.store.get_bytes(sample_index.MANIFEST_KEY)
        return {json.loads(line)["id"]: line for line in gzip.decompress(raw).splitlines()}

    wait_for(lambda: ids[0] not in manifest(), 30, "the manifest rewritten without it")
    assert ids[1] in manifest()


# -- 11. a sample deleted during an export ------------------------------------------------------


@pytest.mark.usefixtures("predict_worker")
@pytest.mark.parametrize("kind", ["zip", "npz"])
def test_a_streamed_export_leaves_out_a_sample_deleted_while_it_is_written(
    client, app, mnist_sample, kind
):
    start = since_now()
    sent = [post_sample(client, mnist_sample["x_test"][80 + i], 6) for i in range(3)]
    ids = [s["id"] for s in sent]
    wait_indexed(app, ids)
    answer = client.get(
        f"/api/samples/export?format={kind}&label=6&from={start}", headers=ADMIN, buffered=False
    )
    chunks = iter(answer.response)
    first = next(chunks)  # the snapshot is taken: all three are in it
    # One not written yet (a zip's first chunk is its first image; an npz's, no image).
    gone = next(i for i in ids if i.encode() not in first)
    assert client.delete(f"/api/samples/{gone}", headers=ADMIN).status_code == 200
    data = first + b"".join(chunks)
    answer.close()
    kept = set(ids) - {gone}
    if kind == "zip":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            assert archive.testzip() is None
            images = {n[len("images/") : -4] for n in archive.namelist() if n.startswith("images/")}
            rows = archive.read("labels.csv").decode().splitlines()[1:]
        assert images == kept and {row.split(",")[0] for row in rows} == kept
    else:
        arrays = np.load(io.BytesIO(data))
        assert {i.decode() for i in arrays["ids"]} == kept
        assert arrays["x"].shape == (2, 28, 28) and list(arrays["y"]) == [6, 6]


@pytest.mark.usefixtures("predict_worker")
def test_a_background_export_skips_an_image_gone_from_the_store(client, app, mnist_sample):
    """The state a job meets when a sample is deleted after its snapshot: listed, no image."""
    store = app.extensions["digits"].store
    start = since_now()
    sent = [post_sample(client, mnist_sample["x_test"][90 + i], 7) for i in range(2)]
    ids = [s["id"] for s in sent]
    wait_indexed(app, ids)
    store.delete(samples.image_key(ids[0]))
    try:
        started = client.post(
            f"/api/samples/exports?format=npz&label=7&from={start}", headers=ADMIN
        )
        job = finished_export(client, started.get_json()["status_url"])
        assert job["status"] == "done", job
        assert job["done"] == job["total"] == 2
        arrays = np.load(io.BytesIO(client.get(job["archive_url"], headers=ADMIN).data))
        assert [i.decode() for i in arrays["ids"]] == [ids[1]] and arrays["x"].shape[0] == 1
    finally:
        client.delete(f"/api/samples/{ids[0]}", headers=ADMIN)


# -- 14. revoked collectors ---------------------------------------------------------------------


@pytest.mark.usefixtures("predict_worker")
def test_a_revoked_collectors_samples_lose_their_exemption_and_hide_together(
    client, app, mnist_sample
):
    services = app.extensions["digits"]
    store = services.store
    name = f"eve-{uuid.uuid4().hex[:6]}"
    token = client.post("/api/collectors", json={"name": name}, headers=ADMIN).get_json()["token"]
    sent = [
        post_sample(client, mnist_sample["x_test"][100 + i], 3, {"X-Collector-Token": token})
        for i in range(3)
    ]
    ids = [s["id"] for s in sent]
    wait_indexed(app, ids)
    assert {collector_of(samples.read_meta(store, i)) for i in ids} == {name}  # exempt

    revoked = client.delete(f"/api/collectors/{name}", headers=ADMIN)
    assert revoked.status_code == 200 and revoked.get_json()["samples_untrusted"] == 3
    for sample_id in ids:
        meta = samples.read_meta(store, sample_id)
        assert collector_of(meta) == "" and meta["revoked_collector"] == name  # capped now
    # A save sent before the revocation and stored after it is not trusted either.
    late = uuid.uuid4().hex
    meta = samples.new_meta(3, "collect", "late-client", collector=name)
    send(
        services.celery, names.SAVE_SAMPLE, [late, encode_pixels(mnist_sample["x_test"][99]), meta]
    )
    wait_indexed(app, [late])
    assert collector_of(samples.read_meta(store, late)) == ""
    ids.append(late)
    # Still theirs in the listing and the counts.
    listed = client.get(f"/api/samples?collector={name}", headers=ADMIN).get_json()["samples"]
    assert {s["id"] for s in listed} == set(ids)
    assert client.get("/api/stats").get_json()["samples_per_collector"][name] == 4
    # The trainer, reading the index (which still names them theirs), exempts none.
    trained = {s.id: s for s in trainable(store, services.redis) if s.id in ids}
    assert set(trained) == set(ids) and {s.collector for s in trained.values()} == {""}

    assert_hidden_together(client, services, name, ids)


def assert_hidden_together(client: Any, services: Any, name: str, ids: list[str]) -> None:
    """One call hides every sample of the collector, with its record; one shows them again."""
    store = services.store

    def trained() -> set[str]:
        return {sample.id for sample in trainable(store, services.redis)}

    path = f"/api/collectors/{name}/samples"
    assert client.patch(path, json={"hidden": True}).status_code == 401
    hidden = client.patch(path, json={"hidden": True, "reason": "spam"}, headers=ADMIN)
    assert hidden.status_code == 200 and hidden.get_json()["samples"] == len(ids)
    assert client.get(f"/api/samples?collector={name}", headers=ADMIN).get_json()["samples"] == []
    shown = client.get(f"/api/samples?collector={name}&hidden=1", headers=ADMIN).get_json()
    assert {s["id"] for s in shown["samples"]} == set(ids)
    assert not set(ids) & trained()
    record = json.loads(store.get_bytes(f"moderation/{ids[0]}.json"))
    assert record["state"] == "hidden" and record["actions"][-1]["reason"] == "spam"
    again = client.patch(path, json={"hidden": False}, headers=ADMIN)
    assert again.status_code == 200 and again.get_json()["samples"] == len(ids)
    assert set(ids) <= trained()
    assert client.patch("/api/collectors/nobody-here/samples", json={"hidden": True},
                        headers=ADMIN).status_code == 404  # fmt: skip


# -- 16. no path in an export's error -----------------------------------------------------------


@pytest.mark.slow
def test_a_failed_exports_error_names_no_path_of_the_server(
    own_valkey, workers, mnist_sample, tmp_path
):
    root = tmp_path / "store"
    env = stack(own_valkey.url, str(root))
    app = web(env)
    client = app.test_client()
    workers.start(env, "samples", "saver")
    sent = post_sample(client, mnist_sample["x_test"][110], 8)
    wait_indexed(app, [sent["id"]])
    (root / "exports").write_bytes(b"")  # a file where the archives' folder must go

    started = client.post("/api/samples/exports?format=zip", headers=ADMIN)
    job = finished_export(client, started.get_json()["status_url"])
    assert job["status"] == "failed"
    assert str(tmp_path) not in job["error"] and "/tmp" not in job["error"], job["error"]
    assert job["error"].startswith("StoreUnavailable")
