"""The learning loop with real processes: feedback, samples, fine-tunes, the gate, rollback."""

from __future__ import annotations

import io
import json
import time
import zipfile

import numpy as np
import pytest

from shared import answers, registry
from shared.imaging import render_canvas_png
from tests.helpers import ADMIN, ROOT, data_url, predict, run_fine_tune, web
from tests.processes import wait_for


def post_samples(client, app, pngs, labels, addresses: list[str]) -> list[str]:
    """Post labelled canvas PNGs, each from its address (behind the proxy); wait until stored."""
    ids = []
    for png, label, address in zip(pngs, labels, addresses, strict=True):
        answer = client.post(
            "/api/samples",
            json={"image": data_url(png), "label": int(label)},
            headers={"X-Forwarded-For": address},
        )
        assert answer.status_code == 202
        ids.append(answer.get_json()["id"])
    store = app.extensions["digits"].store
    wait_for(
        lambda: all(store.exists(f"samples/{i}.json") for i in ids), 120, "samples in the store"
    )
    return ids


def send_samples(
    client, app, digits: np.ndarray, labels: np.ndarray, clients: int = 1
) -> list[str]:
    """Post MNIST-style digits as canvas drawings, spread over ``clients`` addresses."""
    pngs = [render_canvas_png(digit) for digit in digits]
    addresses = [f"203.0.113.{index % clients + 1}" for index in range(len(pngs))]
    return post_samples(client, app, pngs, labels, addresses)


@pytest.mark.usefixtures("predict_worker")
def test_feedback_without_consent_counts_towards_accuracy_but_stores_nothing(
    client, app, mnist_sample
):
    done = predict(client, mnist_sample["x_test"][0])
    before = client.get("/api/stats").get_json()["feedback_events"]
    answer = client.post(
        f"/api/predictions/{done['id']}/feedback", json={"label": 7, "consent": False}
    )
    assert answer.status_code == 202 and answer.get_json()["stored"] is False
    assert client.get("/api/stats").get_json()["feedback_events"] == before + 1
    time.sleep(1)
    assert not app.extensions["digits"].store.exists(f"samples/{done['id']}.json")


@pytest.mark.usefixtures("predict_worker")
def test_feedback_with_consent_stores_the_drawing_with_its_provenance(client, app, mnist_sample):
    digit, label = mnist_sample["x_test"][1], int(mnist_sample["y_test"][1])
    done = predict(client, digit)
    answer = client.post(
        f"/api/predictions/{done['id']}/feedback", json={"label": label, "consent": True}
    )
    assert answer.status_code == 202
    store = app.extensions["digits"].store
    key = f"samples/{done['id']}.json"
    wait_for(lambda: store.exists(key), 30, "feedback sample")
    meta = json.loads(store.get_bytes(key))
    assert meta["label"] == label and meta["source"] == "feedback" and meta["consent"] is True
    for name in ("fnn", "cnn"):
        assert meta["predictions"][name] == {
            "digit": done["result"][name]["digit"],
            "version": done["result"][name]["version"],
        }
    again = client.post(
        f"/api/predictions/{done['id']}/feedback", json={"label": label, "consent": True}
    )
    assert again.status_code == 409


def test_feedback_for_unknown_prediction_is_404(client):
    answer = client.post(
        f"/api/predictions/{'b' * 32}/feedback", json={"label": 1, "consent": True}
    )
    assert answer.status_code == 404


@pytest.mark.parametrize(
    "body", [{"label": 11, "consent": True}, {"label": 1}, {"label": 1, "consent": "yes"}]
)
def test_malformed_feedback_is_400(client, body):
    answer = client.post(f"/api/predictions/{'b' * 32}/feedback", json=body)
    assert answer.status_code == 400


@pytest.mark.usefixtures("predict_worker")
def test_stats_count_feedback_per_model_version_and_confusion(client, mnist_sample):
    done = predict(client, mnist_sample["x_test"][2])
    truth = int(mnist_sample["y_test"][2])
    client.post(f"/api/predictions/{done['id']}/feedback", json={"label": truth, "consent": False})
    stats = client.get("/api/stats").get_json()
    for name in ("fnn", "cnn"):
        model = stats["models"][name]
        assert sum(row["total"] for row in model["by_version"]) >= 1
        assert model["by_day"] and 0 <= model["by_day"][-1]["accuracy"] <= 1
        predicted = done["result"][name]["digit"]
        assert model["confusion_matrix"][truth][predicted] >= 1


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "x"}])
def test_admin_calls_need_the_admin_token(client, headers):
    assert client.post("/api/fine-tunes", headers=headers).status_code == 401
    rollback = client.post("/api/models/cnn/rollback", json={"version": 1}, headers=headers)
    assert rollback.status_code == 401


def test_admin_calls_are_refused_when_no_token_is_configured(stack_env):
    from web import create_app

    client = create_app(
        {"TESTING": True, "SETTINGS_ENV": dict(stack_env, ADMIN_TOKEN="")}
    ).test_client()
    answer = client.post("/api/fine-tunes", headers={"Authorization": "Bearer "})
    assert answer.status_code == 401


@pytest.fixture()
def own_stack(stack_env, redis_database, tmp_path, workers):
    """Web, a predict worker and a trainer on a database and a store of their own: the
    round starts from the shipped versions and learns only this test's samples, whatever
    other tests of the session promoted or stored (in one full run the FNN's parent was
    another test's version, and its candidate was rejected)."""
    env = dict(stack_env, REDIS_URL=redis_database, STORAGE_URL=str(tmp_path / "store"))
    workers.start(env, "predict,samples", "worker")
    workers.start(env, "train", "trainer")
    app = web(env)
    return app, app.test_client()


def test_population_shift_is_learned_by_both_models_and_promoted(own_stack, mnist_sample):
    from worker.lite_model import LiteModel
    from worker.trainer.tools.population import draw

    app, client = own_stack

    # Thirty writers who draw unlike MNIST, as `make learning-curve` simulates them; about one
    # in five (by client) forms the users' holdout.
    digits = np.concatenate([mnist_sample["x_train"], mnist_sample["x_test"]])
    labels = np.concatenate([mnist_sample["y_train"], mnist_sample["y_test"]])
    drawings = draw(digits, labels, list(range(30)))
    addresses = [f"198.51.100.{int(writer) + 1}" for writer in drawings.writers]
    post_samples(client, app, drawings.pngs, drawings.y, addresses)
    before = client.get("/api/models").get_json()["models"]
    job = run_fine_tune(client)
    assert job["status"] == "promoted", json.dumps(job["result"]["models"], indent=1)
    after = client.get("/api/models").get_json()["models"]
    store = app.extensions["digits"].store
    with np.load(ROOT / "models" / "replay.npz") as replay:
        gate_x, gate_y = replay["x_test"], replay["y_test"]
    for name in ("fnn", "cnn"):
        decided = job["result"]["models"][name]
        holdout = decided["holdout"]
        assert decided["outcome"] == "promoted", (name, decided.get("gate_failures"), holdout)
        assert holdout["user_holdout_by"] == "people" and holdout["user_samples"] > 0
        assert holdout["candidate"]["user"] >= holdout["parent"]["user"]
        assert (
            holdout["candidate"]["mnist"]
            >= holdout["parent"]["mnist"] - decided["gate"]["max_mnist_drop"]
        )
        # The gate scored the LiteRT file it published (the file the worker serves): read
        # on the gate's MNIST digits at the recorded threshold, it gives the recorded figure.
        served = LiteModel.from_store(store, name, decided["version"])
        read = answers.predicted_labels(served.predict(gate_x), decided["reject_threshold"])
        assert float(np.mean(read == gate_y)) == pytest.approx(holdout["candidate"]["mnist"])
        # /api/models shows the same decision with the version it made current.
        assert after[name]["current"] == decided["version"] != before[name]["current"]
        listed = {v["version"]: v for v in after[name]["versions"]}[decided["version"]]
        assert listed["outcome"] == "promoted" and listed["holdout"] == holdout
    done = wait_for(
        lambda: (lambda d: d if d["result"]["cnn"]["version"] == after["cnn"]["current"] else None)(
            predict(client, mnist_sample["x_test"][3])
        ),
        30,
        "the promoted version in a prediction",
    )
    assert done["result"]["fnn"]["version"] == after["fnn"]["current"]
    assert client.get("/api/models").get_json()["fine_tune"] is None


@pytest.mark.usefixtures("predict_worker", "trainer")
def test_poisoned_batch_is_rejected_and_current_version_stays(client, app, mnist_sample):
    x, y = mnist_sample["x_train"][120:300], mnist_sample["y_train"][120:300]
    # Every label wrong, from enough addresses that the per-client cap does not dilute it:
    # the gate itself must catch it.
    send_samples(client, app, x, (y + 1) % 10, clients=6)
    before = registry.read_manifest(app.extensions["digits"].store)
    job = run_fine_tune(client)
    assert job["status"] == "rejected", json.dumps(job["result"]["models"], indent=1)
    assert registry.read_manifest(app.extensions["digits"].store) == before
    models = client.get("/api/models").get_json()["models"]
    for name in ("fnn", "cnn"):
        decided = job["result"]["models"][name]
        assert decided["outcome"] == "rejected"
        listed = {v["version"]: v for v in models[name]["versions"]}[decided["version"]]
        assert listed["outcome"] == "rejected" and listed["gate"] == decided["gate"]
        assert models[name]["current"] == before[name]


@pytest.mark.usefixtures("predict_worker")
def test_rollback_moves_the_manifest_back(client, app):
    models = client.get("/api/models").get_json()["models"]
    answer = client.post("/api/models/fnn/rollback", json={"version": 1}, headers=ADMIN)
    assert answer.status_code == 200
    assert answer.get_json()["models"]["fnn"] == 1
    assert client.get("/api/models").get_json()["models"]["fnn"]["current"] == 1
    assert (
        client.get("/api/models").get_json()["models"]["cnn"]["current"] == models["cnn"]["current"]
    )
    missing = client.post("/api/models/fnn/rollback", json={"version": 999}, headers=ADMIN)
    assert missing.status_code == 404
    unknown = client.post("/api/models/rnn/rollback", json={"version": 1}, headers=ADMIN)
    assert unknown.status_code == 404


def test_second_fine_tune_while_one_runs_is_409(client, app):
    from shared import fine_tune_jobs

    redis_client = app.extensions["digits"].redis
    # Another job holds the lock (as a running fine-tune does); nothing is sent to a trainer.
    assert redis_client.set(fine_tune_jobs.LOCK_KEY, "another-job", nx=True, ex=60)
    try:
        assert client.post("/api/fine-tunes", headers=ADMIN).status_code == 409
    finally:
        redis_client.delete(fine_tune_jobs.LOCK_KEY)


@pytest.mark.usefixtures("predict_worker")
def test_collected_samples_can_be_browsed_and_exported(client, app, mnist_sample):
    digits, labels = mnist_sample["x_test"][10:13], np.array([4, 4, 6])
    ids = send_samples(client, app, digits, labels)
    listing = client.get("/api/samples?label=4&source=collect&limit=200").get_json()
    listed = {item["id"] for item in listing["samples"]}
    assert set(ids[:2]) <= listed and ids[2] not in listed
    assert all(
        item["label"] == 4 and item["image"].startswith("data:image/png")
        for item in listing["samples"]
    )
    assert client.get("/api/samples?label=12").status_code == 400
    assert client.get("/api/samples/export").status_code == 401
    exported = client.get("/api/samples/export?format=zip", headers=ADMIN)
    assert exported.status_code == 200
    with zipfile.ZipFile(io.BytesIO(exported.data)) as archive:
        names = set(archive.namelist())
        assert {f"images/{i}.png" for i in ids} <= names
        assert ids[2] in archive.read("labels.csv").decode()
    arrays = np.load(io.BytesIO(client.get("/api/samples/export?format=npz", headers=ADMIN).data))
    assert arrays["x"].shape[1:] == (28, 28) and len(arrays["x"]) == len(arrays["y"]) >= 3


@pytest.mark.usefixtures("predict_worker")
def test_stats_show_queues_workers_and_samples_per_digit(client):
    stats = wait_for(
        lambda: (s := client.get("/api/stats").get_json())["workers"] and s, 10, "workers"
    )
    assert set(stats["queues"]) == {"predict", "samples", "train"}
    assert stats["workers"]
    assert set(stats["samples_per_digit"]) == {*(str(d) for d in range(10)), "not_digit"}
    assert sum(stats["samples_per_digit"].values()) >= 1


def test_one_client_cannot_dominate_a_training_round(tmp_path, mnist_sample):
    from shared.dataset.samples import write_sample
    from shared.storage import LocalStore
    from worker.trainer.user_samples import MAX_PER_CLIENT, is_holdout, load_user_samples

    store = LocalStore(tmp_path)
    written = {"flood": 0, "honest": 0}
    for index in range(MAX_PER_CLIENT * 2 + 40):
        client = "flood" if index < MAX_PER_CLIENT * 2 else "honest"
        sample_id = f"{index:08x}{0:024x}"
        meta = {"label": 1, "consent": True, "source": "collect", "client": client}
        write_sample(store, sample_id, mnist_sample["x_train"][index % 300], meta)
        written[client] += not is_holdout(sample_id, client, by_people=False)
    round_ = load_user_samples(store)
    assert len(round_.train_y) == MAX_PER_CLIENT + written["honest"]
    assert len(round_.used_ids) == len(round_.train_y)


def test_enough_new_samples_start_a_fine_tune_by_themselves(
    stack_env, redis_database, tmp_path, mnist_sample
):
    from shared import fine_tune_jobs
    from tests import processes
    from web import create_app

    # Its own Redis database and store, and a worker that counts to 3.
    env = dict(
        stack_env,
        REDIS_URL=redis_database,
        STORAGE_URL=str(tmp_path / "store"),
        FINE_TUNE_EVERY="3",
    )
    worker = processes.start_celery_worker(
        env, "samples", tmp_path / "worker.log", "counter", redis_url=env["REDIS_URL"]
    )
    app = create_app({"TESTING": True, "SETTINGS_ENV": env})
    redis_client = app.extensions["digits"].redis
    try:
        client = app.test_client()
        send_samples(client, app, mnist_sample["x_test"][:2], mnist_sample["y_test"][:2])
        assert fine_tune_jobs.active_job(redis_client) is None
        send_samples(client, app, mnist_sample["x_test"][2:3], mnist_sample["y_test"][2:3])
        job_id = wait_for(
            lambda: fine_tune_jobs.active_job(redis_client), 20, "automatic fine-tune"
        )
        job = fine_tune_jobs.read_job(redis_client, job_id)
        assert job["reason"] == "samples" and job["status"] == "queued"
        assert redis_client.llen("train") == 1
    finally:
        worker.stop()
        redis_client.flushdb()
