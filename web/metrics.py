"""``GET /metrics``: the Prometheus metrics of web and of the workers, in one scrape.

Worker dynos cannot be scraped on Heroku (only web gets HTTP), so web exports for all:

- its own requests, a counter and a latency histogram by Flask endpoint (the route's
  name, never the raw path: a bounded set) and status. Under gunicorn each process
  writes them to prometheus_client's multiprocess files (PROMETHEUS_MULTIPROC_DIR, made
  by ``web/gunicorn_conf.py``) and a scrape adds every process up; without that variable
  (the Flask test client, a thread server) they live in the app's own registry;
- the workers' counters, the Redis hash they write with work they already do
  (``shared.metrics``), read at scrape time;
- gauges read at scrape time: jobs waiting per queue, samples pending and waiting for
  the store, the workers that answered the last ping kept in Redis (a scrape never waits
  for a ping; like ``/healthz`` it starts one in the background when that answer is stale).

Admins only unless METRICS_PUBLIC=true.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import redis
from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.utils import floatToGoString

from shared import metrics, names, pending_samples
from shared.dataset import sample_backlog
from web.admin import check_admin
from web.health import answering_workers
from web.services import Services, current_services

bp = Blueprint("metrics", __name__)
log = logging.getLogger(__name__)

PREFIX = "digits_"
#: Seconds; a POST held by `Prefer: wait` answers within 10 s, a long-poll within 5.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0)
#: The endpoint label of a request no route matched (404, 405).
UNMATCHED = "unmatched"
#: The Procfile's worker processes: each has a workers-alive series, 0 when none answer.
WORKER_PROCESSES = ("worker", "trainer")


@dataclass(frozen=True)
class WebMetrics:
    """What ``/metrics`` exports, and this app's request metrics."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram


def init_app(app: Flask, services: Services) -> None:
    """Count every request and serve ``/metrics``; call before the other request hooks,
    so the clock starts first and the count sees the final status."""
    # prometheus_client chose, when it was imported, where a metric's values live (files,
    # when PROMETHEUS_MULTIPROC_DIR was set): ask it, not the environment again.
    shared_files = values.ValueClass is not values.MutexValue
    own = None if shared_files else CollectorRegistry()
    requests = Counter(
        f"{PREFIX}http_requests",
        "HTTP requests answered by web, by Flask endpoint and status.",
        ("endpoint", "status"),
        registry=own,
    )
    latency = Histogram(
        f"{PREFIX}http_request_duration_seconds",
        "Time from a request's arrival to its response's headers, by Flask endpoint and status.",
        ("endpoint", "status"),
        buckets=LATENCY_BUCKETS,
        registry=own,
    )
    if own is None:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = own
    registry.register(WorkerCollector(services))
    app.extensions["digits_metrics"] = WebMetrics(registry, requests, latency)
    app.before_request(_start_clock)
    app.after_request(_count_request)
    app.register_blueprint(bp)


def _start_clock() -> None:
    g.metrics_started = time.perf_counter()


def _count_request(response: Response) -> Response:
    web_metrics: WebMetrics = current_app.extensions["digits_metrics"]
    labels = (request.endpoint or UNMATCHED, str(response.status_code))
    web_metrics.requests.labels(*labels).inc()
    started = g.pop("metrics_started", None)
    if started is not None:
        web_metrics.latency.labels(*labels).observe(time.perf_counter() - started)
    return response


@bp.get("/metrics")
def scrape() -> Response:
    """The Prometheus text format; the admin token unless METRICS_PUBLIC=true."""
    if not current_services().settings.metrics_public:
        check_admin()
    web_metrics: WebMetrics = current_app.extensions["digits_metrics"]
    body = generate_latest(web_metrics.registry)
    return Response(body, headers={"Content-Type": CONTENT_TYPE_LATEST})


class WorkerCollector:
    """The workers' counters and the gauges, read from Redis at each scrape.

    One pipeline (the counters' hash, each queue's length, the pending set's and the
    backlog's sizes) and the last ping's answer: a few milliseconds, whatever the traffic.
    """

    def __init__(self, services: Services) -> None:
        self._services = services

    def collect(self) -> Iterator[Metric]:
        client = self._services.redis
        try:
            pipe = client.pipeline(transaction=False)
            pipe.hgetall(metrics.KEY)
            for queue in names.QUEUES:
                pipe.llen(queue)
            pipe.scard(pending_samples.PENDING_KEY)
            pipe.llen(sample_backlog.BACKLOG_KEY)
            counts, *depths, pending, waiting = pipe.execute()
            workers = answering_workers(self._services)
        except redis.RedisError:
            log.warning("reading the metrics from Redis failed", exc_info=True)
            yield _gauge("redis_up", "Whether web read Redis at this scrape (1) or not (0).", 0)
            return
        yield _gauge("redis_up", "Whether web read Redis at this scrape (1) or not (0).", 1)
        yield from worker_families(counts)
        depth = GaugeMetricFamily(
            f"{PREFIX}queue_depth", "Jobs waiting in each Celery queue.", labels=["queue"]
        )
        for queue, length in zip(names.QUEUES, depths, strict=True):
            depth.add_metric([queue], int(length))
        yield depth
        yield _gauge(
            "samples_pending", "Stored samples the next fine-tune is to learn.", int(pending)
        )
        yield _gauge(
            "samples_waiting",
            "Samples the store refused, waiting in the backlog for it to come back.",
            int(waiting),
        )
        if workers is not None:  # unknown until the first ping has ended
            yield workers_alive(workers)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}{name}", documentation, value=value)


def workers_alive(workers: list[str]) -> GaugeMetricFamily:
    """Celery workers that answered the last ping, by Procfile process (``worker.2``: worker)."""
    alive: dict[str, int] = dict.fromkeys(WORKER_PROCESSES, 0)
    for name in workers:
        process = name.partition(".")[0]
        alive[process] = alive.get(process, 0) + 1
    gauge = GaugeMetricFamily(
        f"{PREFIX}workers_alive",
        "Celery workers that answered the last ping (at most 5 s old), by process type.",
        labels=["process"],
    )
    for process, count in sorted(alive.items()):
        gauge.add_metric([process], count)
    return gauge


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def worker_families(raw: Mapping[Any, Any]) -> Iterator[Metric]:
    """The families of ``shared.metrics`` from the hash's fields; every family appears,
    and one without labels has its one series even before the first count."""
    series: dict[str, list[tuple[dict[str, str], int]]] = defaultdict(list)
    for field, value in raw.items():
        name, labels = metrics.parse_field(_text(field))
        series[name].append((labels, int(value)))
    for family in metrics.FAMILIES.values():
        if family.kind == "counter":
            yield _counter(family, series[family.name])
        else:
            yield _histogram(family, series[f"{family.name}_bucket"], series[f"{family.name}_sum"])


def _key(family: metrics.Family, labels: dict[str, str]) -> tuple[str, ...]:
    return tuple(labels.get(name, "") for name in family.labels)


def _counter(family: metrics.Family, found: list[tuple[dict[str, str], int]]) -> Metric:
    values: dict[tuple[str, ...], int] = defaultdict(int)
    if not family.labels:
        values[()] = 0
    for labels, value in found:
        values[_key(family, labels)] += value
    counter = CounterMetricFamily(PREFIX + family.name, family.help, labels=family.labels)
    for key, value in sorted(values.items()):
        counter.add_metric(list(key), value)
    return counter


def _histogram(
    family: metrics.Family,
    buckets: list[tuple[dict[str, str], int]],
    sums: list[tuple[dict[str, str], int]],
) -> Metric:
    """Buckets stored one per observation's bucket, added up here as Prometheus wants."""
    per_bucket: dict[tuple[str, ...], dict[str, int]] = defaultdict(dict)
    if not family.labels:
        per_bucket[()] = {}
    for labels, value in buckets:
        per_bucket[_key(family, labels)][labels.get("le", "")] = value
    total = {_key(family, labels): value for labels, value in sums}
    histogram = HistogramMetricFamily(PREFIX + family.name, family.help, labels=family.labels)
    for key in sorted(per_bucket.keys() | total.keys()):
        running, cumulative = 0, []
        for bound in (*family.buckets, math.inf):
            running += per_bucket[key].get(metrics.bound_text(bound), 0)
            cumulative.append((floatToGoString(bound), running))
        histogram.add_metric(list(key), cumulative, total.get(key, 0) / family.sum_scale)
    return histogram
