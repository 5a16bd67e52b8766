"""The shipped weights, their LiteRT conversions, the builders, augmentation and the train CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

keras = pytest.importorskip("keras", reason="the train extra (tensorflow-cpu, keras) is needed")

from shared import answers  # noqa: E402
from shared.names import MODEL_NAMES  # noqa: E402
from tests.helpers import ROOT, SAMPLE  # noqa: E402
from worker.lite_model import CHUNK, LiteModel  # noqa: E402
from worker.trainer.augmentation import augment_batch  # noqa: E402
from worker.trainer.builders import build_cnn, build_fnn  # noqa: E402
from worker.trainer.mnist import Mnist, load_mnist, to_inputs  # noqa: E402

MODELS = ROOT / "models"


@pytest.fixture(scope="module")
def sample() -> Mnist:
    return load_mnist(str(SAMPLE))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_shipped_tflite_agrees_with_shipped_keras_model(name: str, sample: Mnist) -> None:
    lite = LiteModel.from_path(MODELS / f"{name}.tflite").predict(sample.x_test)
    model = keras.saving.load_model(MODELS / f"{name}.keras", compile=False)
    reference = np.asarray(model(to_inputs(sample.x_test), training=False))
    assert lite.shape == (len(sample.x_test), 11)  # ten digits, then "not a digit"
    np.testing.assert_array_equal(lite.argmax(axis=1), reference.argmax(axis=1))
    # int8 weights (worker.trainer.conversion): close to float32, not equal. On all 10,000
    # MNIST test digits no probability moved by more than 0.04.
    np.testing.assert_allclose(lite, reference, atol=0.03)
    assert np.abs(lite - reference).mean() < 1e-3


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_a_model_call_reads_each_image_as_alone_whatever_sizes_came_before(
    name: str, sample: Mnist
) -> None:
    """A call reads CHUNK images at a time, on an interpreter kept for each size
    (worker.predict.inference): no size may read another's tensors or answers."""
    model = LiteModel.from_path(MODELS / f"{name}.tflite")
    images = sample.x_test[:40]
    alone = np.concatenate([model.predict(image[None]) for image in images])
    start = 0
    for size in (4, 1, 9, 2, 4, 12, 1, 3, 9, 4):
        batch = model.predict(images[start : start + size])
        np.testing.assert_allclose(batch, alone[start : start + size], atol=1e-5)
        start = (start + size) % (len(images) - 12)
    assert sorted(model._interpreters) == [1, 2, 3, 4, CHUNK]  # sizes met, never more
    assert model.predict(images[:0]).shape == (0, 11)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_shipped_tflite_has_int8_weights(name: str) -> None:
    """The served file is the dynamic-range quantized conversion: about a quarter of
    float32's size, the weights being most of it (the next test checks that its softmax
    still sums to 1)."""
    keras_model = keras.saving.load_model(MODELS / f"{name}.keras", compile=False)
    float_bytes = 4 * keras_model.count_params()
    assert (MODELS / f"{name}.tflite").stat().st_size < 0.4 * float_bytes


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_shipped_model_reads_sample_test_digits(name: str, sample: Mnist) -> None:
    probabilities = LiteModel.from_path(MODELS / f"{name}.tflite").predict(sample.x_test)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert (probabilities.argmax(axis=1) == sample.y_test).mean() >= 0.97
    threshold = answers.threshold_of(json.loads((MODELS / f"{name}.metrics.json").read_text()))
    assert (answers.not_digit_scores(probabilities) >= threshold).mean() <= 0.01


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_shipped_metrics_describe_the_shipped_model(name: str) -> None:
    metrics = json.loads((MODELS / f"{name}.metrics.json").read_text())
    assert metrics["file_bytes"]["tflite"] == (MODELS / f"{name}.tflite").stat().st_size
    assert np.asarray(metrics["confusion_matrix"]).shape == (10, 11)  # last: refused
    assert "LeCun" in metrics["data"]["license"]
    assert 0 < metrics["reject_threshold"] < 1 and metrics["data"]["negatives"] > 0
    assert metrics["validation"]["digits_refused"] <= metrics["false_reject_rate_target"]
    assert metrics["not_a_digit"]["negatives_refused"] >= 0.9  # measured by evaluate --record
    # Issue 39: negatives drawn as by hand, learned from and refused on the held-out family.
    assert {"hershey_letter", "arrow", "question_mark"} <= set(metrics["data"]["negative_kinds"])
    # Floors, not the targets (FNN 93 %, CNN 97 %, at most 0.5 % of digits), which the
    # shipped models do not reach yet (docs/models.md): no later model may fall below them.
    # Issue 42's models, which learned real pens, refuse about a point less of them.
    floor = {"fnn": 0.875, "cnn": 0.94}[name]
    assert metrics["not_a_digit"]["hand_drawn_negatives_refused"] >= floor
    assert metrics["not_a_digit"]["canvas_digits_refused"] <= 0.006
    assert (
        metrics["validation"]["canvas_style_digits_refused"] <= metrics["false_reject_rate_target"]
    )
    # Issue 42: real pens (UNIPEN's development writers), measured by evaluate --record.
    pens = json.loads((MODELS / "real_pens.json").read_text())["models"][name]
    assert pens["accuracy"] >= {"fnn": 0.965, "cnn": 0.97}[name]
    assert metrics["data"]["real_pens"]["writers"] > 100


@pytest.mark.parametrize("builder", [build_fnn, build_cnn])
def test_builders_map_28x28_images_to_eleven_probabilities(builder: Callable[[], Any]) -> None:
    model = builder()
    assert model.input_shape == (None, 28, 28, 1)
    assert model.output_shape == (None, 11)
    probabilities = np.asarray(model(np.zeros((3, 28, 28, 1), np.float32), training=False))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_augment_batch_keeps_shape_and_dtype_but_changes_digits(sample) -> None:
    digits = sample.x_train[:32]
    augmented = augment_batch(digits, np.random.default_rng(0))
    assert augmented.shape == digits.shape
    assert augmented.dtype == np.uint8
    changed = [not np.array_equal(a, b) for a, b in zip(augmented, digits, strict=True)]
    assert sum(changed) >= 30
    assert all(a.max() > 100 for a in augmented)  # no digit erased


def test_augment_batch_is_reproducible_from_the_generator_seed(sample) -> None:
    digits = sample.x_train[:16]
    first = augment_batch(digits, np.random.default_rng(7))
    again = augment_batch(digits, np.random.default_rng(7))
    np.testing.assert_array_equal(first, again)


@pytest.mark.slow
def test_quick_training_writes_loadable_models(tmp_path: Path) -> None:
    from worker.trainer.tools.make_models import main

    argv = ["train", "--quick", "--out", str(tmp_path), "--mnist", str(SAMPLE)]
    assert main([*argv, "--number-parts", "20"]) == 0
    for name in MODEL_NAMES:
        lite = LiteModel.from_path(tmp_path / f"{name}.tflite")
        assert lite.predict(np.zeros((2, 28, 28), np.uint8)).shape == (2, 11)
        keras.saving.load_model(tmp_path / f"{name}.keras", compile=False)
        metrics = json.loads((tmp_path / f"{name}.metrics.json").read_text())
        assert metrics["epochs_run"] == 1
        assert metrics["data"]["negatives"] > 0 and 0 < metrics["reject_threshold"] <= 1
        parts = metrics["data"]["number_parts"]  # the CNN alone learns from number parts
        if name == "cnn":
            assert parts["numbers"] > 0 and 0 < parts["not_digit"] < parts["images"]
        else:
            assert parts is None
    assert "CC BY-SA 3.0" in (tmp_path / "MODEL_CARD.md").read_text()
    # `convert` makes the .tflite files again from the .keras ones and re-measures them,
    # keeping what training recorded; the card lists both commands.
    assert main(["convert", "--out", str(tmp_path), "--mnist", str(SAMPLE)]) == 0
    for name in MODEL_NAMES:
        metrics = json.loads((tmp_path / f"{name}.metrics.json").read_text())
        assert metrics["converted"]["command"].split()[:4] == [
            "python", "-m", "worker.trainer.tools.make_models", "convert"
        ]  # fmt: skip
        assert metrics["file_bytes"]["tflite"] == (tmp_path / f"{name}.tflite").stat().st_size
        assert metrics["epochs_run"] == 1 and 0 < metrics["reject_threshold"] <= 1
    assert ".tflite again" in (tmp_path / "MODEL_CARD.md").read_text()
    # `--start` continues the weights it names, and the metrics and the card say which.
    continued = tmp_path / "continued"
    argv = ["train", "--quick", "--model", "fnn", "--mnist", str(SAMPLE), "--out", str(continued)]
    assert (
        main([*argv, "--start", str(tmp_path), "--more-negatives", "8", "--more-seed", "11"]) == 0
    )
    metrics = json.loads((continued / "fnn.metrics.json").read_text())
    assert metrics["start"]["weights"] == "fnn.keras" and metrics["start"]["epochs_run"] == 1
    assert (metrics["data"]["more_negatives"], metrics["data"]["more_negatives_seed"]) == (8, 11)
    assert metrics["learning_rate"] < 1e-3 and "--start" in metrics["command"]
    assert "fnn.keras + 1 epochs" in (continued / "MODEL_CARD.md").read_text()
    # Another count of negatives would validate on digits the start weights trained on.
    with pytest.raises(SystemExit, match="negatives"):
        main([*argv, "--start", str(tmp_path / "fnn.keras"), "--negatives", "32"])
