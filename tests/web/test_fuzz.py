"""Thousands of malformed requests to every API endpoint: never a 500, always a JSON error.

The app runs on a real valkey (a database no worker reads) and an empty local store,
so anything a rejected request enqueued or stored would show as a Redis key or a file.
TESTING=True makes Flask raise instead of answering 500, so a crash fails the test too.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import ADMIN, keys_written

FUZZ = settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def fuzz_app(stack_env: dict[str, str], redis_databases, tmp_path_factory) -> Flask:
    """The app on a database of the session's valkey that no worker consumes."""
    from web import create_app

    env = dict(
        stack_env,
        REDIS_URL=redis_databases(),
        STORAGE_URL=str(tmp_path_factory.mktemp("fuzz-store")),
    )
    app = create_app({"TESTING": True, "SETTINGS_ENV": env})
    app.extensions["digits"].redis.flushdb()
    return app


@pytest.fixture(scope="module")
def fuzz(fuzz_app: Flask) -> FlaskClient:
    return fuzz_app.test_client()


def check(app: Flask, answer: Any, path: str) -> None:
    """No 500, a JSON error body for every API 4xx, and nothing left behind in Redis."""
    status = answer.status_code
    assert status < 500, (path, status, answer.data[:300])
    if path.startswith("/api/") and 400 <= status < 500:
        error = answer.get_json()["error"]
        assert isinstance(error["code"], str) and error["code"]
        assert isinstance(error["message"], str) and error["message"]
    services = app.extensions["digits"]
    assert keys_written(services.redis) == []
    assert next(services.store.list_keys(""), None) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

png_ish = st.one_of(
    st.binary(max_size=300).map(lambda b: b"\x89PNG\r\n\x1a\n" + b),
    st.binary(max_size=300),
    st.just(b""),
)
data_urls = st.one_of(
    st.builds(
        lambda prefix, payload: prefix + base64.b64encode(payload).decode(),
        st.sampled_from(
            ["data:image/png;base64,", "data:image/png;", "data:image/gif;base64,", "data:,", ""]
        ),
        png_ish,
    ),
    st.text(max_size=80).map(lambda t: "data:image/png;base64," + t),
    st.text(max_size=40),
)
image_values = st.one_of(data_urls, json_values)
labels = st.one_of(st.integers(min_value=-(2**70), max_value=2**70), json_values)

#: Ids: valid-looking hex that no job has, and arbitrary text.
ids = st.one_of(
    st.text(alphabet="0123456789abcdef", min_size=32, max_size=32),
    st.text(min_size=1, max_size=40),
)
query_strings = st.dictionaries(
    st.sampled_from(["wait", "label", "source", "limit", "offset", "format", "x"])
    | st.text(min_size=1, max_size=6),
    st.text(max_size=12) | st.integers().map(str) | st.floats().map(str),
    max_size=4,
)


def bodies(fields: tuple[str, ...], values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The endpoint's own fields with random values, some missing, some extra, or no object."""
    objects = st.fixed_dictionaries(
        {}, optional={name: values for name in fields} | {"extra": json_values}
    )
    return st.one_of(objects, objects, json_values)


def segment(text: str) -> str:
    return quote(text, safe="")


def post(client: FlaskClient, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    return client.post(
        path, data=json.dumps(body), content_type="application/json", headers=headers or {}
    )


@FUZZ
@given(body=bodies(("image",), image_values))
def test_predictions_never_500(fuzz_app, fuzz, body):
    check(fuzz_app, post(fuzz, "/api/predictions", body), "/api/predictions")


@FUZZ
@given(body=bodies(("image", "label"), st.one_of(image_values, labels)))
def test_samples_never_500(fuzz_app, fuzz, body):
    check(fuzz_app, post(fuzz, "/api/samples", body), "/api/samples")


@FUZZ
@given(job_id=ids, body=bodies(("label", "consent"), st.one_of(labels, st.booleans())))
def test_feedback_never_500(fuzz_app, fuzz, job_id, body):
    path = f"/api/predictions/{segment(job_id)}/feedback"
    check(fuzz_app, post(fuzz, path, body), path)


@FUZZ
@given(
    name=st.sampled_from(["fnn", "cnn"]) | st.text(min_size=1, max_size=12),
    body=bodies(("version",), st.integers(min_value=-5, max_value=2**65) | json_values),
    admin=st.booleans(),
)
def test_rollback_never_500(fuzz_app, fuzz, name, body, admin):
    path = f"/api/models/{segment(name)}/rollback"
    check(fuzz_app, post(fuzz, path, body, ADMIN if admin else None), path)


@FUZZ
@given(
    job_id=ids,
    query=query_strings,
    kind=st.sampled_from(["predictions", "fine-tunes"]),
)
def test_status_reads_never_500(fuzz_app, fuzz, job_id, query, kind):
    path = f"/api/{kind}/{segment(job_id)}"
    check(fuzz_app, fuzz.get(path + "?" + urlencode(query)), path)


@FUZZ
@given(
    path=st.sampled_from(
        ["/api/samples", "/api/samples/export", "/api/models", "/api/fine-tunes", "/api/x"]
    ),
    query=query_strings,
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    token=st.sampled_from([None, "", "Bearer ", "Bearer wrong", "Basic abc", "bearer x y"]),
)
def test_other_endpoints_never_500(fuzz_app, fuzz, path, query, method, token):
    headers = {} if token is None else {"Authorization": token}
    answer = fuzz.open(path + "?" + urlencode(query), method=method, headers=headers)
    with answer:  # an export streams: close it
        check(fuzz_app, answer, path)


@FUZZ
@given(
    path=st.lists(st.text(min_size=1, max_size=10).map(segment), min_size=1, max_size=4),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    raw=st.binary(max_size=200),
    content_type=st.sampled_from(
        ["application/json", "text/plain", "application/x-www-form-urlencoded", ""]
    ),
)
def test_random_paths_and_raw_bodies_never_500(fuzz_app, fuzz, path, method, raw, content_type):
    url = "/api/" + "/".join(path)
    answer = fuzz.open(url, method=method, data=raw, content_type=content_type)
    check(fuzz_app, answer, url)
