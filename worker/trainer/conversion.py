"""Keras model to LiteRT flat-buffer: what the predict worker serves without TensorFlow."""

from __future__ import annotations

import tempfile
from pathlib import Path

import keras


def to_tflite(model: keras.Model) -> bytes:
    """Convert with a dynamic batch dimension and no quantization (outputs match Keras).

    ``TFLiteConverter.from_concrete_functions`` on a Keras 3 model silently drops the
    weights (a 4 kB file answering NaN); Keras' own LiteRT export keeps them.
    """
    shape = (None, *model.input_shape[1:])
    with tempfile.TemporaryDirectory(prefix="digits-tflite-") as tmp:
        path = Path(tmp) / "model.tflite"
        model.export(
            str(path),
            format="litert",
            verbose=False,
            input_signature=[keras.InputSpec(shape=shape, dtype="float32")],
        )
        return path.read_bytes()
