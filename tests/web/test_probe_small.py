"""The second probe's smaller findings (issue 36, items 5, 10 and 12), each through the real
stack: valkey, SeaweedFS S3, Celery worker processes and gunicorn web, no mocks.

5. ``/healthz`` needs a predict worker, and keeps the last known state past a quiet spell.
10. A huge ``strokes`` number and a huge ``Prefer: wait`` are answered, not a 500.
12. Wrong tokens from an address the admin shares do not lock the admin out, and
    ``Retry-After`` comes only with a refusal.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from shared import names
from shared.imaging import render_canvas_png
from tests import processes
from tests.helpers import ADMIN_TOKEN, BUCKET, data_url
from tests.processes import wait_for
from web import health

#: ADMIN_FAILURE_LIMIT on this module's web: 3 wrong tokens a 30 s window, so once they
#: are used up one token is checked every 10 s.
FAILURES, WINDOW = 3, 30
CHECK_INTERVAL = WINDOW // FAILURES
#: Longer than the 60 s a ping's answer used to live in Redis.
QUIET = 61
_addresses = itertools.count(1)


def fresh_address() -> str:
    """A client of its own (its own /16: rate limits may key an address by its prefix)."""
    return f"10.{next(_addresses)}.0.1"


def client(address: str, token: str | None = None, **extra: str) -> dict[str, str]:
    """Headers as Heroku's router passes them (TRUSTED_PROXY_HOPS=1), plus a token."""
    headers = {"X-Forwarded-For": address, **extra}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


@pytest.fixture(scope="module")
def web(
    stack_env: dict[str, str], predict_worker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One gunicorn web process with the rate limits on, beside the session's predict worker."""
    env = dict(
        stack_env,
        WEB_CONCURRENCY="1",
        RATE_LIMITS_ENABLED="true",
        RATE_LIMIT="3 per minute",
        ADMIN_FAILURE_LIMIT=f"{FAILURES} per {WINDOW} seconds",
    )
    service = processes.start_web(env, tmp_path_factory.mktemp("probe-web") / "web.log")
    yield service.url
    service.stop()


# -- 5. /healthz needs a predict worker --------------------------------------------------------


@pytest.mark.slow
def test_healthz_is_down_without_an_answering_predict_worker(
    stack_env: dict[str, str], own_valkey: processes.Service, workers, tmp_path
) -> None:
    env = dict(
        stack_env,
        REDIS_URL=own_valkey.url,
        STORAGE_URL=f"s3://{BUCKET}/probe-{uuid.uuid4().hex[:8]}",
        WEB_CONCURRENCY="1",
    )
    web = processes.start_web(env, tmp_path / "web.log")
    try:
        with httpx.Client(base_url=web.url, timeout=10) as http:

            def health() -> tuple[int, dict[str, Any]]:
                answer = http.get("/healthz")
                return answer.status_code, answer.json()["checks"]

            workers.start(env, names.QUEUE_TRAIN, "trainer")
            status, checks = wait_for(
                lambda: (h := health())[1].get("worker_names") == ["trainer"] and h, 60, "trainer"
            )
            # The trainer answers; predictions would all time out: not healthy.
            assert status == 503, checks
            assert checks["workers"] == "down: no predict worker answered (only trainer)"
            assert checks["predict_workers"] == []

            predictor = workers.start(env, "predict,samples", "worker")
            status, checks = wait_for(lambda: (h := health())[0] == 200 and h, 60, "healthy")
            assert checks["workers"] == "ok" and checks["predict_workers"] == ["worker"]
            assert checks["worker_names"] == ["trainer", "worker"]

            os.killpg(predictor.proc.pid, signal.SIGSTOP)  # stopped, as in the probe
            try:
                status, checks = wait_for(lambda: (h := health())[0] == 503 and h, 30, "down")
                assert checks["workers"] == "down: no predict worker answered (only trainer)"
            finally:
                os.killpg(predictor.proc.pid, signal.SIGCONT)
    finally:
        web.stop()


def age_workers_answer(store: redis.Redis, seconds: float) -> None:
    """The stored ping answer as Redis holds it ``seconds`` later: its clock and its TTL
    moved on (gone, if it would have expired), and the ping lock long expired."""
    raw, ttl_ms = store.get(health.WORKERS_KEY), store.pttl(health.WORKERS_KEY)
    assert raw is not None and ttl_ms > 0
    state = json.loads(raw)
    state["at"] -= seconds
    store.delete(health.PINGING_KEY, health.WORKERS_KEY)
    if ttl_ms > seconds * 1000:
        store.set(health.WORKERS_KEY, json.dumps(state), px=int(ttl_ms - seconds * 1000))


def test_after_a_quiet_spell_healthz_answers_the_last_known_state_while_it_pings(
    web: str, stack_env: dict[str, str]
) -> None:
    store = redis.Redis.from_url(stack_env["REDIS_URL"])
    me = client(fresh_address())
    with httpx.Client(base_url=web, timeout=10) as http:

        def checks() -> dict[str, Any]:
            return http.get("/healthz", headers=me).json()["checks"]

        def answer_age() -> float:
            raw = store.get(health.WORKERS_KEY)
            return time.time() - json.loads(raw)["at"] if raw else 99.0

        # Healthy, and a ping has just ended (so none runs now): its answer is under 2 s old.
        wait_for(
            lambda: http.get("/healthz", headers=me).status_code == 200 and answer_age() < 2,
            30,
            "a fresh ping",
            0.25,
        )
        age_workers_answer(store, QUIET)
        first = http.get("/healthz", headers=me)
        assert first.json()["checks"]["workers"] == "ok", first.text  # not "unknown"
        assert first.json()["checks"]["workers_checked_seconds_ago"] >= QUIET
        assert first.status_code == 200, first.text
        assert store.exists(health.PINGING_KEY)  # the new ping runs meanwhile
        wait_for(lambda: answer_age() < 5, 10, "the new ping's answer", 0.25)
        assert checks()["workers_checked_seconds_ago"] < 5


# -- 10. numbers too large to read -------------------------------------------------------------


@pytest.mark.parametrize(
    "number", ["1" + "0" * 309, "-" + "9" * 400, "2" + "0" * 5000], ids=["310", "401", "5001"]
)
def test_a_strokes_number_beyond_any_float_is_a_400(web: str, mnist_sample, number: str) -> None:
    image = data_url(render_canvas_png(mnist_sample["x_test"][0]))
    body = f'{{"image": "{image}", "strokes": [[[3, {number}, 0], [4, 5, 16]]]}}'
    headers = client(fresh_address(), **{"Content-Type": "application/json"})
    answer = httpx.post(f"{web}/api/predictions", content=body, headers=headers, timeout=10)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "invalid_request"


def test_a_prefer_wait_of_thousands_of_digits_is_read_as_delta_seconds(
    web: str, mnist_sample
) -> None:
    image = data_url(render_canvas_png(mnist_sample["x_test"][0]))
    with httpx.Client(base_url=web, timeout=30) as http:
        # More seconds than any integer web holds: the longest wait it grants (10 s).
        huge = http.post(
            "/api/predictions",
            json={"image": image},
            headers=client(fresh_address(), Prefer="wait=" + "9" * 4400),
        )
        assert huge.status_code == 200, huge.text
        assert huge.headers["Preference-Applied"] == "wait=10"
        # Leading zeros are no size: 4,400 of them before a 3 is 3 s.
        zeros = http.post(
            "/api/predictions",
            json={"image": image},
            headers=client(fresh_address(), Prefer="wait=" + "0" * 4400 + "3"),
        )
        assert zeros.status_code in {200, 202}, zeros.text
        if zeros.status_code == 200:
            assert zeros.headers["Preference-Applied"] == "wait=3"


# -- 12. failed admin logins and Retry-After ---------------------------------------------------


def test_a_guesser_at_the_admins_address_does_not_lock_the_admin_out(web: str) -> None:
    office, elsewhere = fresh_address(), fresh_address()
    with httpx.Client(base_url=web, timeout=10) as http:

        def call(token: str, address: str = office) -> httpx.Response:
            return http.get("/api/collectors", headers=client(address, token))

        guesses = [f"guess-{uuid.uuid4().hex}" for _ in range(FAILURES + 2)]
        for guess in guesses[:FAILURES]:
            assert call(guess).status_code == 401
        # The limit is used up, yet the admin behind the same address gets in, again and again.
        assert call(ADMIN_TOKEN).status_code == 200
        assert call(ADMIN_TOKEN).status_code == 200
        # A script repeating its one stale token is not guessing: refused, and nothing more.
        assert call(guesses[0]).status_code == 401
        # A new guess is checked, then the next waits for the next check.
        checked = call(guesses[FAILURES])
        assert checked.status_code == 429
        assert checked.json()["error"]["code"] == "too_many_requests"
        assert 0 < int(checked.headers["Retry-After"]) <= CHECK_INTERVAL
        unheard = call(guesses[FAILURES + 1])
        assert unheard.status_code == 429
        # The admin waits as long, at most: not the 15 minutes of a lock-out.
        waiting = call(ADMIN_TOKEN)
        assert waiting.status_code == 429
        retry_after = int(waiting.headers["Retry-After"])
        assert 0 < retry_after <= CHECK_INTERVAL
        assert call(ADMIN_TOKEN, elsewhere).status_code == 200  # another address: unaffected
        time.sleep(retry_after + 0.5)
        assert call(ADMIN_TOKEN).status_code == 200


def test_retry_after_comes_only_with_a_refusal(web: str) -> None:
    reader, writer = fresh_address(), fresh_address()
    with httpx.Client(base_url=web, timeout=10) as http:
        read = http.get("/api/models", headers=client(reader))
        assert read.status_code == 200 and "X-RateLimit-Remaining" in read.headers
        assert "Retry-After" not in read.headers
        wrong = http.get("/api/collectors", headers=client(reader, "not-the-token"))
        assert wrong.status_code == 401 and "Retry-After" not in wrong.headers
        # RATE_LIMIT is 3 a minute here: three refused bodies, then the limit's 429.
        answers = [
            http.post("/api/predictions", content=b"x", headers=client(writer)) for _ in range(4)
        ]
        assert [a.status_code for a in answers] == [400, 400, 400, 429]
        assert all("Retry-After" not in a.headers for a in answers[:3])
        assert 0 < int(answers[3].headers["Retry-After"]) <= 60
