"""Small table tests of the learning loop's rules: the gate, version numbering, the job lock."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from shared import fine_tune_jobs, registry
from shared.celery_config import make_celery
from shared.settings import Settings
from shared.storage import LocalStore
from tests.ports import free_port

gate = pytest.importorskip("worker.trainer.gate", reason="the train extra (keras) is needed")

PARENT = gate.Scores(mnist=0.990, mnist_loss=0.040, user=0.80)
RULE = gate.Rule()  # 0.3 points, loss x1.25 + 0.005, agreement 0.2


@pytest.mark.parametrize(
    ("candidate", "agreement", "passes"),
    [
        (gate.Scores(0.990, 0.040, 0.85), 0.9, True),  # better on users, MNIST kept
        (gate.Scores(0.987, 0.045, 0.80), 0.9, True),  # users equal, MNIST at the 0.3-point limit
        (gate.Scores(0.986, 0.040, 0.95), 0.9, False),  # MNIST drops 0.4 points > 0.3
        (gate.Scores(0.990, 0.056, 0.95), 0.9, False),  # MNIST loss 0.056 > 0.04 * 1.25 + 0.005
        (gate.Scores(0.990, 0.055, 0.95), 0.9, True),  # loss exactly at the limit passes
        (gate.Scores(0.995, 0.030, 0.79), 0.9, False),  # users' digits read worse
        (gate.Scores(0.995, 0.030, None), 0.9, False),  # no user score where the parent had one
        (gate.Scores(0.995, 0.030, 0.95), 0.1, False),  # labels contradict the models: poison
        (gate.Scores(0.995, 0.030, 0.95), 0.2, True),  # agreement at the floor passes
    ],
)
def test_gate_rule(candidate, agreement: float, passes: bool) -> None:
    assert gate.passes_gate(PARENT, candidate, agreement, RULE) is passes


def test_gate_without_held_out_user_samples_judges_on_mnist_alone() -> None:
    parent = gate.Scores(0.99, 0.04, None)
    assert gate.passes_gate(parent, gate.Scores(0.99, 0.04, None), 0.9, RULE)
    assert not gate.passes_gate(parent, gate.Scores(0.98, 0.04, None), 0.9, RULE)


@pytest.mark.parametrize(
    ("digits_refused", "negatives_refused", "failures"),
    [
        (0.004, 0.95, []),  # as the parent
        (0.009, 0.90, []),  # at both limits: +0.5 points of digits, -5 points of negatives
        (0.0095, 0.95, ["digits_refused"]),  # learned to refuse digits
        (0.004, 0.899, ["negatives_refused"]),  # learned to accept what is not a digit
        (0.5, 0.2, ["digits_refused", "negatives_refused"]),
    ],
)
def test_gate_checks_refusals_of_digits_and_of_negatives(
    digits_refused: float, negatives_refused: float, failures: list[str]
) -> None:
    parent = gate.Scores(0.99, 0.04, 0.8, 0.3, digits_refused=0.004, negatives_refused=0.95)
    candidate = gate.Scores(0.99, 0.04, 0.8, 0.2, digits_refused, negatives_refused)
    assert gate.gate_failures(parent, candidate, 0.9, RULE) == failures


@pytest.mark.parametrize(
    ("parent_pens", "candidate_pens", "failures"),
    [
        (0.990, 0.990, []),
        (0.990, 0.97, []),  # at the limit: 2 points
        (0.990, 0.969, ["pens_accuracy"]),  # forgot the pens it replayed
        (0.990, None, ["pens_accuracy"]),  # not scored where the parent was
        (None, 0.5, []),  # a replay set without pens: no rail
    ],
)
def test_gate_keeps_real_pen_digits(
    parent_pens: float | None, candidate_pens: float | None, failures: list[str]
) -> None:
    parent = gate.Scores(0.99, 0.04, 0.8, pens=parent_pens)
    candidate = gate.Scores(0.99, 0.04, 0.8, pens=candidate_pens)
    assert gate.gate_failures(parent, candidate, 0.9, RULE) == failures


def test_every_model_has_a_gate_rule() -> None:
    from shared.names import MODEL_NAMES

    assert set(gate.RULES) == set(MODEL_NAMES)


@pytest.mark.parametrize(
    ("keys", "complete", "next_version"),
    [
        ([], [], 1),
        (["1/metrics.json"], [1], 2),
        (["1/metrics.json", "2/model.tflite"], [1], 3),  # a half-written 2 is skipped, not reused
        (["1/metrics.json", "3/metrics.json"], [1, 3], 4),
        (["1/metrics.json", "10/metrics.json", "9/metrics.json"], [1, 9, 10], 11),
        (["1/metrics.json", "notes/readme.txt", "x/metrics.json"], [1], 2),  # not versions
    ],
)
def test_version_numbering(tmp_path: Path, keys: list[str], complete: list[int], next_version):
    store = LocalStore(tmp_path)
    for key in keys:
        store.put_bytes(f"models/cnn/{key}", b"{}")
    assert registry.version_numbers(store, "cnn") == complete
    assert registry.next_version(store, "cnn") == next_version


@pytest.fixture()
def lock_url(redis_database: str) -> str:
    """A database of the session's valkey that no worker reads, for this test alone."""
    return redis_database


def celery_on(url: str):
    return make_celery(Settings.from_env({"REDIS_URL": url}), main="digits-test-rules")


def test_job_lock_admits_one_job_at_a_time(lock_url: str) -> None:
    lock_redis, broker = redis.Redis.from_url(lock_url), celery_on(lock_url)
    first = fine_tune_jobs.enqueue(lock_redis, broker, "test")
    steps = [
        ("second enqueue while the first holds the lock", fine_tune_jobs.enqueue(lock_redis, broker, "test"), None),
        ("the holder claims its own lock", fine_tune_jobs.claim(lock_redis, first), True),
        ("another job cannot claim it", fine_tune_jobs.claim(lock_redis, "b" * 32), False),
        ("the active job is the first", fine_tune_jobs.active_job(lock_redis), first),
    ]  # fmt: skip
    fine_tune_jobs.finish(lock_redis, "b" * 32, "failed")  # a stranger's finish frees nothing
    steps.append(
        ("a stranger's finish keeps the lock", fine_tune_jobs.active_job(lock_redis), first)
    )
    fine_tune_jobs.finish(lock_redis, first, "promoted")
    steps += [
        ("the holder's finish frees it", fine_tune_jobs.active_job(lock_redis), None),
        ("a redelivered job claims a free lock", fine_tune_jobs.claim(lock_redis, first), True),
    ]
    for what, got, expected in steps:
        assert got == expected, what
    assert lock_redis.llen("train") == 1  # exactly one job was sent, to the train queue


def test_job_that_cannot_be_sent_releases_the_lock_at_once(lock_url: str) -> None:
    lock_redis = redis.Redis.from_url(lock_url)
    unreachable = celery_on(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(Exception):  # noqa: B017 - kombu's connection error, whichever it is
        fine_tune_jobs.enqueue(lock_redis, unreachable, "test")
    assert fine_tune_jobs.active_job(lock_redis) is None
    # The job's record, and the pointer to the latest job the Models page reads (#41).
    [key] = set(lock_redis.keys("digits:fine_tune:*")) - {fine_tune_jobs.LATEST_KEY.encode()}
    job = fine_tune_jobs.read_job(lock_redis, key.decode().rsplit(":", 1)[1])
    assert job is not None and job["status"] == "failed"
    assert fine_tune_jobs.latest_job(lock_redis) == job


@pytest.mark.parametrize(
    ("clients", "holdout_by"),
    [(1, "samples"), (4, "samples"), (5, "people"), (12, "people")],
)
def test_users_holdout_is_made_of_other_people_once_there_are_enough(
    tmp_path: Path, mnist_sample, clients: int, holdout_by: str
) -> None:
    from shared.dataset.samples import new_meta, write_sample
    from worker.trainer.user_samples import load_user_samples

    store = LocalStore(tmp_path)
    for index in range(60):
        sample_id = f"{index:08x}{index:024x}"
        meta = new_meta(int(mnist_sample["y_train"][index]), "collect", f"client-{index % clients}")
        write_sample(store, sample_id, mnist_sample["x_train"][index], meta)
    users = load_user_samples(store)
    assert users.holdout_by == holdout_by
    assert len(users.train_y) + len(users.holdout_y) == 60 and len(users.train_y) > 0
    trained = {f"client-{int(i[:8], 16) % clients}" for i in users.used_ids}
    held_out = {
        f"client-{i % clients}" for i in range(60) if f"{i:08x}{i:024x}" not in users.used_ids
    }
    if holdout_by == "people":
        assert held_out and not trained & held_out  # nobody is on both sides


def test_retention_removes_only_old_versions_that_never_served(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    outcomes = ["initial", "rejected", "promoted", "retired", "rejected", "challenger",
                "rejected", "rejected", "promoted", "rejected", "rejected", "rejected"]  # fmt: skip
    for version, outcome in enumerate(outcomes, start=1):
        files = {artifact: b"weights" for artifact in registry.ARTIFACTS}
        registry.publish_version(store, "fnn", version, files, {"outcome": outcome})
    # Version 7 is current (rolled back to), version 6 races: both are kept whatever they say.
    removed = registry.prune_versions(store, "fnn", keep=5, protect={7, 6})
    assert removed == [2, 4, 5]  # old, never served; 1, 3 served, 6-7 protected, 8-12 newest
    assert registry.version_numbers(store, "fnn") == [1, 3, 6, 7, 8, 9, 10, 11, 12]
    assert not any(key.startswith("models/fnn/2/") for key in store.list_keys("models/"))
    assert registry.next_version(store, "fnn") == 13
    assert registry.prune_versions(store, "fnn", keep=5, protect={7, 6}) == []
