"""Coalescing: the predictions a web process accepts together travel as one Celery message.

A request hands its job over and waits until the job is recorded and sent; one sender
thread writes the records of everything waiting in one pipeline and sends them as one
``predict_batch`` message. An idle process sends at once (a batch of one); under load
the batches fill from the requests that arrived while the previous send was on the
wire, up to ``max_size``.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis
from celery import Celery

from shared import names, prediction_records
from shared.batching import MicroBatcher
from shared.celery_config import send
from shared.number_reading import Readings
from shared.shapes import PredictionRecord, PredictJob
from web.result_listener import ResultListener

#: (job id, its record's fields as web fills them, the ways to read the number)
Job = tuple[str, PredictionRecord, Readings]


class PredictionSender:
    def __init__(
        self,
        client: redis.Redis,
        celery: Celery,
        listener: ResultListener,
        record_ttl: int,
        expires: float,
        max_size: int,
        max_wait: float,
    ) -> None:
        self._client = client
        self._celery = celery
        self._listener = listener
        self._record_ttl = record_ttl
        self._expires = expires
        self._batcher: MicroBatcher[Job, None] = MicroBatcher(
            self._send_batch, max_size, max_wait, name="prediction-sender", busy=self._busy
        )

    def _busy(self, pending: int) -> bool:
        """Other requests of this process wait on outcomes: more jobs will follow soon.

        A request waiting with ``Prefer: wait`` registers before it sends, so an idle
        process has no waiter beyond the jobs pending here, and sends at once.
        """
        return self._listener.waiter_count() > pending

    def send(self, job_id: str, record: PredictionRecord, readings: Readings) -> None:
        """Record and enqueue one prediction (its images, boxes and strokes from ``record``);
        return once it is on the queue, or raise."""
        self._batcher.submit((job_id, record, readings), timeout=10.0)

    def _send_batch(self, jobs: list[Job]) -> Sequence[None]:
        """Write the records, then send the message; a record whose job was not sent goes."""
        records = {job_id: _written(record) for job_id, record, _ in jobs}
        # A record of more images than an answer shows lives until its job has expired
        # and web has said so, unless the worker keeps only those it shows by then.
        pending = int(self._expires) + prediction_records.PENDING_GRACE
        prediction_records.create(self._client, records, self._record_ttl, pending)
        message: list[PredictJob] = [(i, record["pixels"], ways) for i, record, ways in jobs]
        try:
            send(
                self._celery,
                names.PREDICT_BATCH,
                # Outcomes come back on this process's channel (it differs per process).
                [self._listener.channel, message],
                expires=self._expires,
            )
        except Exception:
            prediction_records.withdraw(self._client, [job_id for job_id, *_ in jobs])
            raise
        return [None] * len(jobs)


def _written(record: PredictionRecord) -> dict[str, str]:
    """The fields web writes: the record's time is the sender's (``prediction_records.create``)."""
    fields = {
        prediction_records.PIXELS: record["pixels"],
        prediction_records.BOXES: record["boxes"],
    }
    if "strokes" in record:
        fields[prediction_records.STROKES] = record["strokes"]
    return fields
