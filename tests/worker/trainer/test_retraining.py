"""Full retraining: who is trained on (collectors uncapped, hidden never), and a retrain through
the real API and a real trainer that records the MNIST split and the samples it saw."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import numpy as np
import pytest
import redis

from shared import fine_tune_jobs, registry
from shared.dataset import sample_index
from shared.dataset.samples import write_sample
from shared.storage import LocalStore, Store
from tests.helpers import ADMIN, ROOT
from tests.processes import wait_for
from worker.trainer.user_samples import (
    MAX_PER_CLIENT,
    is_holdout,
    load_all_user_samples,
    load_user_samples,
)


def write_samples(
    store: Store,
    digits: np.ndarray,
    labels: np.ndarray,
    client: str,
    index: redis.Redis | None = None,
    **extra: object,
) -> list[str]:
    """Consented, labelled samples as the samples worker stores them, from one client (and
    indexes them, given the index's Redis)."""
    ids = []
    for digit, label in zip(digits, labels, strict=True):
        sample_id = uuid.uuid4().hex
        meta = {"label": int(label), "consent": True, "source": "collect", "client": client}
        write_sample(store, sample_id, digit, {**meta, **extra})
        if index is not None:
            sample_index.add(index, sample_id, {**meta, **extra})
        ids.append(sample_id)
    return ids


@pytest.fixture()
def index(redis_database: str) -> Iterator[redis.Redis]:
    """The Redis of a sample index of the test's own."""
    with redis.Redis.from_url(redis_database) as client:
        yield client


def held(ids: list[str], client: str) -> set[str]:
    """Which of a client's samples the holdout keeps, with few people (one in five by id)."""
    return {i for i in ids if is_holdout(i, client, by_people=False)}


@pytest.mark.parametrize("from_index", [False, True], ids=["store", "index"])
@pytest.mark.parametrize(
    "load",
    [
        lambda store, index: load_all_user_samples(store, index=index),
        lambda store, index: load_user_samples(store, set(), index=index),
    ],
    ids=["retrain", "round"],
)
def test_a_collectors_samples_skip_the_per_client_cap_and_an_anonymous_clients_do_not(
    tmp_path, mnist_sample, load, from_index, index
):
    store = LocalStore(tmp_path)
    digits, labels = mnist_sample["x_train"][:150], mnist_sample["y_train"][:150]
    school = write_samples(store, digits, labels, "client-school", collector="school")
    anonymous = write_samples(store, digits, labels, "client-anonymous")
    if from_index:  # built as the first worker to start builds it
        sample_index.rebuild(index, store)
    loaded = load(store, index if from_index else None)
    used = set(loaded.used_ids)
    assert used & set(school) == set(school) - held(school, "client-school")
    kept = set(anonymous) - held(anonymous, "client-anonymous")
    assert len(kept) > MAX_PER_CLIENT  # the cap has something to cut
    assert len(used & kept) == MAX_PER_CLIENT and loaded.capped == len(kept) - MAX_PER_CLIENT
    by = dict(zip(loaded.used_ids, loaded.used_collectors, strict=True))
    assert {by[i] for i in used & set(school)} == {"school"}
    assert {by[i] for i in used & kept} == {""}


@pytest.mark.parametrize("from_index", [False, True], ids=["store", "index"])
def test_hidden_samples_are_neither_trained_on_nor_held_out(
    tmp_path, mnist_sample, from_index, index
):
    store = LocalStore(tmp_path)
    x, y = mnist_sample["x_train"][:60], mnist_sample["y_train"][:60]
    index = index if from_index else None
    visible = write_samples(store, x[:30], y[:30], "client-a", index, collector="school")
    hidden = write_samples(
        store, x[30:], y[30:], "client-a", index, collector="school", hidden=True
    )
    if index is not None:  # built as the samples worker builds it, sample by sample
        index.set(sample_index.BUILT_KEY, json.dumps({"schema": sample_index.SCHEMA}))
    loaded = load_all_user_samples(store, index=index)
    assert not (set(loaded.used_ids) | set(loaded.holdout_ids)) & set(hidden)
    assert set(loaded.used_ids) | set(loaded.holdout_ids) == set(visible)
    assert len(loaded.train_y) + len(loaded.holdout_y) == len(visible)


def test_a_retrain_skips_a_racing_model_and_prunes_old_versions_with_their_sample_lists(
    tmp_path, mnist_sample
):
    from shared import challengers
    from worker.trainer.retraining import run_retrain
    from worker.trainer.rounds import SAMPLES_FILE

    store = LocalStore(tmp_path)
    weights = str(ROOT / "models")
    registry.ensure_initial_versions(store, weights)
    files = {a: store.get_bytes(registry.version_key("fnn", 1, a)) for a in registry.ARTIFACTS}
    registry.publish_version(store, "fnn", 2, files, {"outcome": "challenger"})
    challengers.start(store, "fnn", 2, champion=1)
    cnn = {a: store.get_bytes(registry.version_key("cnn", 1, a)) for a in registry.ARTIFACTS}
    for version in (2, 3):  # two old rejected retrains of the CNN, each with its sample list
        registry.publish_version(
            store, "cnn", version, {**cnn, SAMPLES_FILE: b"{}"}, {"outcome": "rejected"}
        )
    write_samples(store, mnist_sample["x_train"][:40], mnist_sample["y_train"][:40], "client-a")
    outcome = run_retrain(
        store, "", weights, lambda *_: None, epochs=1, mnist_limit=300, challenger_pairs=200,
        keep_versions=2,
    )  # fmt: skip
    assert outcome["kind"] == "retrain" and outcome["skipped"] == ["fnn"]
    assert outcome["models"]["fnn"]["outcome"] == "skipped"
    decided = outcome["models"]["cnn"]
    assert decided["outcome"] in {"challenger", "rejected"}
    assert decided["version"] == 4 and decided["training"]["kind"] == "retrain"
    assert decided["training"]["pens"]["rows"] == round(300 * 0.35)
    assert decided["holdout"]["parent"]["pens"] is not None  # the pens' rail
    assert outcome["pruned"] == {"cnn": [2]}
    assert not store.exists(registry.version_key("cnn", 2, SAMPLES_FILE))
    assert store.exists(registry.version_key("cnn", 3, SAMPLES_FILE))
    live = challengers.read_challengers(store)
    assert live["fnn"]["version"] == 2
    assert ("cnn" in live) == (decided["outcome"] == "challenger")


#: The list of sample ids beside a retrained version's files.
SAMPLES = "training_samples.json"


def start_retrain(client, body: dict) -> str:
    answer = client.post("/api/retrains", json=body, headers=ADMIN)
    assert answer.status_code == 202, answer.get_json()
    assert answer.headers["Location"] == answer.get_json()["status_url"]
    return answer.get_json()["status_url"]


@pytest.mark.usefixtures("trainer")
def test_a_retrain_through_the_api_trains_from_scratch_and_records_what_it_saw(
    client, app, mnist_sample
):
    store, index = app.extensions["digits"].store, app.extensions["digits"].redis
    wait_for(lambda: sample_index.is_built(index), 60, "the index built at start-up")
    x, y = mnist_sample["x_train"], mnist_sample["y_train"]
    collector = f"retrain-{uuid.uuid4().hex[:6]}"
    from_collector = write_samples(store, x[:40], y[:40], "client-r1", index, collector=collector)
    anonymous = write_samples(store, x[40:80], y[40:80], "client-r2", index)
    hidden = write_samples(store, x[80:90], y[80:90], "client-r2", index, hidden=True)
    # The trainer reads the index: hidden there, a sample is not trained on, whatever its
    # metadata in the store says.
    hidden_in_index = anonymous.pop()
    sample_index.set_hidden(index, hidden_in_index, True)
    hidden.append(hidden_in_index)
    status_url = start_retrain(client, {"epochs": 1, "mnist_limit": 500})
    seen = []

    def finished():
        job = client.get(status_url).get_json()
        seen.append(job.get("step", 0))
        return job if job["status"] in fine_tune_jobs.FINISHED else None

    job = wait_for(finished, 110, "retrain outcome", interval=0.2)
    assert job["status"] in {"promoted", "rejected"}, job
    assert job["kind"] == "retrain" and job["options"] == {"epochs": 1, "mnist_limit": 500}
    assert job["total"] > 0 and max(seen) > 0 and job["step"] == job["total"]
    assert job["result"]["kind"] == "retrain"
    listed = client.get("/api/models").get_json()["models"]
    for name in ("fnn", "cnn"):
        decided = job["result"]["models"][name]
        version = {v["version"]: v for v in listed[name]["versions"]}[decided["version"]]
        training = version["training"]
        assert version["outcome"] == decided["outcome"] and training["kind"] == "retrain"
        assert training["from"] == "scratch" and training["recipe"]["epochs"] == 1
        mnist = training["mnist"]
        assert mnist["split"] == "train" and mnist["digits"] == 500
        assert "replay.npz" in mnist["source"] and 0 < mnist["fitted"] <= 500
        # The shipped replay set's real-pen digits: learned, then gated on.
        assert training["pens"]["rows"] == 175 and 0 < training["replay_pens"] <= 175
        assert version["holdout"]["parent"]["pens"] is not None
        assert training["users"]["collectors"]["by_collector"][collector] > 0
        saw = json.loads(store.get_bytes(registry.version_key(name, decided["version"], SAMPLES)))
        trained, held_out = set(saw["trained"]), set(saw["held_out"])
        groups = [trained, set(saw["validation_only"]), held_out]
        for sample_id in from_collector + anonymous:  # each one on exactly one side
            assert sum(sample_id in group for group in groups) == 1, sample_id
        assert not set(hidden) & set().union(*groups)
        assert training["user_samples"] == len(trained)
        assert training["users"]["collectors"]["by_collector"][collector] == len(
            trained & set(from_collector)
        )
        assert saw["mnist"] == mnist


@pytest.mark.parametrize(
    "body",
    [
        {"epochs": 0},
        {"epochs": 51},
        {"epochs": "3"},
        {"epochs": True},
        {"mnist_limit": 10},
        {"mnist_limit": 1000.5},
        {"speed": "fast"},
        [1, 2],
    ],
)
def test_a_bad_retrain_body_is_400_and_starts_nothing(client, app, body):
    answer = client.post("/api/retrains", json=body, headers=ADMIN)
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] and answer.get_json()["error"]["message"]
    assert fine_tune_jobs.active_job(app.extensions["digits"].redis) is None


def test_a_body_that_is_not_json_is_400(client):
    answer = client.post(
        "/api/retrains", data="epochs=3", headers={**ADMIN, "Content-Type": "text/plain"}
    )
    assert answer.status_code == 400


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
def test_a_retrain_needs_the_admin_token(client, headers):
    assert client.post("/api/retrains", json={"epochs": 1}, headers=headers).status_code == 401


def test_a_retrain_while_a_training_job_runs_is_409(client, app):
    redis_client = app.extensions["digits"].redis
    assert redis_client.set(fine_tune_jobs.LOCK_KEY, "another-job", nx=True, ex=60)
    try:
        assert client.post("/api/retrains", headers=ADMIN).status_code == 409
    finally:
        redis_client.delete(fine_tune_jobs.LOCK_KEY)
