"""What a full retrain learns from (``worker.trainer.retrain_data``): the replay set's
real-pen digits after the users' samples, cycled, recorded, and gated on."""

from __future__ import annotations

import numpy as np
import pytest

mnist = pytest.importorskip("worker.trainer.mnist", reason="the train extra (keras) is needed")
import keras  # noqa: E402

from shared import answers  # noqa: E402
from worker.trainer.mnist import ReplayExtras  # noqa: E402
from worker.trainer.retrain_data import RetrainData, build_retrain_data  # noqa: E402
from worker.trainer.training_mix import PENS_PER_DIGIT  # noqa: E402
from worker.trainer.user_samples import UserSamples  # noqa: E402

#: Pixel (0, 0) tells the rows apart: MNIST 1, users 5, pens 100 + their index.
BASE = mnist.Mnist(
    np.full((40, 28, 28), 1, np.uint8), np.full(40, 3), np.full((20, 28, 28), 1, np.uint8),
    np.full(20, 3),
)  # fmt: skip
REPEATS = 3


def pens(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` pen digits, each marked with its index, labelled ``index % 10``."""
    x = np.zeros((n, 28, 28), np.uint8)
    x[:, 0, 0] = 100 + np.arange(n)
    return x, np.arange(n) % 10


def users(n: int) -> UserSamples:
    empty = np.zeros((0, 28, 28), np.uint8)
    ids = tuple(f"s{i}" for i in range(n))
    return UserSamples(
        np.full((n, 28, 28), 5, np.uint8), np.full(n, 1), empty, np.zeros(0, np.int64), ids,
        "samples", ("",) * n,
    )  # fmt: skip


def build(pen_set: tuple[np.ndarray, np.ndarray] | None, limit: int = 40) -> RetrainData:
    return build_retrain_data(BASE, users(4), "replay.npz", limit, REPEATS, pen_set)


def test_pens_follow_the_users_samples_cycled_equally_and_labelled() -> None:
    data = build(pens(5))
    rows = round(40 * PENS_PER_DIGIT)  # 14 rows for 5 pens: each 2 or 3 times
    assert (data.pens, data.pen_rows) == (5, rows)
    marks = data.x[:, 0, 0].astype(int)
    start = 40 + 4 * REPEATS
    assert (marks[:40] == 1).all() and (marks[40:start] == 5).all()
    assert marks[start : start + rows].tolist() == [100 + i % 5 for i in range(rows)]
    assert data.y[start : start + rows].tolist() == [i % 5 for i in range(rows)]
    negatives = data.y[start + rows :]
    assert len(negatives) == data.negatives == 8 and (negatives == answers.NOT_DIGIT).all()
    assert data.y.dtype == np.int64 and len(data.x) == len(data.y)


def test_more_pens_than_rows_takes_each_once() -> None:
    data = build(pens(30))
    assert (data.pens, data.pen_rows) == (14, 14)
    start = 40 + 4 * REPEATS
    assert data.x[start : start + 14, 0, 0].tolist() == list(range(100, 114))


def test_the_users_samples_and_pens_seen_count_the_right_rows() -> None:
    data = build(pens(5))
    start = 40 + 4 * REPEATS
    fit = np.ones(len(data.x), dtype=bool)
    fit[40 + REPEATS : 40 + 2 * REPEATS] = False  # every copy of the second user sample
    fit[start + 5 : start + 14] = False  # pens' rows after the first cycle
    fit[start + 3] = False  # pen 3 has no row left
    assert data.user_seen(fit).tolist() == [True, False, True, True]
    assert data.pens_seen(fit) == 4 and int(data.pens_fitted(fit).sum()) == 4
    fit[:] = True
    fit[start : start + 14] = False  # no pen, every user sample
    assert data.user_seen(fit).all() and data.pens_seen(fit) == 0


@pytest.mark.parametrize("pen_set", [None, pens(0)], ids=["none", "empty"])
def test_without_pens_the_data_is_as_before(pen_set) -> None:
    data = build(pen_set)
    assert (data.pens, data.pen_rows) == (0, 0)
    assert len(data.x) == 40 + 4 * REPEATS + data.negatives
    assert not (data.x[:, 0, 0] >= 100).any()
    assert data.pens_seen(np.ones(len(data.x), dtype=bool)) == 0


def test_the_record_names_the_pens_as_a_fine_tune_does() -> None:
    from worker.trainer.retrain_record import training_record

    history = keras.callbacks.History()
    history.history = {"loss": [0.5, 0.4], "val_accuracy": [0.9, 0.95]}
    for pen_set, replay_pens in ((pens(5), 5), (None, 0)):
        data = build(pen_set)
        record = training_record(data, np.ones(len(data.x), dtype=bool), history, 2, 0, 1.0)
        assert record["replay_pens"] == replay_pens  # "+ N real-pen digits" on the Models page
        assert record["pens"]["digits"] == data.pens and record["pens"]["rows"] == data.pen_rows
        assert record["pens"]["fitted_rows"] == data.pen_rows
        assert record["user_samples"] == 4 and record["replay_digits"] == 40


def extras(train_pens: int, gate_pens: int) -> ReplayExtras:
    negatives = np.zeros((3, 28, 28), np.uint8)
    return ReplayExtras(
        negatives, negatives, np.zeros((2, 28, 28), np.uint8), *pens(train_pens), *pens(gate_pens)
    )


@pytest.mark.parametrize(
    ("train_pens", "gate_pens", "rail"),
    [(5, 4, True), (0, 4, False), (0, 0, False), (5, 0, False)],
    ids=["pens", "gate-pens-only", "no-pens", "no-gate-pens"],
)
def test_a_retrain_that_learns_pens_is_gated_on_them(train_pens, gate_pens, rail) -> None:
    from worker.trainer.retraining import retrain_inputs

    data, holdout = retrain_inputs(BASE, extras(train_pens, gate_pens), users(4), "", 40, 3)
    assert data.pens == train_pens
    assert len(holdout.pens_y) == (gate_pens if rail else 0)
    assert holdout.pens_x.shape[1:] == (28, 28) and len(holdout.negatives) == 3
