"""Micro-batching: predict jobs that arrive together in one process run as one model call.

With the threads pool, several predict tasks run at once in one worker process. Each
hands its digit to the batcher and waits; a single runner thread takes whatever is
waiting (up to ``max_size``, waiting at most ``max_wait`` seconds for more) and runs
both models once on the whole batch. With ``max_wait`` 0 a lone job never waits:
batches form only from jobs that queued up while the previous call was running.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import numpy as np

RunBatch = Callable[[np.ndarray], list[dict[str, Any]]]


class MicroBatcher:
    def __init__(self, run_batch: RunBatch, max_size: int, max_wait: float) -> None:
        self._run_batch = run_batch
        self._max_size = max_size
        self._max_wait = max_wait
        self._pending: list[tuple[np.ndarray, Future[dict[str, Any]]]] = []
        self._ready = threading.Condition()
        self._runner: threading.Thread | None = None

    def submit(self, pixels: np.ndarray, timeout: float = 30.0) -> dict[str, Any]:
        """Predict one 28x28 digit, batched with whatever else arrives now."""
        future: Future[dict[str, Any]] = Future()
        with self._ready:
            if self._runner is None or not self._runner.is_alive():
                # Started lazily, so the thread lives in the worker process, after fork.
                self._runner = threading.Thread(target=self._run, name="micro-batcher", daemon=True)
                self._runner.start()
            self._pending.append((pixels, future))
            self._ready.notify()
        return future.result(timeout)

    def _take_batch(self) -> list[tuple[np.ndarray, Future[dict[str, Any]]]]:
        with self._ready:
            while not self._pending:
                self._ready.wait()
            deadline = time.monotonic() + self._max_wait
            while len(self._pending) < self._max_size:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._ready.wait(remaining)
            batch = self._pending[: self._max_size]
            del self._pending[: self._max_size]
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            try:
                results = self._run_batch(np.stack([pixels for pixels, _ in batch]))
            except Exception as exc:  # every waiting job learns of the failure
                for _, future in batch:
                    future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                future.set_result(result)
