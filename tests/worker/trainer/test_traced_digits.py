"""MNIST training digits redrawn with the page's pen (``make_models train --traced``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import SAMPLE
from worker.trainer.tools.traced_digits import SEED, traced_images


def test_digits_are_traced_and_drawn_as_the_page_draws_them(mnist_sample) -> None:
    x, y = mnist_sample["x_train"][:40], mnist_sample["y_train"][:40]
    (images, labels), record = traced_images(x, y, 12)
    assert images.shape == (12, 28, 28) and images.dtype == np.uint8
    assert record["digits"] == 12 and record["picked_from"] == 40
    # MNIST's box: each image's ink fills about 20 px of its longer side, centred by mass.
    for image in images:
        rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
        assert 18 <= max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= 22
    picks = np.sort(np.random.default_rng(SEED).permutation(40)[:12])
    assert labels.tolist() == y[picks].tolist()  # each drawing keeps its digit's label
    again, _ = traced_images(x, y, 12)
    assert np.array_equal(again[0], images) and np.array_equal(again[1], labels)


def test_all_are_taken_when_fewer_digits_than_asked(mnist_sample) -> None:
    x, y = mnist_sample["x_train"][:5], mnist_sample["y_train"][:5]
    (images, labels), _ = traced_images(x, y, 50)
    assert len(images) == 5 and sorted(labels.tolist()) == sorted(y.tolist())


@pytest.mark.slow
def test_training_fits_traced_digits_of_its_own_split_and_records_them(tmp_path: Path) -> None:
    pytest.importorskip("keras", reason="the train extra (tensorflow-cpu, keras) is needed")
    from worker.trainer.tools.make_models import QUICK_TRAIN, main
    from worker.trainer.training import validation_digits

    argv = ["train", "--quick", "--model", "fnn", "--mnist", str(SAMPLE), "--out", str(tmp_path)]
    assert main([*argv, "--traced", "30"]) == 0
    metrics = json.loads((tmp_path / "fnn.metrics.json").read_text())
    traced = metrics["data"]["traced_digits"]
    fitted = ~validation_digits(QUICK_TRAIN, metrics["data"]["negatives"], metrics["seed"])
    assert traced["digits"] == 30 and traced["picked_from"] == int(fitted.sum())
