"""Odd requests and the headers answers carry (issue 19, items 9 and 10), through the real
app on a real valkey and S3, and a real gunicorn for bodies sent in chunks.

Odd requests: JSON nested deeper than the parser's recursion, a status URL that names
Redis's lock rather than a job, a chunked body over the cap, guessed admin tokens, and
where host names and file paths could leak. Headers: HSTS over HTTPS, ``Cache-Control:
no-store`` on API answers, ``WWW-Authenticate`` on every 401.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from shared import fine_tune_jobs
from shared.imaging import render_canvas_png
from tests import processes
from tests.helpers import ADMIN, ADMIN_TOKEN, ROOT, data_url, empty_canvas, keys_written, predict
from tests.processes import wait_for

#: HSTS as web sends it over HTTPS.
HSTS = "max-age=31536000; includeSubDomains"
CHALLENGE = 'Bearer realm="digits"'


@pytest.fixture(scope="module")
def quiet_url(redis_databases) -> str:
    """A database of the session's valkey that no worker reads."""
    return redis_databases()


def quiet_env(
    stack_env: dict[str, str], quiet_url: str, store: Path, **extra: str
) -> dict[str, str]:
    """The stack's environment on the module's Redis database and a local store."""
    return dict(stack_env, REDIS_URL=quiet_url, STORAGE_URL=str(store), **extra)


@pytest.fixture()
def quiet_app(stack_env: dict[str, str], quiet_url: str, tmp_path) -> Flask:
    from web import create_app

    app = create_app({"TESTING": True, "SETTINGS_ENV": quiet_env(stack_env, quiet_url, tmp_path)})
    app.extensions["digits"].redis.flushdb()
    return app


@pytest.fixture()
def quiet(quiet_app: Flask) -> FlaskClient:
    return quiet_app.test_client()


def assert_error(answer, status: int, code: str) -> dict:
    assert answer.status_code == status, answer.data[:300]
    assert answer.mimetype == "application/json"
    error = answer.get_json()["error"]
    assert error["code"] == code and error["message"], error
    return error


# ---- odd requests -------------------------------------------------------------------------


def nested(depth: int) -> bytes:
    return b'{"image": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/api/predictions", {}),
        ("/api/samples", {}),
        (f"/api/predictions/{'c' * 32}/feedback", {}),
        ("/api/models/fnn/rollback", ADMIN),
        ("/api/retrains", ADMIN),
    ],
)
def test_deeply_nested_json_is_a_400_not_a_500(quiet_app, quiet, path, headers):
    # TESTING=True: a crash would raise here rather than answer 500.
    answer = quiet.post(path, data=nested(100_000), content_type="application/json",
                        headers=headers)  # fmt: skip
    error = assert_error(answer, 400, "invalid_request")
    assert "nested" in error["message"]
    assert keys_written(quiet_app.extensions["digits"].redis) == []


def test_a_status_url_naming_the_fine_tune_lock_is_a_404(quiet_app, quiet):
    # A real job holds the lock (no trainer reads this database, so it stays queued);
    # "active" is the last part of the lock's Redis key, a string, not a job's hash.
    started = quiet.post("/api/fine-tunes", headers=ADMIN)
    assert started.status_code == 202, started.get_json()
    assert fine_tune_jobs.active_job(quiet_app.extensions["digits"].redis)
    assert_error(quiet.get("/api/fine-tunes/active"), 404, "not_found")
    assert quiet.get(started.get_json()["status_url"]).get_json()["status"] == "queued"


@pytest.fixture()
def gunicorn_web(stack_env, quiet_url, tmp_path) -> Iterator[tuple[str, redis.Redis]]:
    """One gunicorn process started with the Procfile's config, on the quiet database."""
    env = quiet_env(
        stack_env, quiet_url, tmp_path / "store", WEB_CONCURRENCY="1", LOG_LEVEL="WARNING"
    )
    client = redis.Redis.from_url(env["REDIS_URL"])
    client.flushdb()
    web = processes.start_web(env, tmp_path / "web.log")
    try:
        yield web.url, client
    finally:
        web.stop()
        client.flushdb()


def post_chunked(url: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """POST ``body`` with ``Transfer-Encoding: chunked`` (no Content-Length) over a raw
    socket; the status and body of the answer, read even if the server stops reading first."""
    host, port = url.removeprefix("http://").split(":")
    head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Transfer-Encoding: chunked",
            "Content-Type: application/json", "Connection: close",
            *(f"{k}: {v}" for k, v in headers.items())]  # fmt: skip
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        try:
            for start in range(0, len(body), 64 * 1024):
                chunk = body[start : start + 64 * 1024]
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the whole body was sent
        answer = b""
        try:
            while part := sock.recv(65536):
                answer += part
        except ConnectionResetError:
            pass
    status_line, _, rest = answer.partition(b"\r\n")
    _, _, payload = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), payload


def chunked_payload(payload: bytes) -> bytes:
    """The body of a chunked answer, its chunks joined."""
    out = b""
    while payload:
        size, _, payload = payload.partition(b"\r\n")
        length = int(size.split(b";")[0], 16)
        if length == 0:
            break
        out, payload = out + payload[:length], payload[length + 2 :]
    return out


@pytest.mark.parametrize(
    ("path", "headers"),
    [("/api/predictions", {}), ("/api/fine-tunes", ADMIN), ("/api/retrains", ADMIN)],
)
def test_a_chunked_body_over_the_cap_is_413_while_it_is_read(gunicorn_web, path, headers):
    url, client = gunicorn_web
    cap = 1_000_000 * 4 // 3 + 4096  # MAX_CONTENT_LENGTH at the default MAX_IMAGE_BYTES
    body = b'{"image": "' + b"A" * (cap + 100_000) + b'"}'
    status, payload = post_chunked(url, path, body, headers)
    assert status == 413
    text = payload if payload.startswith(b"{") else chunked_payload(payload)
    assert json.loads(text)["error"]["code"] == "body_too_large"
    # Nothing was started: no fine-tune or retrain holds the lock, no job was recorded.
    assert fine_tune_jobs.active_job(client) is None
    assert client.keys("digits:fine_tune:*") == []
    # A small chunked body is read as any other.
    status, payload = post_chunked(url, "/api/predictions", b'{"image": 1}', {})
    assert status == 400


@pytest.fixture()
def limited_app(stack_env: dict[str, str], quiet_url: str, tmp_path) -> Flask:
    """The app with rate limits on, at most three failed admin logins a client, and the
    gallery public (so GET /api/samples answers anyone, and admins with more)."""
    from web import create_app

    env = quiet_env(stack_env, quiet_url, tmp_path, RATE_LIMITS_ENABLED="true",
                    ADMIN_FAILURE_LIMIT="3 per 15 minutes",
                    PUBLIC_GALLERY="true")  # fmt: skip
    app = create_app({"TESTING": True, "SETTINGS_ENV": env})
    app.extensions["digits"].redis.flushdb()
    return app


def from_address(address: str, token: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return {"headers": headers, "environ_base": {"REMOTE_ADDR": address}}


def test_failed_admin_logins_are_limited_per_client(limited_app):
    client = limited_app.test_client()
    guesser, admin = "192.0.2.10", "198.51.100.11"
    # Failures count on every admin endpoint, whatever the scheme; a token refused before
    # is refused again without counting (a script repeating a stale token is not guessing).
    for token in ["guess-1", "guess-1", "guess-2"]:
        wrong = client.get("/api/collectors", **from_address(guesser, token))
        assert_error(wrong, 401, "unauthorized")
        assert "Retry-After" not in wrong.headers
    basic = {"headers": {"Authorization": "Basic eDp5"}, "environ_base": {"REMOTE_ADDR": guesser}}
    assert_error(client.post("/api/fine-tunes", **basic), 401, "unauthorized")
    # The limit is used up: one more token is checked (3 per 15 minutes: one every 300 s)...
    checked = client.get("/api/collectors", **from_address(guesser, "guess-3"))
    error = assert_error(checked, 429, "too_many_requests")
    assert "failed admin logins" in error["message"]
    assert 0 < int(checked.headers["Retry-After"]) <= 300
    # ...and the next waits unheard, the right token too: otherwise the answers would go on
    # telling a guesser which token is right (web/admin.py; test_probe_small.py shows the
    # admin behind the same address getting in once the check comes round).
    for token in ["guess-4", ADMIN_TOKEN]:
        waiting = client.get("/api/collectors", **from_address(guesser, token))
        assert_error(waiting, 429, "too_many_requests")
        assert 0 < int(waiting.headers["Retry-After"]) <= 300
    # A request without a token is no login: it gets its usual answer.
    assert_error(client.get("/api/collectors", **from_address(guesser)), 401, "unauthorized")
    assert client.get("/api/models", **from_address(guesser)).status_code == 200
    # Another client is not affected, and its successful logins count nothing.
    for _ in range(5):
        assert client.get("/api/collectors", **from_address(admin, ADMIN_TOKEN)).status_code == 200


def test_a_wrong_token_on_an_open_view_counts_as_a_failed_login(limited_app):
    # GET /api/samples answers anyone and shows admins more: without counting, it would
    # tell a guesser which token is right.
    client = limited_app.test_client()
    guesser = "192.0.2.20"
    for n in range(3):
        answer = client.get("/api/samples", **from_address(guesser, f"guess-{n}"))
        assert answer.status_code == 200
    assert_error(client.get("/api/samples", **from_address(guesser, "guess-3")), 429,
                 "too_many_requests")  # fmt: skip
    assert_error(client.get("/api/samples", **from_address(guesser, ADMIN_TOKEN)), 429,
                 "too_many_requests")  # fmt: skip


def public_leaks(text: str) -> list[str]:
    """Host names and file paths of a machine found in ``text`` (a link within the repo,
    such as the card's ``../docs/``, is no leak)."""
    needles = (socket.gethostname(), str(ROOT), "/tmp/", "/work/", "/home/", "/root/")
    found = [needle for needle in needles if needle in text]
    return found + re.findall(r"\w+@[\w.-]+|\.\./(?!docs/)", text)


@pytest.mark.usefixtures("predict_worker")
def test_stats_and_health_name_no_worker_host(client):
    stats = wait_for(lambda: (s := client.get("/api/stats").get_json())["workers"] and s, 10,
                     "workers")  # fmt: skip
    health = client.get("/healthz").get_json()
    assert stats["workers"] and health["checks"]["worker_names"]
    for names in (stats["workers"], health["checks"]["worker_names"]):
        assert all("@" not in name for name in names), names
        assert public_leaks(json.dumps(names)) == []


@pytest.mark.usefixtures("predict_worker")
def test_models_answer_has_no_host_names_or_paths(client, mnist_sample):
    predict(client, mnist_sample["x_test"][0])  # the worker has published the shipped weights
    answer = client.get("/api/models")
    assert answer.status_code == 200
    versions = answer.get_json()["models"]["cnn"]["versions"]
    assert versions and versions[0]["card"]["data"]["source"].startswith("mnist.npz")
    assert public_leaks(answer.get_data(as_text=True)) == []


@pytest.mark.parametrize(
    "name",
    ["MODEL_CARD.md", "cnn.metrics.json", "fnn.metrics.json", "numbers.json", "rejection.json",
     "fine-tune-experiments.json"],
)  # fmt: skip
def test_committed_model_metadata_has_no_host_names_or_paths(name):
    assert public_leaks((ROOT / "models" / name).read_text()) == []


def test_a_failed_jobs_error_keeps_file_names_not_paths():
    from shared.errors import describe_error

    error = FileNotFoundError(2, "No such file or directory", "/srv/data/mnist.npz")
    assert describe_error(error) == (
        "FileNotFoundError: [Errno 2] No such file or directory: 'mnist.npz'"
    )
    assert describe_error(ValueError("no labelled user samples to learn from")) == (
        "ValueError: no labelled user samples to learn from"
    )


# ---- headers ------------------------------------------------------------------------------


def test_hsts_only_over_https(stack_env, quiet_url, tmp_path):
    from web import create_app

    env = quiet_env(stack_env, quiet_url, tmp_path, TRUSTED_PROXY_HOPS="1")
    client = create_app({"TESTING": True, "SETTINGS_ENV": env}).test_client()
    for path in ("/", "/api/models", "/api/nothing-here"):
        answer = client.get(path, base_url="https://localhost")
        assert answer.headers.get("Strict-Transport-Security") == HSTS, path
    behind_router = client.get("/about", headers={"X-Forwarded-Proto": "https"})
    assert behind_router.headers.get("Strict-Transport-Security") == HSTS
    assert "Strict-Transport-Security" not in client.get("/about").headers


@pytest.mark.usefixtures("predict_worker")
def test_api_answers_with_user_data_are_not_stored_by_caches(client, mnist_sample):
    done = predict(client, mnist_sample["x_test"][1])
    image = data_url(render_canvas_png(mnist_sample["x_test"][2]))
    sample = client.post("/api/samples", json={"image": image, "label": 7})
    assert sample.status_code == 202
    answers = {
        "prediction": (client.get(f"/api/predictions/{done['id']}"), 200),
        "samples": (client.get("/api/samples", headers=ADMIN), 200),
        "sample counts": (client.get("/api/samples/counts"), 200),
        "stats": (client.get("/api/stats"), 200),
        "models": (client.get("/api/models"), 200),
        "collectors": (client.get("/api/collectors", headers=ADMIN), 200),
        "export": (client.get("/api/samples/export?format=npz", headers=ADMIN), 200),
        "new sample": (sample, 202),
        "an error": (client.get(f"/api/predictions/{'c' * 32}"), 404),
    }
    for what, (answer, status) in answers.items():
        with answer:
            answer.get_data()  # an export streams: read it to the end
            assert answer.status_code == status, what
            assert answer.headers.get("Cache-Control") == "no-store", what
    # Pages and static files keep their own caching.
    with client.get("/static/favicon.svg") as favicon:
        assert favicon.headers.get("Cache-Control") != "no-store"


def test_every_401_carries_a_bearer_challenge(quiet):
    answers = {
        "no token": quiet.post("/api/fine-tunes"),
        "wrong token": quiet.post("/api/fine-tunes", headers={"Authorization": "Bearer x"}),
        "wrong scheme": quiet.get("/api/collectors", headers={"Authorization": "Basic eDp5"}),
        "collector token": quiet.post(
            "/api/samples", json={"image": empty_canvas(), "label": 1},
            headers={"X-Collector-Token": "not-a-token"},
        ),
    }  # fmt: skip
    for what, answer in answers.items():
        assert answer.status_code == 401, (what, answer.get_json())
        assert answer.headers.get("WWW-Authenticate") == CHALLENGE, what
        assert answer.get_json()["error"]["code"] in {"unauthorized", "invalid_collector_token"}
    assert "WWW-Authenticate" not in quiet.get("/api/models").headers


def test_the_trainer_records_file_names_not_paths():
    from worker.trainer.retraining import mnist_source
    from worker.trainer.tools.make_models import recorded_command

    argv = ["train", "--mnist", "/srv/data/mnist.npz", "--out=/tmp/newmodels", "--seed", "42"]
    assert recorded_command(argv) == (
        "python -m worker.trainer.tools.make_models train --mnist mnist.npz --out=newmodels --seed 42"
    )
    assert mnist_source("/srv/data/mnist.npz") == "mnist.npz"
    assert public_leaks(mnist_source("")) == [] and "replay.npz" in mnist_source("")
