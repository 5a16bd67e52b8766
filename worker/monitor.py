"""The Celery app Flower watches (``celery -A worker.monitor flower``).

The apps of ``shared.celery_config`` keep one broker connection a process, enough to send
jobs; Flower asks workers questions from a pool of threads, each holding a connection
while it waits for replies, and with one connection those calls wait forever: its pages
stall and SIGTERM hangs at exit on the stuck threads. It gets a pool of its own size.
"""

from __future__ import annotations

from shared.celery_config import make_celery
from worker.clients import settings

#: Broker connections Flower may hold at once: its inspect threads and its event capture.
FLOWER_POOL_LIMIT = 10

app = make_celery(settings(), "digits-monitor")
app.conf.broker_pool_limit = FLOWER_POOL_LIMIT
