"""Micro-batching: jobs that arrive together share one model call; a lone job never waits."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from shared.batching import MicroBatcher


def slow_echo(delay: float):
    calls: list[int] = []

    def run(batch: list[np.ndarray]) -> list[dict]:
        calls.append(len(batch))
        time.sleep(delay)
        return [{"sum": int(item.sum())} for item in batch]

    return run, calls


def test_lone_job_runs_at_once_in_a_batch_of_one():
    run, calls = slow_echo(0.0)
    batcher = MicroBatcher(run, max_size=32, max_wait=0.0)
    started = time.monotonic()
    assert batcher.submit(np.full((28, 28), 2, np.uint8)) == {"sum": 2 * 784}
    assert calls == [1]
    assert time.monotonic() - started < 1.0


def test_jobs_arriving_together_share_model_calls_and_each_gets_its_own_answer():
    run, calls = slow_echo(0.05)
    batcher = MicroBatcher(run, max_size=8, max_wait=0.0)
    answers: dict[int, dict] = {}

    def job(value: int) -> None:
        answers[value] = batcher.submit(np.full((28, 28), value, np.uint8))

    threads = [threading.Thread(target=job, args=(v,)) for v in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert answers == {v: {"sum": v * 784} for v in range(20)}
    assert sum(calls) == 20 and len(calls) < 20 and max(calls) <= 8


def test_a_failing_model_call_fails_every_job_in_the_batch():
    def broken(batch: list[np.ndarray]) -> list[dict]:
        raise RuntimeError("model exploded")

    batcher = MicroBatcher(broken, max_size=4, max_wait=0.0)
    with pytest.raises(RuntimeError, match="exploded"):
        batcher.submit(np.zeros((28, 28), np.uint8))


def test_submit_many_answers_every_item_in_order_across_batches():
    run, calls = slow_echo(0.0)
    batcher = MicroBatcher(run, max_size=3, max_wait=0.0)
    items = [np.full((28, 28), v, np.uint8) for v in range(7)]
    assert batcher.submit_many(items) == [{"sum": v * 784} for v in range(7)]
    assert sum(calls) == 7 and max(calls) <= 3


def test_a_batch_waits_for_more_only_while_the_process_is_busy():
    run, calls = slow_echo(0.0)
    idle = MicroBatcher(run, max_size=8, max_wait=5.0, busy=lambda pending: False)
    started = time.monotonic()
    idle.submit(np.zeros((28, 28), np.uint8))
    assert time.monotonic() - started < 1.0  # not the 5 s max_wait

    busy = MicroBatcher(run, max_size=3, max_wait=5.0, busy=lambda pending: True)
    answers: list[dict] = []
    threads = [
        threading.Thread(
            target=lambda v=v: answers.append(busy.submit(np.full((28, 28), v, np.uint8)))
        )
        for v in range(3)
    ]
    for thread in threads:
        thread.start()
        time.sleep(0.05)  # arriving one by one, still one call: the batch waited to fill
    for thread in threads:
        thread.join(10)
    assert len(answers) == 3 and calls[-1] == 3
