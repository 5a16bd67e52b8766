"""The web process: validates input, enqueues jobs by name, reads results, serves pages.

It never imports TensorFlow, the models or the ``worker`` package.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from shared.settings import Settings
from web import (
    admin,
    api,
    client_ids,
    dataset_api,
    errors,
    health,
    limits,
    metrics,
    pages,
    security,
    static_files,
)
from web.body_deadline import BodyDeadline
from web.json_provider import OrjsonProvider
from web.services import Services


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then the environment, then ``test_config``.

    ``test_config`` may hold ``SETTINGS`` (a Settings) or ``SETTINGS_ENV`` (a mapping
    read instead of ``os.environ``), plus any Flask configuration.
    """
    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    app.json.sort_keys = False
    config = dict(test_config or {})
    settings = config.pop("SETTINGS", None) or Settings.from_env(config.pop("SETTINGS_ENV", None))
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app.config.update(
        # Flask accepts any body size by default: cap it just above the largest image.
        MAX_CONTENT_LENGTH=settings.max_image_bytes * 4 // 3 + 4096,
    )
    app.config.update(config)
    # /static/ compressed and fingerprinted, answered before Flask sees the request.
    static_files.init_app(app)
    # Behind TRUSTED_PROXY_HOPS proxies (Heroku's router: 1) the client address is the
    # one the nearest proxy appended to X-Forwarded-For; with 0 the header is ignored,
    # so a client cannot claim a new address on each request.
    hops = settings.trusted_proxy_hops
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    # A body still arriving BODY_TIMEOUT s after its headers is a 408: a client that
    # trickles it cannot hold a connection (gunicorn bounds the headers, gunicorn_conf.py).
    app.wsgi_app = BodyDeadline(app.wsgi_app)  # type: ignore[method-assign]

    services = Services.create(settings)
    app.extensions["digits"] = services
    # First: its clock starts before the other hooks run and its count sees their answer.
    metrics.init_app(app, services)
    errors.register(app)
    client_ids.init_app(app, settings)
    security.register(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(dataset_api.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(pages.bp)
    app.extensions["digits_limiter"] = limits.init_app(app, settings)
    return app
