"""Gunicorn settings for the web process.

Gunicorn reads its own configuration here, before the app exists; these follow the
platform conventions (Heroku sets PORT and WEB_CONCURRENCY), not Digits settings.
"""

import os

bind = [f"{os.environ.get('BIND_HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"]
# Threads, not processes: long-polls wait on Redis and a 512 MB dyno fits two processes.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "8"))
# Below the Heroku router's 30 s limit; long-polls end within 5 s.
timeout = 25
graceful_timeout = 20
# One line per request on stdout.
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = "*"
