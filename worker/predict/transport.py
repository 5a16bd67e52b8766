"""The predict worker's Redis transport: no redelivery bookkeeping for prediction batches.

Kombu's Redis transport emulates acknowledgements: each message it hands out is copied
into an ``unacked`` hash and sorted set (one MULTI), and removed from both on ack (a
second MULTI), so that a message a dead worker held is handed out again after the
visibility timeout. A ``predict_batch`` is acknowledged as soon as it starts (early
ack), and a batch lost with its worker is answered by web's deadline (``timed_out``),
so for it those two transactions buy nothing; they were a fifth of the worker's CPU per
prediction at one client. Every other task (a sample to save, an export) keeps them:
it is acknowledged late, and a redelivery is what keeps it from being lost.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis, virtual

from shared import names

#: Tasks whose messages a lost worker may drop: the sender has a deadline for them.
UNTRACKED_TASKS = frozenset({names.PREDICT_BATCH})


class QoS(redis.QoS):
    """Kombu's Redis QoS, minus the unacked copies of ``UNTRACKED_TASKS`` messages."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._untracked: set[str] = set()

    def append(self, message: Any, delivery_tag: str) -> None:
        if (message.headers or {}).get("task") in UNTRACKED_TASKS:
            self._untracked.add(delivery_tag)
            virtual.QoS.append(self, message, delivery_tag)
        else:
            super().append(message, delivery_tag)

    def ack(self, delivery_tag: str) -> None:
        if delivery_tag in self._untracked:
            self._untracked.discard(delivery_tag)
            virtual.QoS.ack(self, delivery_tag)
        else:
            super().ack(delivery_tag)

    def reject(self, delivery_tag: str, requeue: bool = False) -> None:
        if delivery_tag not in self._untracked:
            super().reject(delivery_tag, requeue)
            return
        if requeue:
            self._hand_back(delivery_tag)
        self._untracked.discard(delivery_tag)
        virtual.QoS.ack(self, delivery_tag)

    def restore_unacked(self, client: Any = None) -> None:
        """At shutdown, the batches this worker holds and has not started go back too."""
        for delivery_tag in list(self._untracked):
            self._hand_back(delivery_tag)
        self._untracked.clear()
        super().restore_unacked(client)

    def _hand_back(self, delivery_tag: str) -> None:
        """Put a message back on its queue from memory: there is no copy in Redis."""
        delivered: dict[str, Any] = self._delivered or {}
        message = delivered.get(delivery_tag)
        if message is not None:
            virtual.Channel._restore(self.channel, message)


class Channel(redis.Channel):
    QoS = QoS


class Transport(redis.Transport):
    Channel = Channel


#: The value of Celery's ``broker_transport`` that selects this transport.
NAME = f"{__name__}:Transport"
