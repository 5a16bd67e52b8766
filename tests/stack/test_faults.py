"""Faults caused on purpose, with real processes: killed workers, Redis and S3 going away.

Every test starts its own valkey, S3 server and workers (function-scoped) because it
kills or stops them; the session's services, which other tests share, are left alone.
"""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
import redis
from flask import Flask

from shared import fine_tune_jobs, names, prediction_records, registry
from shared.dataset import sample_backlog, sample_index, samples
from shared.imaging import render_canvas_png
from tests import processes
from tests.fine_tunes import finished, start_training
from tests.helpers import ADMIN, BUCKET, ROOT, data_url, sigkill, stack, wait_done, web
from tests.processes import wait_for
from web import predictions

pytestmark = pytest.mark.slow
#: A lost worker's jobs come back after this many seconds (an hour in production).
VISIBILITY = 2


def wait_past_visibility(client: redis.Redis) -> None:
    """Until every unacknowledged job is older than the visibility timeout."""
    scores = [
        score
        for index in ("unacked_index", "train_unacked_index")  # predict worker's, trainer's
        for _, score in client.zrange(index, 0, -1, withscores=True)
    ]
    if scores:
        time.sleep(max(0.0, max(scores) + VISIBILITY + 0.5 - time.time()))


def post_sample(client: Any, digit: np.ndarray, label: int) -> str:
    answer = client.post(
        "/api/samples", json={"image": data_url(render_canvas_png(digit)), "label": label}
    )
    assert answer.status_code == 202, answer.get_json()
    return str(answer.get_json()["id"])


def assert_stored_once(app: Flask, expected: dict[str, int]) -> None:
    """Each sample is one PNG and one JSON with its label, and counted once per label."""
    services_ = app.extensions["digits"]
    keys = sorted(services_.store.list_keys("samples/"))
    assert keys == sorted(f"samples/{i}.{ext}" for i in expected for ext in ("json", "png"))
    for sample_id, label in expected.items():
        meta = samples.read_meta(services_.store, sample_id)
        assert meta["id"] == sample_id and meta["label"] == label and meta["source"] == "collect"
    counts = sample_index.counts(services_.redis)
    for label in set(expected.values()):
        assert counts["per_label"][str(label)] == list(expected.values()).count(label), counts
    assert counts["total"] == services_.redis.hlen(sample_index.META_KEY) == len(expected)


def test_sample_survives_worker_kill_mid_save(own_valkey, own_s3, workers, mnist_sample):
    # The training queue keeps its hour; the samples queue's short timeout alone brings
    # the job back.
    env = stack(
        own_valkey.url,
        f"s3://{BUCKET}/faults",
        own_s3.url,
        WORKER_VISIBILITY_TIMEOUT=str(VISIBILITY),
    )
    app = web(env)
    client = app.test_client()
    worker = workers.start(env, names.QUEUE_SAMPLES, "saver")
    broker = app.extensions["digits"].redis

    # Pause the S3 server: the save blocks inside its first PUT, so the kill lands mid-task.
    own_s3.proc.send_signal(signal.SIGSTOP)
    sample_id = post_sample(client, mnist_sample["x_test"][7], 9)
    wait_for(lambda: "digits.save_sample[" in worker.log.read_text(), 20, "task received")
    wait_for(lambda: broker.hlen("unacked") == 1, 5, "task held unacknowledged")
    time.sleep(1.0)  # the pool process is inside put_object now
    sigkill(worker)
    own_s3.proc.send_signal(signal.SIGCONT)

    store = app.extensions["digits"].store
    assert not store.exists(samples.meta_key(sample_id))
    assert broker.hlen("unacked") == 1  # the broker still holds the job for someone else

    wait_past_visibility(broker)
    workers.start(env, names.QUEUE_SAMPLES, "saver")
    wait_for(lambda: store.exists(samples.meta_key(sample_id)), 30, "the redelivered sample")
    wait_for(lambda: broker.hlen("unacked") == 0, 10, "the job acknowledged")
    time.sleep(1.0)  # a duplicate delivery would show now
    assert broker.llen(names.QUEUE_SAMPLES) == 0
    assert_stored_once(app, {sample_id: 9})


def test_sample_jobs_wait_in_the_backlog_while_s3_is_down_and_complete_once_it_is_back(
    own_valkey, own_s3, workers, mnist_sample, tmp_path
):
    env = stack(own_valkey.url, f"s3://{BUCKET}/faults", own_s3.url)
    app = web(env)
    client = app.test_client()
    workers.start(env, names.QUEUE_SAMPLES, "saver")

    own_s3.stop()
    expected = {
        post_sample(client, digit, int(label)): int(label)
        for digit, label in zip(
            mnist_sample["x_test"][20:25], mnist_sample["y_test"][20:25], strict=True
        )
    }
    broker = app.extensions["digits"].redis
    # Parked, not retried until Celery gives up: they wait as long as the store is down.
    wait_for(lambda: sample_backlog.waiting(broker) == len(expected), 90, "samples parked")
    ports = {flag: int(own_s3.extra[flag]) for flag in processes.weed_port_flags()}
    restarted = processes.start_seaweedfs(tmp_path / "weed", BUCKET, ports)
    own_s3.proc = restarted.proc  # the fixture stops whichever runs now

    store = app.extensions["digits"].store
    wait_for(
        lambda: all(store.exists(samples.meta_key(i)) for i in expected), 90, "every sample stored"
    )
    # Counting follows the write: wait for the backlog to empty, then look for duplicates.
    wait_for(lambda: sample_backlog.waiting(broker) == 0, 30, "the backlog drained")
    wait_for(lambda: broker.hlen("unacked") == 0, 10, "every job acknowledged")
    time.sleep(1.0)
    assert_stored_once(app, expected)


def test_redis_restart_is_a_quick_503_then_recovers_without_restarting_web(
    own_valkey, workers, mnist_sample, tmp_path
):
    env = stack(own_valkey.url, str(tmp_path / "store"))
    app = web(env)
    client = app.test_client()
    workers.start(env, names.QUEUE_PREDICT, "predictor")
    image = data_url(render_canvas_png(mnist_sample["x_test"][0]))
    first = client.post("/api/predictions", json={"image": image})
    assert wait_done(client, first.headers["Location"])["status"] == "done"

    port = int(own_valkey.url.rsplit(":", 1)[1].split("/")[0])
    own_valkey.stop()
    for method, path, kwargs in [
        ("POST", "/api/predictions", {"json": {"image": image}}),
        ("GET", "/healthz", {}),
        ("GET", first.headers["Location"], {}),
    ]:
        started = time.monotonic()
        answer = client.open(path, method=method, **kwargs)
        elapsed = time.monotonic() - started
        assert answer.status_code == 503, (path, answer.get_json())
        assert elapsed < 1.0, (path, elapsed)
        body = answer.get_json()
        if path == "/healthz":
            assert body["checks"]["redis"].startswith("down")
        else:
            assert (
                body["error"]["code"] == "queue_unavailable" and "Redis" in body["error"]["message"]
            )

    restarted = processes.start_valkey(tmp_path / "valkey-again", port=port)
    own_valkey.proc = restarted.proc  # the fixture stops whichever runs now

    def predicts() -> dict[str, Any] | None:
        answer = client.post("/api/predictions", json={"image": image})
        return answer.headers["Location"] if answer.status_code == 202 else None

    location = wait_for(predicts, 10, "web accepting predictions again")
    assert wait_done(client, location, timeout=60)["status"] == "done"
    wait_for(lambda: client.get("/healthz").status_code == 200, 30, "healthz back to 200")


def test_worker_killed_mid_batch_leaves_every_prediction_answered_or_failed(
    own_valkey, workers, mnist_sample, tmp_path
):
    env = stack(own_valkey.url, str(tmp_path / "store"), PREDICT_EXPIRES="2")
    app = web(env)
    services = app.extensions["digits"]
    worker = workers.start(env, names.QUEUE_PREDICT, "predictor")
    images = [data_url(render_canvas_png(digit)) for digit in mnist_sample["x_test"][:120]]

    def post(image: str) -> str:
        answer = app.test_client().post("/api/predictions", json={"image": image})
        assert answer.status_code == 202, answer.get_json()
        return answer.get_json()["id"]

    def answered() -> bool:
        keys = services.redis.scan_iter(prediction_records.record_key("*"))
        return any(services.redis.hexists(key, prediction_records.OUTCOME) for key in keys)

    with ThreadPoolExecutor(max_workers=16) as pool:
        posted = pool.map(post, images)
        # Kill the worker as soon as it answers: it is in the middle of the stream.
        wait_for(answered, 60, "the first answer", interval=0.02)
        sigkill(worker)
        ids = list(posted)
    # The batches it held left no copy to redeliver (worker/predict/transport.py): web's
    # deadline answers them.
    assert services.redis.hlen("unacked") == 0

    client = app.test_client()
    expires = services.settings.predict_expires + predictions.GRACE
    wait_for(
        lambda: all(
            client.get(f"/api/predictions/{i}").get_json()["status"] != "queued" for i in ids
        ),
        expires + 10,
        "every prediction answered or failed",
    )
    statuses = [client.get(f"/api/predictions/{i}").get_json() for i in ids]
    done = [s for s in statuses if s["status"] == "done"]
    failed = [s for s in statuses if s["status"] == "failed"]
    assert len(done) + len(failed) == len(ids) == len(set(ids))
    assert done and failed, (len(done), len(failed))
    assert {s["error"]["code"] for s in failed} == {"timed_out"}


def assert_manifest_complete(store: Any) -> dict[str, int]:
    """The manifest names, for each model, a version whose files are all there and load."""
    from ai_edge_litert.interpreter import Interpreter

    manifest = registry.read_manifest(store)
    assert manifest is not None and set(manifest) == set(names.MODEL_NAMES)
    for name, version in manifest.items():
        assert registry.read_metrics(store, name, version)["version"] == version
        model = store.get_bytes(registry.version_key(name, version, "model.tflite"))
        Interpreter(model_content=model).allocate_tensors()
    return manifest


def test_trainer_killed_mid_fine_tune_leaves_complete_versions_and_the_job_reruns(
    own_valkey, workers, mnist_sample, tmp_path
):
    env = stack(own_valkey.url, str(tmp_path / "store"), BROKER_VISIBILITY_TIMEOUT=str(VISIBILITY))
    training = start_training(env, workers, mnist_sample)
    client, store, status_url = training.client, training.store, training.status_url
    sigkill(training.trainer)
    assert client.get(status_url).get_json()["status"] == "running"  # killed mid-job

    before = assert_manifest_complete(store)
    assert before == {name: 1 for name in names.MODEL_NAMES}
    # The dead job still holds the lock: a second job must not start beside its rerun.
    assert client.post("/api/fine-tunes", headers=ADMIN).status_code == 409

    broker = training.redis
    wait_past_visibility(broker)
    workers.start(env, names.QUEUE_TRAIN, "trainer")
    job = wait_for(lambda: finished(client, status_url), 150, "the rerun fine-tune")
    # With the challenger stage on (the default), a passing candidate races instead.
    assert job["status"] in {"promoted", "challenger", "rejected"}, job
    after = assert_manifest_complete(store)
    for name in names.MODEL_NAMES:
        outcome = job["result"]["models"][name]
        assert (after[name] == outcome["version"]) == (outcome["outcome"] == "promoted")
    assert fine_tune_jobs.active_job(broker) is None
    assert client.post("/api/fine-tunes", headers=ADMIN).status_code == 202


def test_celery_settings_make_jobs_survive_faults(monkeypatch, tmp_path):
    """JSON only, late acks, requeue on a lost worker, retries with backoff, a sane timeout."""
    from shared.celery_config import make_celery
    from shared.settings import Settings

    conf = make_celery(Settings.from_env({"REDIS_URL": "redis://127.0.0.1:1/0"})).conf
    assert conf.task_serializer == "json" and list(conf.accept_content) == ["json"]
    # No result backend: nothing reads a Celery result, so none is stored (issue 38).
    assert conf.result_backend is None and not conf.task_track_started
    timeout = conf.broker_transport_options["visibility_timeout"]
    assert timeout > fine_tune_jobs.TIME_LIMIT + 120  # a running fine-tune is never redelivered

    # The worker modules read the environment when first imported.
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("STORAGE_URL", str(tmp_path))
    from worker.predict import tasks as predict_tasks
    from worker.trainer import tasks as trainer_tasks

    for app in (predict_tasks.app, trainer_tasks.app):
        assert app.conf.worker_prefetch_multiplier == 1
    # Only the trainer's processes are recycled: their TensorFlow graphs grow.
    assert trainer_tasks.app.conf.worker_max_tasks_per_child
    assert not predict_tasks.app.conf.worker_max_tasks_per_child

    for task in (predict_tasks.save_sample, trainer_tasks.fine_tune):
        assert task.acks_late and task.reject_on_worker_lost, task.name
    save = predict_tasks.save_sample
    assert save.autoretry_for and save.retry_backoff and save.retry_jitter
    assert save.max_retries and save.retry_backoff_max < timeout
    assert trainer_tasks.fine_tune.time_limit <= fine_tune_jobs.TIME_LIMIT < timeout


def test_our_code_never_makes_the_bucket_public():
    """The bucket stays private: no ACL or bucket policy is ever set by the project."""
    for path in [*ROOT.glob("shared/*.py"), *ROOT.glob("web/*.py"), *ROOT.glob("worker/**/*.py")]:
        text = path.read_text()
        for needle in ("ACL", "public-read", "put_bucket_policy", "GrantRead"):
            assert needle not in text, f"{path.name} mentions {needle}"
