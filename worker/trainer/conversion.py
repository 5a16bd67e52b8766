"""Keras model to LiteRT flat-buffer: what the predict worker serves without TensorFlow."""

from __future__ import annotations

import tempfile
from pathlib import Path

import keras
import tensorflow as tf


def to_tflite(model: keras.Model) -> bytes:
    """Convert with a dynamic batch dimension and int8 weights (dynamic-range quantization).

    Weights are stored as int8; at run time XNNPACK quantizes each batch's activations
    and runs integer kernels, and the softmax stays float, so the outputs are probabilities
    that sum to 1. On the 2 cores here, in batches of 8, the CNN reads an image in 0.06 ms
    instead of 0.21-0.25 ms and the FNN in 0.01 instead of 0.04, with the same MNIST test
    accuracy (probabilities within about 0.04 of float32). The gate scores this file, not the Keras
    model, so a version is judged as it will serve.

    ``TFLiteConverter.from_concrete_functions`` on a Keras 3 model silently drops the
    weights (a 4 kB file answering NaN); Keras' own LiteRT export keeps them and passes
    ``optimizations`` to the converter.
    """
    shape = (None, *model.input_shape[1:])
    with tempfile.TemporaryDirectory(prefix="digits-tflite-") as tmp:
        path = Path(tmp) / "model.tflite"
        model.export(
            str(path),
            format="litert",
            verbose=False,
            input_signature=[keras.InputSpec(shape=shape, dtype="float32")],
            optimizations=[tf.lite.Optimize.DEFAULT],
        )
        return path.read_bytes()
