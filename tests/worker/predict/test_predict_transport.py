"""The predict worker's transport keeps no Redis copy of a prediction batch it holds.

Kombu's Redis transport copies every message it hands out into ``unacked`` until it is
acknowledged; ``worker/predict/transport.py`` skips that for ``predict_batch`` (early
ack, web's deadline covers a lost batch) and keeps it for everything else. Checked
against a real valkey through kombu, as the worker's consumer uses it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis
from kombu import Connection

from shared import names
from worker.predict.transport import Transport


@pytest.fixture()
def queue(valkey) -> Iterator[tuple[object, redis.Redis, str]]:
    """A fresh queue on the session's valkey, a client that sees the bookkeeping, its name."""
    name = f"transport-test-{uuid.uuid4().hex}"
    with Connection(valkey.url, transport=Transport) as connection:
        simple = connection.SimpleQueue(name)
        try:
            yield simple, redis.Redis.from_url(valkey.url), name
        finally:
            simple.close()


def put(simple, task: str, body: str) -> None:
    simple.put(body, headers={"task": task})


def test_a_prediction_batch_held_leaves_no_copy_and_a_sample_does(queue):
    simple, client, _ = queue
    put(simple, names.PREDICT_BATCH, "batch")
    batch = simple.get(timeout=5)
    assert batch.payload == "batch"
    assert client.hlen("unacked") == 0 and client.zcard("unacked_index") == 0
    batch.ack()

    put(simple, names.SAVE_SAMPLE, "sample")
    sample = simple.get(timeout=5)
    assert client.hlen("unacked") == 1 and client.zcard("unacked_index") == 1
    sample.ack()
    assert client.hlen("unacked") == 0 and client.zcard("unacked_index") == 0


def test_a_requeued_batch_goes_back_on_its_queue(queue):
    simple, client, name = queue
    put(simple, names.PREDICT_BATCH, "batch")
    simple.get(timeout=5).requeue()
    assert client.llen(name) == 1
    again = simple.get(timeout=5)
    assert again.payload == "batch"
    again.ack()
    assert client.llen(name) == 0 and client.hlen("unacked") == 0


def test_batches_held_at_shutdown_go_back_from_memory(queue):
    simple, client, name = queue
    for body in ("first", "second"):
        put(simple, names.PREDICT_BATCH, body)
    held = [simple.get(timeout=5) for _ in range(2)]
    assert {m.payload for m in held} == {"first", "second"} and client.llen(name) == 0

    simple.channel.qos.restore_unacked()

    assert client.llen(name) == 2
    assert sorted(simple.get(timeout=5).payload for _ in range(2)) == ["first", "second"]
    assert client.hlen("unacked") == 0
