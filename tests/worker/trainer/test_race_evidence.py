"""Races are decided by many people, and only where their pairs are counted (issue 36).

Through the real stack: web in-process, a predict worker, valkey, S3 (or a store of the
race's own), and the trainer's sweep in a real trainer process.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from shared import challengers, registry
from shared.dataset import sample_index
from shared.imaging import render_canvas_png
from shared.names import MODEL_NAMES, QUEUE_TRAIN
from shared.storage import Store, open_store
from tests.helpers import ADMIN, BUCKET, data_url, web
from tests.helpers import stack as own_stack
from tests.processes import wait_for
from tests.races import RaceStack, address, bad_model_bytes, label_traffic, publish_copy

#: Version files nobody loads: reads and the sweep never run a model.
FAKE_FILES = {"model.keras": b"-", "model.tflite": b"-"}


@pytest.fixture()
def race_stack(stack_env, redis_database, tmp_path) -> Iterator[RaceStack]:
    running = RaceStack(stack_env, redis_database, tmp_path)
    yield running
    running.close()


@pytest.fixture()
def races_env(stack_env, redis_database) -> dict[str, str]:
    """The stack's environment on a Redis database and an S3 prefix of their own."""
    return dict(
        stack_env,
        REDIS_URL=redis_database,
        STORAGE_URL=f"s3://{BUCKET}/races-{uuid.uuid4().hex[:8]}",
        CHALLENGER_PAIRS="20",
    )


def two_races(store: Store) -> dict[str, int]:
    """Both models at version 1, each raced by a version 2; the challengers' versions."""
    racing = {}
    for name in MODEL_NAMES:
        registry.publish_version(store, name, 1, FAKE_FILES, {"outcome": "initial"})
        racing[name] = publish_copy(store, name, FAKE_FILES, {"outcome": "challenger"})
        challengers.start(store, name, racing[name], champion=1)
    registry.write_manifest(store, {name: 1 for name in MODEL_NAMES})
    return racing


def run_out_of_time(store: Store, *names: str) -> None:
    """Make the races of ``names`` start 15 days ago: past CHALLENGER_MAX_DAYS (14)."""
    since = (datetime.now(UTC) - timedelta(days=15)).isoformat(timespec="seconds")
    live = challengers.read_challengers(store)
    live.update({name: {**live[name], "since": since} for name in names})
    store.put_bytes(challengers.CHALLENGERS_KEY, json.dumps(live).encode(), "application/json")


def snapshot(store: Store, racing: dict[str, int]) -> dict[str, Any]:
    """Everything a decision changes: the manifest, the live races, the decisions, outcomes."""
    return {
        "manifest": registry.read_manifest(store),
        "live": challengers.read_challengers(store),
        "decisions": sorted(store.list_keys(challengers.DECISIONS_PREFIX)),
        "outcomes": {n: registry.read_metrics(store, n, v)["outcome"] for n, v in racing.items()},
    }


# ---- item 2: evidence from many people -------------------------------------------------


def test_only_consented_labels_race_and_one_client_adds_at_most_a_few(race_stack, mnist_sample):
    stack, limit = race_stack, challengers.PAIRS_PER_CLIENT
    x, y = mnist_sample["x_test"][40:], mnist_sample["y_test"][40:]
    version = publish_copy(stack.store, "cnn", stack.files("cnn", 1), {"outcome": "challenger"})
    challengers.start(stack.store, "cnn", version, champion=1)
    stack.wait_shadow("cnn", version, x[0])

    # Without consent nothing is stored, so nothing could be moderated: no pair.
    for i in (1, 2):
        done = stack.predict(x[i])
        assert stack.feedback(done["id"], int(y[i]), client=0, consent=False) == 202
    assert stack.challenger("cnn")["pairs"] == 0

    # Consented, from one client: the first few count, the rest not at all.
    for i in range(3, 4 + limit):
        done = stack.predict(x[i])
        assert stack.feedback(done["id"], int(y[i]), client=0) == 202
    race = stack.challenger("cnn")
    assert race["pairs"] == limit and race["clients"] == 1
    # A drawing the same client collects is theirs too (scored by the worker).
    sent = stack.client.post(
        "/api/samples",
        json={"image": data_url(render_canvas_png(x[10])), "label": int(y[10])},
        headers={"X-Forwarded-For": address(0)},
    )
    sample_id = sent.get_json()["id"]
    wait_for(
        lambda: stack.redis.hexists(sample_index.META_KEY, sample_id), 30, "the sample indexed"
    )
    assert stack.challenger("cnn")["pairs"] == limit

    # Another person's label counts.
    done = stack.predict(x[11])
    assert stack.feedback(done["id"], int(y[11]), client=1) == 202
    race = stack.challenger("cnn")
    assert race["pairs"] == limit + 1 and race["clients"] == 2
    kept = list(stack.store.list_keys(f"challengers/pairs/cnn/{version}/"))
    assert len(kept) == limit + 1  # the refused pairs left nothing in the store


def test_discordant_pairs_from_few_clients_decide_nothing_and_many_clients_still_do(
    race_stack, mnist_sample
):
    pytest.importorskip("keras", reason="the train extra makes the bad model")
    stack, few = race_stack, challengers.MIN_CLIENTS - 1
    x, y = mnist_sample["x_test"][60:], mnist_sample["y_test"][60:]
    bad = {"model.tflite": bad_model_bytes(), "model.keras": b"-"}
    worse = publish_copy(stack.store, "fnn", bad, {"outcome": "challenger"})
    challengers.start(stack.store, "fnn", worse, champion=1)
    stack.wait_shadow("fnn", worse, x[0])

    # A chance-level challenger, labelled by too few people, each sending more than counts.
    for i in range(few * (challengers.PAIRS_PER_CLIENT + 1)):
        done = stack.predict(x[1 + i])
        assert stack.feedback(done["id"], int(y[1 + i]), client=i % few) == 202
    race = stack.challenger("fnn")
    assert race["pairs"] == few * challengers.PAIRS_PER_CLIENT
    assert race["p_worse"] < challengers.ALPHA  # the test alone would retire it...
    assert race["discordant_clients"] <= few and race["decision"] is None  # ...not few people

    # More people say the same: it is retired, by the race, as it was before.
    label_traffic(stack, x[30:], y[30:], 10, first_client=few)
    last = stack.wait_decision("fnn", worse)
    assert (last["decision"], last["reason"], last["by"]) == ("retired", "worse", "race")
    listed = stack.client.get("/api/models").get_json()
    assert listed["models"]["fnn"]["challenger"] is None
    assert listed["models"]["fnn"]["current"] == 1
    assert last["discordant_clients"] >= challengers.MIN_CLIENTS


# ---- item 3: reads never decide; the trainer's sweep and the admin do --------------------


def test_reads_never_decide_a_race_even_with_the_stage_off(races_env):
    # As after a restart with CHALLENGER_PAIRS=0: both races live, no pair yet.
    off = web(dict(races_env, CHALLENGER_PAIRS="0"))
    client, store = off.test_client(), off.extensions["digits"].store
    racing = two_races(store)
    before = snapshot(store, racing)
    for _ in range(2):
        assert client.get("/api/stats").status_code == 200
        listed = client.get("/api/models").get_json()
    for name in MODEL_NAMES:
        race = listed["models"][name]["challenger"]
        assert race["pairs"] == 0 and race["decision"] is None
    assert snapshot(store, racing) == before

    # The stage on and the time run out: a read shows the decision due, and takes none.
    run_out_of_time(store, *MODEL_NAMES)
    on = web(races_env).test_client()
    before = snapshot(store, racing)
    live = on.get("/api/stats").get_json()["challengers"]["live"]
    assert {(r["decision"], r["reason"]) for r in live.values()} == {("retired", "days")}
    assert on.get("/api/models").status_code == 200
    assert snapshot(store, racing) == before

    # An admin still decides, with the stage off too.
    answer = client.post("/api/models/fnn/challenger", json={"decision": "promoted"}, headers=ADMIN)
    assert answer.status_code == 200 and answer.get_json()["by"] == "admin"
    assert registry.read_manifest(store) == {"cnn": 1, "fnn": racing["fnn"]}
    assert set(challengers.read_challengers(store)) == {"cnn"}


def test_the_trainers_sweep_retires_a_race_whose_time_ran_out(races_env, workers):
    from worker.trainer import race_sweep

    store = open_store(races_env["STORAGE_URL"], races_env["S3_ENDPOINT_URL"])
    racing = two_races(store)
    run_out_of_time(store, "cnn")
    # With the stage off the sweep leaves every race to an admin.
    with redis.Redis.from_url(races_env["REDIS_URL"]) as client:
        assert race_sweep.settle_due(client, store, 0, 14) == []
    assert set(challengers.read_challengers(store)) == {"cnn", "fnn"}

    workers.start(races_env, QUEUE_TRAIN, "trainer")  # sweeps as it starts
    wait_for(lambda: "cnn" not in challengers.read_challengers(store), 60, "the sweep")
    record = challengers.history(store)[0]
    assert (record["model"], record["version"], record["decision"]) == (
        "cnn", racing["cnn"], "retired",
    )  # fmt: skip
    assert (record["reason"], record["by"]) == ("days", "race")
    assert registry.read_manifest(store) == {"cnn": 1, "fnn": 1}
    assert set(challengers.read_challengers(store)) == {"fnn"}  # its time has not run out


def test_a_store_outage_while_races_are_read_or_decided_is_a_503(redis_database, own_s3):
    env = own_stack(redis_database, f"s3://{BUCKET}/outage", own_s3.url)
    app = web(env)
    client = app.test_client()
    two_races(app.extensions["digits"].store)
    assert client.get("/api/stats").status_code == 200  # what it reads besides the races
    own_s3.stop()
    decided = client.post("/api/models/cnn/challenger", json={"decision": "retired"}, headers=ADMIN)
    models, stats = client.get("/api/models"), client.get("/api/stats")
    for answer in (decided, models, stats):
        assert answer.status_code == 503, answer.get_json()
        assert answer.get_json()["error"]["code"] == "store_unavailable"
