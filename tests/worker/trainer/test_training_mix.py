"""A fine-tune's training mix (``worker.trainer.training_mix``) and the replay set it reads
(``worker.trainer.mnist``): real-pen digits replayed when the replay set has them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

mnist = pytest.importorskip("worker.trainer.mnist", reason="the train extra (keras) is needed")
from shared import answers  # noqa: E402
from worker.trainer.training_mix import PENS_PER_DIGIT, Recipe, build_training_mix  # noqa: E402
from worker.trainer.user_samples import UserSamples  # noqa: E402


def images(n: int, value: int) -> np.ndarray:
    return np.full((n, 28, 28), value, np.uint8)


BASE = mnist.Mnist(images(500, 1), np.full(500, 3), images(20, 1), np.full(20, 3))
PENS = (images(300, 2), np.full(300, 7))
NEGATIVES = images(200, 4)


def users(n: int) -> UserSamples:
    empty = np.zeros((0, 28, 28), np.uint8)
    return UserSamples(images(n, 5), np.full(n, 1), empty, np.zeros(0, np.int64), (), "samples")


def test_pens_are_replayed_beside_mnists_digits_when_there_are_any() -> None:
    mix = build_training_mix(BASE, users(10), Recipe(), 0, NEGATIVES, PENS)
    replayed = Recipe().replay_per_sample * 10
    assert mix.replay_digits == replayed  # MNIST's replay as without pens
    assert mix.replay_pens == round(replayed * PENS_PER_DIGIT)
    # In order: users' samples, MNIST, pens, negatives; the replay is all but the first.
    kinds = mix.x[:, 0, 0].tolist()
    assert kinds == sorted(kinds, key=[5, 1, 2, 4].index)
    assert kinds.count(2) == mix.replay_pens
    assert (mix.y[mix.x[:, 0, 0] == 2] == 7).all()
    assert (mix.y[mix.x[:, 0, 0] == 4] == answers.NOT_DIGIT).all()
    assert mix.is_replay().sum() == len(mix.y) - 10 * Recipe().user_repeats


def test_without_pens_the_replay_is_mnist_as_before() -> None:
    mix = build_training_mix(BASE, users(10), Recipe(), 0, NEGATIVES)
    assert mix.replay_pens == 0
    assert mix.replay_digits == Recipe().replay_per_sample * 10
    assert 2 not in mix.x[:, 0, 0]


def test_the_replay_set_keeps_its_pens_and_reads_without_them(tmp_path: Path) -> None:
    extras = mnist.ReplayExtras(images(6, 4), images(3, 4), images(2, 1))
    mnist.write_replay_set(BASE, tmp_path / mnist.REPLAY_FILE, 10, 5, extras)
    read = mnist.load_replay_extras(str(tmp_path))
    assert len(read.pens_y) == 0 and read.gate_pens_x.shape == (0, 28, 28)
    pens = mnist.ReplayExtras(
        extras.train, extras.gate, extras.threshold_x, *PENS, images(4, 2), np.full(4, 8)
    )
    mnist.write_replay_set(BASE, tmp_path / mnist.REPLAY_FILE, 10, 5, pens)
    read = mnist.load_replay_extras(str(tmp_path))
    assert read.pens_x.shape == (300, 28, 28) and (read.pens_y == 7).all()
    assert read.gate_pens_y.tolist() == [8] * 4


def test_the_gate_holds_the_pens_unless_told_not_to() -> None:
    from worker.trainer.rounds import make_holdout

    extras = mnist.ReplayExtras(
        images(6, 4), images(3, 4), images(2, 1), *PENS, images(4, 2), np.full(4, 8)
    )
    tuned = make_holdout(BASE, users(10), extras)
    assert tuned.pens_y.tolist() == [8] * 4 and tuned.pens_x.shape == (4, 28, 28)
    retrained = make_holdout(BASE, users(10), extras, pens=False)  # a retrain of no pens
    assert len(retrained.pens_y) == 0 and retrained.pens_x.shape == (0, 28, 28)
    assert len(retrained.negatives) == len(tuned.negatives) == 3
