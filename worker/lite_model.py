"""One LiteRT model in a process: the predict worker serves it, the trainer's gate and the
offline tools measure with it. Never TensorFlow: this is all a model needs to answer.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from shared import registry
from shared.storage import Store

#: A model call reads its images this many at a time, and each size up to it keeps an
#: interpreter of its own. Resizing an interpreter reallocates its tensors and costs about
#: as much as reading a digit, and the worker's calls vary in size from one to the next
#: (one canvas; a canvas and its parts; many canvases under load): a resize per call was
#: the rule (issue 17). Eight images' activations also stay within a core's cache.
CHUNK = 8


class LiteModel:
    """LiteRT interpreters of one model; ``predict`` takes uint8 (n, 28, 28) and returns
    (n, 11).

    The eleven outputs are the ten digits and "not a digit" (``shared.answers``); versions
    made before that class return ten.
    """

    def __init__(self, content: bytes) -> None:
        self._content = content  # the interpreters read this buffer in place: keep it alive
        self._interpreters: dict[int, Interpreter] = {}  # by batch size, made when first used
        self._lock = threading.Lock()
        first = self._interpreter(1)
        self._input = first.get_input_details()[0]["index"]
        output = first.get_output_details()[0]
        self._output, self._classes = output["index"], int(output["shape"][-1])

    @classmethod
    def from_path(cls, path: str | Path) -> LiteModel:
        return cls(Path(path).read_bytes())

    @classmethod
    def from_store(cls, store: Store, name: str, version: int) -> LiteModel:
        """A published version's served file (``model.tflite``)."""
        return cls(store.get_bytes(registry.version_key(name, version, "model.tflite")))

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """Probabilities for a batch of 28x28 uint8 digits (white on black)."""
        batch = np.asarray(pixels, dtype=np.float32).reshape(-1, 28, 28, 1) / 255.0
        outputs = []
        with self._lock:  # an interpreter is not safe to share between threads
            for start in range(0, len(batch), CHUNK):
                chunk = batch[start : start + CHUNK]
                interpreter = self._interpreter(len(chunk))
                interpreter.set_tensor(self._input, chunk)
                interpreter.invoke()
                outputs.append(interpreter.get_tensor(self._output))
        if not outputs:  # no images: no answers, with the model's width
            return np.zeros((0, self._classes), dtype=np.float32)
        return np.concatenate(outputs).astype(np.float32, copy=False)

    def _interpreter(self, size: int) -> Interpreter:
        """The interpreter allocated for ``size`` images, made the first time it is asked for."""
        interpreter = self._interpreters.get(size)
        if interpreter is None:
            interpreter = Interpreter(model_content=self._content, num_threads=1)
            index = interpreter.get_input_details()[0]["index"]
            interpreter.resize_tensor_input(index, [size, 28, 28, 1])
            interpreter.allocate_tensors()
            self._interpreters[size] = interpreter
        return interpreter
