"""Micro-batching: work that arrives together in one process is done in one call.

Web uses it to send the predictions that arrive together as one Celery message; the
predict worker, to run both models once on the images of concurrent messages. Each
caller hands its items over and waits; a single runner thread takes whatever is
waiting (up to ``max_size`` items, waiting at most ``max_wait`` seconds for more) and
makes one call on all of them. Batches form from the items that queued up while the
previous call was running; ``max_wait`` lets a batch wait a little for more, but only
while ``busy`` says that more are on their way, so a lone caller never waits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class MicroBatcher(Generic[Item, Result]):
    """``run_batch`` gets a list of items and returns one result per item, in order."""

    def __init__(
        self,
        run_batch: Callable[[list[Item]], Sequence[Result]],
        max_size: int,
        max_wait: float,
        name: str = "micro-batcher",
        busy: Callable[[int], bool] = lambda pending: True,
    ) -> None:
        """``busy(pending)``: whether more items are likely soon, given ``pending`` waiting."""
        self._run_batch = run_batch
        self._max_size = max_size
        self._max_wait = max_wait
        self._name = name
        self._busy = busy
        self._pending: list[tuple[Item, Future[Result]]] = []
        self._ready = threading.Condition()
        self._runner: threading.Thread | None = None

    def submit(self, item: Item, timeout: float = 30.0) -> Result:
        """Process one item, batched with whatever else arrives now."""
        return self.submit_many([item], timeout)[0]

    def submit_many(self, items: Sequence[Item], timeout: float = 30.0) -> list[Result]:
        """Process several items (they may be split across calls); raise the first failure."""
        futures: list[Future[Result]] = [Future() for _ in items]
        with self._ready:
            if self._runner is None or not self._runner.is_alive():
                # Started lazily, so the thread lives in the serving process, after any fork.
                self._runner = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._runner.start()
            self._pending.extend(zip(items, futures, strict=True))
            self._ready.notify()
        deadline = time.monotonic() + timeout
        return [future.result(max(0.0, deadline - time.monotonic())) for future in futures]

    def _take_batch(self) -> list[tuple[Item, Future[Result]]]:
        with self._ready:
            while not self._pending:
                self._ready.wait()
            wait = self._max_wait if self._busy(len(self._pending)) else 0.0
            deadline = time.monotonic() + wait
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
                results = self._run_batch([item for item, _ in batch])
            except Exception as exc:  # every waiting caller learns of the failure
                for _, future in batch:
                    future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                future.set_result(result)
