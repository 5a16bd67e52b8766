"""Serve the LiteRT flat-buffers: load once per process, swap when a version is promoted.

This module never imports TensorFlow: the predict worker stays small and starts fast.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import cast

import numpy as np

from shared import answers, challengers, registry
from shared.names import MODEL_NAMES
from shared.shapes import ImageAnswers
from shared.storage import Store
from worker.lite_model import LiteModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: int
    model: LiteModel
    #: The not-a-digit probability from which this version refuses a drawing.
    reject_threshold: float


class ModelCache:
    """The current version of each model, refreshed by a cheap manifest check.

    Built lazily in each worker process (after fork), never in the parent.
    """

    def __init__(self, store: Store, check_interval: float, weights_dir: str) -> None:
        self._store = store
        self._check_interval = check_interval
        self._weights_dir = weights_dir
        self._models: dict[str, LoadedModel] = {}
        self._challengers: dict[str, LoadedModel] = {}
        self._checked_at = float("-inf")
        self._lock = threading.Lock()

    def current(self) -> dict[str, LoadedModel]:
        """The models to use now; reloads only those whose version changed."""
        return self.current_and_challengers()[0]

    def current_and_challengers(self) -> tuple[dict[str, LoadedModel], dict[str, LoadedModel]]:
        """The champions, and the live challengers that run beside them in shadow."""
        with self._lock:
            now = time.monotonic()
            if now - self._checked_at >= self._check_interval or not self._models:
                self._refresh()
                self._checked_at = now
            return dict(self._models), dict(self._challengers)

    def _refresh(self) -> None:
        manifest = registry.read_manifest(self._store)
        if manifest is None or any(name not in manifest for name in MODEL_NAMES):
            manifest = registry.ensure_initial_versions(self._store, self._weights_dir)
        for name in MODEL_NAMES:
            self._models[name] = self._load(self._models.get(name), name, manifest[name])
        live = challengers.read_challengers(self._store)
        self._challengers = {
            name: self._load(self._challengers.get(name), name, int(entry["version"]))
            for name, entry in live.items()
            if name in MODEL_NAMES
        }

    def _load(self, loaded: LoadedModel | None, name: str, version: int) -> LoadedModel:
        """``loaded`` if it is that version already, else the version from the store."""
        if loaded is not None and loaded.version == version:
            return loaded
        model = LiteModel.from_store(self._store, name, version)
        threshold = answers.threshold_of(registry.read_metrics(self._store, name, version))
        log.info("loaded model %s version %s", name, version)
        return LoadedModel(name, version, model, threshold)


class ShadowCpu:
    """CPU seconds this process spent on the challengers' calls, by model, until taken.

    Timed on the calling thread (``time.thread_time``), so other threads' work never
    counts: what a live challenger costs the worker, measured where it is spent (issue 17).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seconds: dict[str, float] = {}

    def add(self, name: str, seconds: float) -> None:
        with self._lock:
            self._seconds[name] = self._seconds.get(name, 0.0) + seconds

    def take(self) -> dict[str, float]:
        """What was spent since the last take, by model name."""
        with self._lock:
            taken, self._seconds = self._seconds, {}
        return taken


#: The process's tally; ``predict_batch`` hands it to the metrics with each batch.
SHADOW_CPU = ShadowCpu()


def predict_digits(
    cache: ModelCache, digits: list[np.ndarray], shadowed: list[bool] | None = None
) -> list[ImageAnswers]:
    """Both models' answers for a batch of digits: one model call each, plain JSON data.

    A model with a live challenger runs it on the images ``shadowed`` marks (all by
    default) in one more call; its answers go under ``shadow`` (by model name), for the
    record and the race, not for the person.

    No preview: the record keeps the drawing, and web renders it when it answers.
    """
    current, shadows = cache.current_and_challengers()

    batch = np.stack(digits)
    by_model = {
        name: answers.model_answers(
            loaded.model.predict(batch), loaded.reject_threshold, loaded.version
        )
        for name, loaded in current.items()
    }
    # Keyed by the current models' names: MODEL_NAMES, the keys of ImageAnswers.
    results = [
        cast(ImageAnswers, {name: rows[index] for name, rows in by_model.items()})
        for index in range(len(batch))
    ]
    marked = [i for i, wanted in enumerate(shadowed or [True] * len(digits)) if wanted]
    if shadows and marked:  # the challengers' answers are kept in the record, never shown
        chosen = np.stack([digits[i] for i in marked])
        for name, loaded in shadows.items():
            started = time.thread_time()
            outputs = loaded.model.predict(chosen)
            short = answers.short_answers(outputs, loaded.reject_threshold, loaded.version)
            for index, answer in zip(marked, short, strict=True):
                results[index].setdefault("shadow", {})[name] = answer
            SHADOW_CPU.add(name, time.thread_time() - started)
    return results
