"""The challenger stage: a gated version races its champion on live labels, then is decided."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from shared import challengers, metrics, prediction_records, registry
from shared.imaging import render_canvas_png
from shared.storage import LocalStore
from tests.helpers import ADMIN, ROOT, data_url
from tests.processes import wait_for
from tests.races import RaceStack, bad_model_bytes, label_traffic, publish_copy

# ---- the decision rule ------------------------------------------------------------------


def race(b: int, c: int, both_right: int = 0) -> dict[str, int]:
    return {"both_right": both_right, "champion_only": b, "challenger_only": c, "both_wrong": 0}


@pytest.mark.parametrize(
    ("counted", "pairs_cap", "age", "decision"),
    [
        (race(5, 0), 200, 0, "retired"),  # worse at once: P(X >= 5 | 5) = 1/32 < 0.05
        (race(4, 0), 200, 0, None),  # 1/16: not yet
        (race(0, 5), 200, 0, "promoted"),  # better at once
        (race(9, 4, 30), 200, 0, None),  # p = 0.13: go on
        (race(3, 3, 194), 200, 0, "promoted"),  # at the cap, equal: c >= b
        (race(4, 3, 193), 200, 0, "retired"),  # at the cap, c < b
        (race(0, 0, 20), 20, 0, "promoted"),  # identical versions: c >= b at the cap
        (race(1, 1), 200, 14, "retired"),  # out of time
    ],
)
def test_the_exact_mcnemar_rule_decides(counted, pairs_cap, age, decision):
    # Each pair from a client of its own (test_race_evidence.py shows what fewer decide).
    clients = sum(counted.values())
    discordant = counted["champion_only"] + counted["challenger_only"]
    judged = challengers.judge(
        counted, pairs_cap, age, 14, clients=clients, discordant_clients=discordant
    )
    assert judged["decision"] == decision


def test_one_sided_p_values_are_binomial_tails():
    assert challengers.tail_at_least(5, 5) == 1 / 32
    assert challengers.tail_at_least(0, 7) == 1.0
    assert challengers.tail_at_least(9, 13) == pytest.approx(0.1334, abs=1e-4)


# ---- races through the real API -------------------------------------------------------


@pytest.fixture()
def stack(stack_env, redis_database, tmp_path) -> Iterator[RaceStack]:
    running = RaceStack(stack_env, redis_database, tmp_path)
    yield running
    running.close()


def test_a_race_keeps_the_shadow_hidden_counts_once_and_survives_restarts(stack, mnist_sample):
    x, y = mnist_sample["x_test"], mnist_sample["y_test"]
    before = stack.predict(x[0])  # made before the challenger: its label must not count
    version = publish_copy(stack.store, "cnn", stack.files("cnn", 1), {"outcome": "challenger"})
    challengers.start(stack.store, "cnn", version, champion=1)
    stack.wait_shadow("cnn", version, x[1])

    done = stack.predict(x[2])
    # The person sees the champion's answer; the record keeps both.
    assert "shadow" not in done["result"] and done["result"]["cnn"]["version"] == 1
    record = json.loads(prediction_records.read(stack.redis, done["id"])["outcome"])
    assert record["result"]["shadow"]["cnn"]["version"] == version
    # What the shadow calls cost is counted where it is spent (the FNN has no challenger).
    spent = stack.redis.hgetall(metrics.KEY)
    assert int(spent[b"shadow_cpu_microseconds|model=cnn"]) > 0
    assert b"shadow_cpu_microseconds|model=fnn" not in spent

    assert stack.feedback(done["id"], int(y[2])) == 202
    assert stack.challenger("cnn")["pairs"] == 1
    assert stack.feedback(done["id"], int(y[2])) == 409  # one feedback, one pair
    assert stack.feedback(before["id"], int(y[0])) == 202  # before the cut-off: no pair
    answers = record["result"]
    again = challengers.score_label(
        stack.redis, stack.store, done["id"], int(y[2]), answers, answers["shadow"], "c", 20, 14
    )  # a redelivered label
    assert again == [] and stack.challenger("cnn")["pairs"] == 1

    # A collected sample races too, scored by the worker once stored, before it is indexed.
    sent = stack.client.post(
        "/api/samples", json={"image": data_url(render_canvas_png(x[3])), "label": int(y[3])}
    )
    sample_id = sent.get_json()["id"]
    # Its pair is counted after the answer to the post, and after the store has it.
    wait_for(lambda: stack.challenger("cnn")["pairs"] == 2, 30, "the collected sample's pair")
    assert stack.store.exists(f"samples/{sample_id}.json")

    # A worker restart mid-race, and a Redis that lost the counts: nothing is lost.
    stack.worker.stop()
    stack.worker = stack.start_worker("b")
    for key in stack.redis.scan_iter("digits:challenger:*"):
        stack.redis.delete(key)
    label_traffic(stack, x[4:], y[4:], 3)
    live = stack.challenger("cnn")
    assert live["pairs"] == 5 and live["both_right"] + live["both_wrong"] == 5  # identical
    assert live["clients"] == 4  # labels from clients 0, 0, 1, 2 and the sample's
    assert live["version"] == version and live["decision"] is None
    today = live["by_day"][-1]  # the chart's points, rebuilt from the store with the rest
    assert today["pairs"] == 5 and today["champion"] == today["challenger"]

    # An admin decides by hand; the decision is recorded with its counts.
    retired = stack.client.post(
        "/api/models/cnn/challenger", json={"decision": "retired"}, headers=ADMIN
    )
    assert retired.status_code == 200 and retired.get_json()["pairs"] == 5
    assert stack.challenger("cnn") is None
    listed = stack.client.get("/api/models").get_json()
    assert listed["models"]["cnn"]["current"] == 1
    assert listed["challenger_history"][0]["decision"] == "retired"
    assert listed["challenger_history"][0]["by"] == "admin"
    stats = stack.client.get("/api/stats").get_json()["challengers"]
    assert stats["live"] == {} and stats["history"][0]["version"] == version
    missing = stack.client.post(
        "/api/models/cnn/challenger", json={"decision": "promoted"}, headers=ADMIN
    )
    assert missing.status_code == 404


def test_simulated_races_promote_the_better_retire_the_worse_and_break_ties_for_c(
    stack, mnist_sample
):
    pytest.importorskip("keras", reason="the train extra makes the bad model")
    x, y = mnist_sample["x_test"][20:], mnist_sample["y_test"][20:]
    bad = {"model.tflite": bad_model_bytes(), "model.keras": b"-"}
    real = stack.files("fnn", 1)

    # Worse: a model that reads at chance is retired long before 20 pairs.
    worse = publish_copy(stack.store, "fnn", bad, {"outcome": "challenger"})
    challengers.start(stack.store, "fnn", worse, champion=1)
    stack.wait_shadow("fnn", worse, x[0])
    label_traffic(stack, x[1:], y[1:], 12)
    last = stack.wait_decision("fnn", worse)
    assert last["decision"] == "retired" and last["reason"] == "worse" and last["pairs"] < 20
    decided = stack.client.get("/api/models").get_json()
    assert decided["models"]["fnn"]["challenger"] is None
    assert decided["models"]["fnn"]["current"] == 1

    # Better: with the chance-level model as champion, the real one wins and goes live.
    registry.promote(stack.store, {"fnn": worse})
    better = publish_copy(stack.store, "fnn", real, {"outcome": "challenger"})
    challengers.start(stack.store, "fnn", better, champion=worse)
    stack.wait_shadow("fnn", better, x[0])
    label_traffic(stack, x[13:], y[13:], 12)
    last = stack.wait_decision("fnn", better)
    assert last["decision"] == "promoted" and last["reason"] == "better"
    decided = stack.client.get("/api/models").get_json()
    assert decided["models"]["fnn"]["current"] == better
    metrics = registry.read_metrics(stack.store, "fnn", better)
    assert metrics["outcome"] == "promoted" and metrics["race"]["challenger_only"] >= 5

    # Equal: the same weights again never disagree, so at 20 pairs c >= b promotes.
    equal = publish_copy(stack.store, "fnn", real, {"outcome": "challenger"})
    challengers.start(stack.store, "fnn", equal, champion=better)
    stack.wait_shadow("fnn", equal, x[0])
    label_traffic(stack, x[30:], y[30:], 20)
    last = stack.wait_decision("fnn", equal)
    assert last["decision"] == "promoted" and last["reason"] == "pairs"
    assert last["champion_only"] == last["challenger_only"] == 0 and last["pairs"] == 20


def test_a_passing_fine_tune_becomes_a_challenger_and_the_model_waits(tmp_path, mnist_sample):
    pytest.importorskip("keras", reason="the train extra fine-tunes")
    from shared.dataset.samples import write_sample
    from worker.trainer.fine_tuning import run_fine_tune

    store = LocalStore(tmp_path / "store")
    for index in range(40):
        meta = {"label": int(mnist_sample["y_train"][index]), "consent": True,
                "source": "collect", "client": f"client-{index % 2}"}  # fmt: skip
        write_sample(store, f"{index:08x}{0:024x}", mnist_sample["x_train"][index], meta)
    weights = str(ROOT / "models")
    outcome = run_fine_tune(store, "", weights, lambda *_: None, challenger_pairs=200)
    passed = [n for n, o in outcome["models"].items() if o["outcome"] == "challenger"]
    assert passed, json.dumps(outcome["models"], indent=1)
    live = challengers.read_challengers(store)
    assert set(live) == set(passed)
    assert registry.read_manifest(store) == {"fnn": 1, "cnn": 1}  # nothing promoted yet
    again = run_fine_tune(store, "", weights, lambda *_: None, challenger_pairs=200)
    for name in passed:
        assert again["models"][name]["outcome"] == "skipped"
    assert again["skipped"] == sorted(passed)
