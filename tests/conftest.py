"""Fixtures that mirror the app and start real services: valkey, SeaweedFS S3, Celery."""

from __future__ import annotations

import os
import re
import signal
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import numpy as np
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Page
from werkzeug.serving import WSGIRequestHandler, make_server

from tests import ports, processes
from tests.helpers import ADMIN_TOKEN, BUCKET, ROOT, SAMPLE, Workers

CHROMIUM = "/usr/bin/chromium"
# As root on these machines, and with no network but loopback.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# boto3 in this process and in workers needs some credentials; weed mini, started
# without AWS_* in its environment, accepts any.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(scope="session")
def mnist_sample() -> dict[str, np.ndarray]:
    with np.load(SAMPLE) as data:
        return {key: data[key] for key in data.files}


#: Databases the session's valkey has; database 0 is the shared stack's.
REDIS_DATABASES = 256
#: The first database ``redis_databases`` hands out (0 is the shared stack's).
FIRST_HANDED_OUT = 1


@pytest.fixture(scope="session")
def valkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[processes.Service]:
    service = processes.start_valkey(
        tmp_path_factory.mktemp("valkey"), extra_args=("--databases", str(REDIS_DATABASES))
    )
    yield service
    service.stop()


class RedisDatabases:
    """Databases of one valkey, handed out one at a time and never twice: a caller that
    asks gets the URL of an empty database no other caller in the session was given."""

    def __init__(self, valkey_url: str, first: int, count: int) -> None:
        self.server = valkey_url.rsplit("/", 1)[0]
        self.numbers = iter(range(first, count))

    def __call__(self) -> str:
        number = next(self.numbers, None)
        if number is None:
            raise RuntimeError("every database was handed out: raise REDIS_DATABASES")
        url = f"{self.server}/{number}"
        with redis.Redis.from_url(url) as client:
            client.flushdb()
        return url


@pytest.fixture(scope="session")
def redis_databases(valkey: processes.Service) -> RedisDatabases:
    """Call it for a database of the session's valkey of the caller's own (its URL), empty:
    for a module's fixture, or a process no other test's worker may read from. Kombu
    prefixes its broadcast channels with the number, so workers on one stay apart too."""
    return RedisDatabases(valkey.url, FIRST_HANDED_OUT, REDIS_DATABASES)


@pytest.fixture()
def redis_database(redis_databases: RedisDatabases) -> Iterator[str]:
    """A database of the session's valkey for this test alone (its URL): empty, and
    emptied again after the test."""
    url = redis_databases()
    yield url
    with redis.Redis.from_url(url) as client:
        client.flushdb()


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[processes.Service]:
    service = processes.start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"), BUCKET)
    yield service
    service.stop()


@pytest.fixture(scope="session")
def stack_env(valkey: processes.Service, seaweedfs: processes.Service) -> dict[str, str]:
    """Environment for every process of the stack under test: real Redis, real S3."""
    env = dict(os.environ)
    env.update(
        REDIS_URL=valkey.url,
        STORAGE_URL=f"s3://{BUCKET}/run-{uuid.uuid4().hex[:8]}",
        S3_ENDPOINT_URL=seaweedfs.url,
        WEIGHTS_DIR=str(ROOT / "models"),
        RATE_LIMITS_ENABLED="false",
        # As on Heroku: one trusted proxy, so tests speak for many clients through
        # X-Forwarded-For (test_security.py shows the header ignored with 0 hops).
        TRUSTED_PROXY_HOPS="1",
        # The samples pages and their tests list drawings without the admin token;
        # test_security.py checks the default (admins only).
        PUBLIC_GALLERY="true",
        MODEL_CHECK_INTERVAL="0.5",
        ADMIN_TOKEN=ADMIN_TOKEN,
        # Fine-tunes in tests start by hand and, as on a fresh machine, replay and gate
        # on the MNIST digits shipped in models/replay.npz.
        FINE_TUNE_EVERY="100000",
        # The gate alone promotes, as with the challenger stage off; test_challenger.py
        # runs its races on a stack of its own.
        CHALLENGER_PAIRS="0",
        MNIST_PATH="",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture(scope="session")
def predict_worker(
    stack_env: dict[str, str], valkey: processes.Service, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[processes.Service]:
    """A real Celery worker process on the predict and samples queues, as the Procfile runs it."""
    logfile = tmp_path_factory.mktemp("logs") / "worker.log"
    worker = processes.start_celery_worker(
        stack_env,
        "predict,samples",
        logfile,
        "worker",
        concurrency=4,
        redis_url=valkey.url,
        pool="threads",
    )
    yield worker
    worker.stop()


@pytest.fixture(scope="session")
def trainer(
    stack_env: dict[str, str], valkey: processes.Service, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[processes.Service]:
    """A real Celery worker process on the train queue (TensorFlow)."""
    logfile = tmp_path_factory.mktemp("logs") / "trainer.log"
    worker = processes.start_celery_worker(
        stack_env, "train", logfile, "trainer", concurrency=1, redis_url=valkey.url
    )
    yield worker
    worker.stop()


@pytest.fixture()
def app(stack_env: dict[str, str]) -> Flask:
    from web import create_app

    return create_app({"TESTING": True, "SETTINGS_ENV": stack_env})


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


#: Where the live server keeps the response it is sending, to close it if the client leaves.
_RESPONSE = "digits.tests.response"


class _ClosingRequestHandler(WSGIRequestHandler):
    """Closes the response when the client hangs up mid-answer.

    Werkzeug's server drains the socket before it closes the response; a reset during
    that drain skips the close, and the open static file surfaces later as a
    ResourceWarning in whatever test is running (Chromium drops a favicon request).
    """

    def connection_dropped(
        self, error: BaseException, environ: WSGIEnvironment | None = None
    ) -> None:
        close = getattr((environ or {}).get(_RESPONSE), "close", None)
        if close is not None:
            close()


def _remembering_response(app: Flask) -> WSGIApplication:
    def wsgi(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ[_RESPONSE] = response = app(environ, start_response)
        return response

    return wsgi


@contextmanager
def served_app(env: dict[str, str]) -> Iterator[str]:
    """The real app built from ``env``, on a loopback port in a thread; its base URL."""
    from web import create_app

    app = create_app({"SETTINGS_ENV": env})
    server = make_server(
        "127.0.0.1",
        ports.free_port(),
        _remembering_response(app),
        threaded=True,
        request_handler=_ClosingRequestHandler,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture(scope="session")
def live_server(stack_env: dict[str, str], predict_worker) -> Iterator[str]:
    """The real app on a loopback port, in a thread, against the real worker."""
    with served_app(stack_env) as url:
        yield url


# A deliberate 4xx (a refused admin token, an empty canvas) is logged by Chromium too.
EXPECTED_CONSOLE = re.compile(
    r"Failed to load resource: the server responded with a status of 4\d\d"
)


@pytest.fixture()
def open_page(browser, live_server) -> Iterator[Callable[..., Page]]:
    """Pages in fresh browser contexts (a desktop unless told), each recording console errors
    in ``page.console_errors``; closed afterwards."""
    contexts = []

    def opener(path: str = "/", **context_options: object) -> Page:
        options = {"viewport": {"width": 1200, "height": 900}, "locale": "en-US", **context_options}
        context = browser.new_context(**options)
        contexts.append(context)
        page = context.new_page()
        page.console_errors = []  # type: ignore[attr-defined]
        page.on(
            "console",
            lambda message: (
                message.type == "error"
                and not EXPECTED_CONSOLE.search(message.text)
                and page.console_errors.append(message.text)
            ),
        )
        page.on("pageerror", lambda error: page.console_errors.append(str(error)))
        page.goto(live_server + path)
        return page

    yield opener
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# -- services of a test's own, for tests that stop or kill them ------------------------


@pytest.fixture()
def workers(tmp_path: Path) -> Iterator[Workers]:
    started = Workers(tmp_path)
    yield started
    started.stop_all()


@pytest.fixture()
def own_valkey(tmp_path: Path) -> Iterator[processes.Service]:
    service = processes.start_valkey(tmp_path / "valkey")
    yield service
    service.stop()


@pytest.fixture()
def own_s3(tmp_path: Path) -> Iterator[processes.Service]:
    holder = [processes.start_seaweedfs(tmp_path / "weed", BUCKET)]
    yield holder[0]
    holder[0].proc.send_signal(signal.SIGCONT)  # in case a test left it paused
    holder[0].stop()
