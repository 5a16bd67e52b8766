"""Gunicorn settings for the web process, loaded by path (``--config web/gunicorn_conf.py``).

By path, not as ``python:web.gunicorn_conf``: importing the ``web`` package in gunicorn's
master would import redis and ssl before the gevent worker monkey-patches them.

Gunicorn reads these before the app exists. The address and size are settings like
any other (PORT, BIND_HOST, WEB_CONCURRENCY, WEB_CONNECTIONS; Heroku sets PORT and
WEB_CONCURRENCY), and every Digits setting is checked here, so a missing or malformed
variable stops the master with one clear line instead of a crash loop of workers.
"""

import os
import shutil
import tempfile
from typing import Any

from shared.settings import Settings

settings = Settings.from_env()

bind = [f"{settings.bind_host}:{settings.port}"]
# Greenlets, not OS threads: a request waiting on its prediction (or a slow client) holds
# a few kilobytes, not a thread. gevent patches sockets, so redis-py, kombu and the
# result listener's thread cooperate without change; a 512 MB dyno fits two processes.
worker_class = "gevent"
workers = settings.web_concurrency
worker_connections = settings.web_connections
# A client that trickles its request holds a greenlet, not for long: the gevent worker
# reads the request line and headers under a timeout of `keepalive` seconds (a new
# connection's first request as the next; an idle keep-alive connection is closed after
# as long) and the app gives the body 10 s more (web/body_deadline.py). These are
# gunicorn's defaults, written out because they are now bounds we rely on: 2 s for the
# headers, a 4 KB request line, 100 header fields of 8 KB at most.
keepalive = 2
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
# Nor can one address hold many of the process's WEB_CONNECTIONS: past
# WEB_CONNECTIONS_PER_ADDRESS a connection is answered 503 at once (post_worker_init below;
# off behind a proxy, whose front must limit connections: docs/security.md).
# Below the Heroku router's 30 s limit; waits end within 10 s (Prefer: wait) or 5 s (long-polls).
timeout = 25
# Heroku sends SIGTERM and kills 30 s later: requests in flight (10 s waits at most)
# get 20 s to finish, then the workers go.
graceful_timeout = 20
# One line per request on stdout.
accesslog = "-"
errorlog = "-"
loglevel = settings.log_level.lower()
# X-Forwarded-Proto is believed only behind a trusted proxy (Heroku's router, which
# gunicorn sees as its peer): with TRUSTED_PROXY_HOPS=0 clients reach gunicorn directly
# and could claim HTTPS. The client address itself is the app's business (ProxyFix).
forwarded_allow_ips = "*" if settings.trusted_proxy_hops else "127.0.0.1"
# The platform manages the process; gunicorn 24+'s control socket in $HOME would only
# collide between two gunicorns on one machine (tests, benchmarks). Older versions ignore it.
control_socket_disable = True
# Every log event, gunicorn's and the app's, on stdout in one line (shared/logs.py);
# the app's own logging.basicConfig then finds the root logger configured.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "one_line": {
            "()": "shared.logs.OneLineFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s: %(message)s",
        },
        "access": {"()": "shared.logs.OneLineFormatter", "fmt": "%(message)s"},
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "formatter": "one_line",
            "stream": "ext://sys.stdout",
        },
        "access": {
            "class": "logging.StreamHandler",
            "formatter": "access",
            "stream": "ext://sys.stdout",
        },
    },
    "root": {"level": settings.log_level, "handlers": ["stdout"]},
    "loggers": {
        "gunicorn.error": {"level": settings.log_level, "handlers": ["stdout"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
    },
}


# Request metrics (web/metrics.py): each gevent process counts into prometheus_client's
# files in a directory of this server's own, emptied at each start (counts of an earlier
# run must not be added in), and a scrape of any process adds every one up.
# prometheus_client reads PROMETHEUS_MULTIPROC_DIR when it is imported: gunicorn sets it
# (raw_env) in the master, before the workers fork and import the app.
metrics_dir = os.path.join(tempfile.gettempdir(), f"digits-metrics-{os.getpid()}")
# NumPy's BLAS in one thread (read when NumPy is imported, so set here): web's only matrix
# products are the group counter's (shared/group_count.py), too small to share out, and
# OpenBLAS's extra threads spin while they wait, doubling the CPU a canvas costs.
raw_env = [f"PROMETHEUS_MULTIPROC_DIR={metrics_dir}", "OPENBLAS_NUM_THREADS=1"]


def on_starting(server: Any) -> None:
    shutil.rmtree(metrics_dir, ignore_errors=True)  # a killed server's of the same pid
    os.makedirs(metrics_dir)


def post_worker_init(worker: Any) -> None:
    """Cap each client address's connections in this process (web/connection_guard.py)."""
    # Imported here, in the worker: gevent has patched it and the app imported ``web``.
    from web.connection_guard import install

    install(worker, settings)


def child_exit(server: Any, worker: Any) -> None:
    """prometheus_client's bookkeeping for a process gone (its live gauges; its counts stay)."""
    # Imported here, not above: the master imports it only once a worker has exited.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, metrics_dir)


def on_exit(server: Any) -> None:
    shutil.rmtree(metrics_dir, ignore_errors=True)
