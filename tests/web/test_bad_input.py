"""Bad input through the HTTP API: a clear JSON 4xx, and nothing enqueued or stored.

Most cases run against an app on a Redis database no worker reads, so "nothing
enqueued" is simply "the database did not change". test_api.py and test_imaging.py
hold the rest of the matrix (not JSON, extra fields, bad base64, not a PNG, ...).
"""

from __future__ import annotations

import io
import math
import time

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from shared.imaging import render_canvas_png
from tests.helpers import ADMIN, data_url, keys_written, png_header_only, wait_done


@pytest.fixture(scope="module")
def quiet_url(redis_databases) -> str:
    """A database of the session's valkey that no worker consumes."""
    return redis_databases()


@pytest.fixture()
def quiet_app(stack_env: dict[str, str], quiet_url: str, tmp_path) -> Flask:
    """The app on an empty Redis database and a local store: every write would show."""
    from web import create_app

    env = dict(stack_env, REDIS_URL=quiet_url, STORAGE_URL=str(tmp_path / "store"))
    app = create_app({"TESTING": True, "SETTINGS_ENV": env})
    app.extensions["digits"].redis.flushdb()
    return app


@pytest.fixture()
def quiet(quiet_app: Flask) -> FlaskClient:
    return quiet_app.test_client()


def assert_untouched(app: Flask) -> None:
    """Nothing was enqueued, recorded or stored."""
    services = app.extensions["digits"]
    assert keys_written(services.redis) == []
    assert list(services.store.list_keys("samples/")) == []


def assert_error(answer, status: int, code: str) -> None:
    assert answer.status_code == status, answer.data[:300]
    assert answer.mimetype == "application/json"
    error = answer.get_json()["error"]
    assert error["code"] == code and error["message"]


def png_of_size(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (width, height), (0, 0, 0, 255)).save(buffer, format="PNG")
    return buffer.getvalue()


IMAGE_ENDPOINTS = [("/api/predictions", {}), ("/api/samples", {"label": 3})]


@pytest.mark.parametrize(("path", "fields"), IMAGE_ENDPOINTS)
def test_png_bomb_is_413_before_decoding_and_enqueues_nothing(quiet_app, quiet, path, fields):
    bomb = png_header_only(60_000, 60_000)  # a few hundred bytes claiming 3.6 gigapixels
    started = time.monotonic()
    answer = quiet.post(path, json={"image": data_url(bomb), **fields})
    assert time.monotonic() - started < 1.0
    assert_error(answer, 413, "image_too_large")
    assert_untouched(quiet_app)


@pytest.mark.parametrize(("path", "fields"), IMAGE_ENDPOINTS)
@pytest.mark.parametrize("size", [(1, 1), (1, 500), (7, 7)])
def test_tiny_image_is_422_and_enqueues_nothing(quiet_app, quiet, path, fields, size):
    answer = quiet.post(path, json={"image": data_url(png_of_size(*size)), **fields})
    assert_error(answer, 422, "image_too_small")
    assert_untouched(quiet_app)


@pytest.mark.parametrize(("path", "fields"), IMAGE_ENDPOINTS)
def test_image_wider_than_the_side_cap_is_413(quiet_app, quiet, path, fields):
    side = quiet_app.extensions["digits"].settings.max_image_side
    answer = quiet.post(path, json={"image": data_url(png_of_size(side + 1, 8)), **fields})
    assert_error(answer, 413, "image_too_large")
    assert_untouched(quiet_app)


@pytest.mark.parametrize(("path", "fields"), IMAGE_ENDPOINTS)
def test_image_over_the_pixel_cap_is_413(quiet_app, quiet, path, fields):
    pixels = quiet_app.extensions["digits"].settings.max_image_pixels
    side = math.isqrt(pixels) + 1  # a square within the side cap, over the pixel cap
    answer = quiet.post(path, json={"image": data_url(png_of_size(side, side)), **fields})
    assert_error(answer, 413, "image_too_large")
    assert_untouched(quiet_app)


def test_feedback_for_unknown_prediction_is_404_and_enqueues_nothing(quiet_app, quiet):
    answer = quiet.post(f"/api/predictions/{'c' * 32}/feedback", json={"label": 1, "consent": True})
    assert_error(answer, 404, "not_found")
    answer = quiet.post("/api/predictions/../../etc/feedback", json={"label": 1, "consent": True})
    assert answer.status_code == 404
    assert_untouched(quiet_app)


@pytest.mark.parametrize("label", [10, -1, 100, "3", 2.5, True, [1], {"d": 1}])
def test_feedback_label_outside_0_to_9_is_400(quiet_app, quiet, label):
    answer = quiet.post(
        f"/api/predictions/{'c' * 32}/feedback", json={"label": label, "consent": True}
    )
    assert_error(answer, 400, "invalid_request")
    assert "label" in answer.get_json()["error"]["message"]
    assert_untouched(quiet_app)


@pytest.mark.usefixtures("predict_worker")
def test_feedback_twice_is_409_and_counted_once(client, mnist_sample):
    image = data_url(render_canvas_png(mnist_sample["x_test"][4]))
    done = wait_done(client, client.post("/api/predictions", json={"image": image}).location)
    assert done["status"] == "done", done
    before = client.get("/api/stats").get_json()["feedback_events"]
    url = f"/api/predictions/{done['id']}/feedback"
    assert client.post(url, json={"label": 4, "consent": False}).status_code == 202
    for body in ({"label": 4, "consent": False}, {"label": 9, "consent": True}):
        assert_error(client.post(url, json=body), 409, "conflict")
    assert client.get("/api/stats").get_json()["feedback_events"] == before + 1


def post_endpoints() -> list[tuple[str, dict[str, str]]]:
    return [
        ("/api/predictions", {}),
        ("/api/samples", {}),
        (f"/api/predictions/{'c' * 32}/feedback", {}),
        ("/api/models/fnn/rollback", ADMIN),
        ("/api/fine-tunes", ADMIN),
    ]


@pytest.mark.parametrize(("path", "headers"), post_endpoints())
def test_body_over_the_cap_is_413_on_every_post_endpoint(quiet_app, quiet, path, headers):
    cap = quiet_app.config["MAX_CONTENT_LENGTH"]
    body = b'{"image": "' + b"A" * cap + b'"}'
    answer = quiet.post(path, data=body, content_type="application/json", headers=headers)
    assert_error(answer, 413, "body_too_large")
    assert_untouched(quiet_app)


@pytest.mark.parametrize(("path", "headers"), post_endpoints()[:4])
@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_wrong_content_type_is_400_json(quiet_app, quiet, path, headers, content_type):
    answer = quiet.post(
        path, data='{"image": "x", "label": 1}', content_type=content_type, headers=headers
    )
    assert_error(answer, 400, "invalid_request")
    assert_untouched(quiet_app)


def test_unknown_api_path_and_wrong_method_are_json(quiet):
    assert_error(quiet.get("/api/nothing-here"), 404, "not_found")
    assert_error(quiet.get("/api/samples/export/extra"), 404, "not_found")
    assert_error(quiet.put("/api/predictions"), 405, "method_not_allowed")
    assert_error(quiet.delete(f"/api/predictions/{'c' * 32}"), 405, "method_not_allowed")


def assert_security_headers(answer) -> None:
    csp = {
        part.strip().split(" ", 1)[0]: part.strip()
        for part in answer.headers["Content-Security-Policy"].split(";")
    }
    script_src = csp.get("script-src") or csp["default-src"]
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert csp["frame-ancestors"] == "frame-ancestors 'none'"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", ["/", "/collect", "/about", "/static/favicon.svg"])
def test_pages_carry_the_security_headers(quiet, path):
    with quiet.get(path) as answer:  # a static file streams: close it
        assert answer.status_code == 200
        assert_security_headers(answer)


def test_api_answers_and_errors_carry_the_security_headers(quiet):
    answers = [
        quiet.get("/api/models"),
        quiet.get("/api/stats"),
        quiet.get(f"/api/predictions/{'c' * 32}"),
        quiet.post("/api/predictions", data="x", content_type="text/plain"),
        quiet.post("/api/fine-tunes"),
        quiet.get("/healthz"),
        quiet.get("/no-such-page"),
    ]
    assert [a.status_code for a in answers[2:5]] == [404, 400, 401]
    for answer in answers:
        assert_security_headers(answer)


def dot_png(side: int = 280, pen: int = 20) -> bytes:
    """One tap of the pen on an empty pad: a round dot, as the page draws it."""
    from PIL import ImageDraw

    image = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    middle = side // 2
    ImageDraw.Draw(image).ellipse(
        [middle - pen // 2, middle - pen // 2, middle + pen // 2, middle + pen // 2],
        fill=(17, 17, 17, 255),
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(("path", "extra"), IMAGE_ENDPOINTS)
def test_ink_too_small_to_read_is_422_not_a_confident_guess(
    quiet_app, quiet, mnist_sample, path, extra
):
    tiny_digit = render_canvas_png(mnist_sample["x_test"][0], digit_height=14)
    for png in (dot_png(), tiny_digit):
        answer = quiet.post(path, json={"image": data_url(png), **extra})
        assert_error(answer, 422, "ink_too_small")
        assert "larger" in answer.get_json()["error"]["message"]
    assert_untouched(quiet_app)
    # A small but readable digit (a fifth of the pad) is still read.
    readable = render_canvas_png(mnist_sample["x_test"][0], digit_height=60)
    assert quiet.post(path, json={"image": data_url(readable), **extra}).status_code == 202
