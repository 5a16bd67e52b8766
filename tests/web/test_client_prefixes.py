"""Many addresses, one sender (issue 36, item 6), through the real stack: gunicorn web
behind one trusted proxy (TRUSTED_PROXY_HOPS=1), a samples worker, SeaweedFS S3 and a
valkey of its own.

- The addresses of one IPv6 /64 are one client: one id, so the per-client cap holds.
- Ids with one or two samples (forged X-Forwarded-For, fresh addresses) stay out of the
  people holdout the gate judges by.
- Requests that reach web without the proxy's entry are warned of, at start and on /healthz.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import numpy as np
import pytest

from shared.dataset import samples
from shared.imaging import render_canvas_png
from shared.storage import Store, open_store
from tests import processes
from tests.helpers import BUCKET, data_url, stack
from tests.processes import wait_for
from worker.trainer import user_samples

#: The round's cap on one anonymous client's samples, small so a flood meets it.
CAP = 10
FLOOD = 40
#: Honest people (three drawings each) and one-off ids (one drawing each).
PEOPLE, ONE_OFFS = 8, 40


@dataclass
class Stack:
    url: str
    store: Store
    web_log: str


@pytest.fixture(scope="module")
def proxied(
    tmp_path_factory: pytest.TempPathFactory, seaweedfs: processes.Service
) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("client-prefixes")
    valkey = processes.start_valkey(work / "valkey")
    started = [valkey]
    try:
        env = stack(valkey.url, f"s3://{BUCKET}/prefixes-{uuid.uuid4().hex[:8]}", seaweedfs.url)
        env.update(TRUSTED_PROXY_HOPS="1", CLIENT_ID_SECRET="a fixed secret, fixed ids",
                   RATE_LIMITS_ENABLED="true", RATE_LIMIT="100000 per minute",
                   READ_RATE_LIMIT="100000 per minute", WEB_CONCURRENCY="1",
                   MAX_DECODES="8")  # fmt: skip
        started.append(processes.start_celery_worker(
            env, "predict,samples", work / "worker.log", "worker", concurrency=2,
            redis_url=valkey.url, pool="threads", timeout=90,
        ))  # fmt: skip
        web = processes.start_web(env, work / "web.log")
        started.append(web)
        yield Stack(web.url, open_store(env["STORAGE_URL"], seaweedfs.url), str(web.log))
    finally:
        for service in reversed(started):
            service.stop()


def post_samples(
    proxied: Stack, drawings: list[tuple[np.ndarray, int]], addresses: list[str]
) -> list[str]:
    """Each drawing from its address, as the trusted proxy forwards it; stored before return."""

    def post(item: tuple[tuple[np.ndarray, int], str]) -> str:
        (digit, label), address = item
        with httpx.Client(base_url=proxied.url, timeout=30) as http:
            answer = http.post(
                "/api/samples",
                json={"image": data_url(render_canvas_png(digit)), "label": label},
                headers={"X-Forwarded-For": address},
            )
        assert answer.status_code == 202, answer.text
        return str(answer.json()["id"])

    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(post, zip(drawings, addresses, strict=True)))
    store = proxied.store
    wait_for(lambda: all(store.exists(samples.meta_key(i)) for i in ids), 120, "samples stored")
    return ids


def client_of(store: Store, sample_id: str) -> str:
    return str(samples.read_meta(store, sample_id)["client"])


def drawings(mnist_sample: dict[str, np.ndarray], start: int, count: int) -> list:
    x, y = mnist_sample["x_train"], mnist_sample["y_train"]
    return [(x[i % len(x)], int(y[i % len(y)])) for i in range(start, start + count)]


def test_the_addresses_of_one_ipv6_64_are_one_client(proxied, mnist_sample):
    addresses = [
        "2001:db8:aa:1::1", "2001:db8:aa:1:ffff:ffff:ffff:fffe",  # one /64
        "2001:db8:aa:2::1",  # the next /64
        "198.51.100.7", "::ffff:198.51.100.7",  # one IPv4 address, written two ways
        "198.51.100.8",  # the next IPv4 address: another client (a /32 each)
    ]  # fmt: skip
    ids = post_samples(proxied, drawings(mnist_sample, 0, len(addresses)), addresses)
    first, same, other, four, mapped, next_four = (client_of(proxied.store, i) for i in ids)
    assert first == same != other
    assert four == mapped != next_four
    assert len({first, other, four, next_four}) == 4


def test_a_flood_meets_the_cap_and_one_off_ids_stay_out_of_the_holdout(
    proxied, mnist_sample, monkeypatch
):
    flood = post_samples(proxied, drawings(mnist_sample, 100, FLOOD),
                         [f"2001:db8:f100:d::{i:x}" for i in range(1, FLOOD + 1)])  # fmt: skip
    people = post_samples(proxied, drawings(mnist_sample, 200, 3 * PEOPLE),
                          [f"203.0.113.{i % PEOPLE + 1}" for i in range(3 * PEOPLE)])  # fmt: skip
    one_offs = post_samples(proxied, drawings(mnist_sample, 300, ONE_OFFS),
                            [f"192.0.2.{i + 1}" for i in range(ONE_OFFS)])  # fmt: skip
    store = proxied.store
    clients = {i: client_of(store, i) for i in flood + people + one_offs}

    def held_side(sample_id: str) -> bool:  # the client's side when whole people are held out
        return user_samples.is_holdout(sample_id, clients[sample_id], by_people=True)

    # Premises (fixed ids, from CLIENT_ID_SECRET): both sides have people and one-off ids,
    # and the flood is on the trained side, where the cap applies.
    assert {held_side(i) for i in people} == {True, False}
    assert any(held_side(i) for i in one_offs)
    assert not held_side(flood[0])

    monkeypatch.setattr(user_samples, "MAX_PER_CLIENT", CAP)
    round_ = user_samples.load_user_samples(store)
    used, held = set(round_.used_ids), set(round_.holdout_ids)
    assert round_.holdout_by == "people"
    # The flood from one /64 is one client: the cap holds it to CAP samples a round.
    assert len({clients[i] for i in flood}) == 1
    assert len(used & set(flood)) == CAP and round_.capped >= FLOOD - CAP
    # One-off ids judge nothing: none in the holdout; those on its side are not trained on.
    assert not held & set(one_offs)
    assert not used & {i for i in one_offs if held_side(i)}
    # People on the holdout's side are held out whole, the others trained on.
    assert {i for i in people if held_side(i)} <= held
    assert {i for i in people if not held_side(i)} <= used


def test_requests_past_the_proxy_are_warned_of_at_start_and_on_healthz(proxied):
    with open(proxied.web_log) as log:
        assert "TRUSTED_PROXY_HOPS=1" in log.read()
    through_proxy = {"X-Forwarded-For": "198.51.100.200"}
    with httpx.Client(base_url=proxied.url, timeout=30) as http:
        # Every request so far came through the "proxy" (the probes of /healthz aside).
        assert http.get("/healthz", headers=through_proxy).json()["checks"]["proxy"] == "ok"
        assert http.get("/about").status_code == 200  # straight to gunicorn: no entry
        checks = http.get("/healthz", headers=through_proxy).json()["checks"]
        assert checks["proxy"].startswith("warning: 1 request"), checks
    with open(proxied.web_log) as log:
        assert "reached web without the trusted proxy" in log.read()
