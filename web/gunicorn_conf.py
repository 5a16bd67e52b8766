"""Gunicorn settings for the web process, loaded by path (``--config web/gunicorn_conf.py``).

By path, not as ``python:web.gunicorn_conf``: importing the ``web`` package in gunicorn's
master would import redis and ssl before the gevent worker monkey-patches them.

Gunicorn reads these before the app exists. The address and size are settings like
any other (PORT, BIND_HOST, WEB_CONCURRENCY, WEB_CONNECTIONS; Heroku sets PORT and
WEB_CONCURRENCY), and every Digits setting is checked here, so a missing or malformed
variable stops the master with one clear line instead of a crash loop of workers.
"""

from shared.settings import Settings

settings = Settings.from_env()

bind = [f"{settings.bind_host}:{settings.port}"]
# Greenlets, not OS threads: a request waiting on its prediction (or a slow client) holds
# a few kilobytes, not a thread. gevent patches sockets, so redis-py, kombu and the
# result listener's thread cooperate without change; a 512 MB dyno fits two processes.
worker_class = "gevent"
workers = settings.web_concurrency
worker_connections = settings.web_connections
# Below the Heroku router's 30 s limit; waits end within 10 s (Prefer: wait) or 5 s (long-polls).
timeout = 25
# Heroku sends SIGTERM and kills 30 s later: requests in flight (10 s waits at most)
# get 20 s to finish, then the workers go.
graceful_timeout = 20
# One line per request on stdout.
accesslog = "-"
errorlog = "-"
loglevel = settings.log_level.lower()
forwarded_allow_ips = "*"
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
