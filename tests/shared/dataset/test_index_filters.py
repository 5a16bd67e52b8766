"""Every filter of the samples listing is one sorted set: a page walks nothing, writes nothing.

Issue 36, item 13: a version filter (and collector + label, and hidden + anything) walked
the whole index and wrote a snapshot set per request, which anyone could ask for with
``PUBLIC_GALLERY=true``. Through the real stack: web (in-process) on a valkey of its own,
so that the server's counters are this test's alone, and samples in the S3 server.
"""

from __future__ import annotations

import json
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import product
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pytest
import redis
from flask.testing import FlaskClient

from shared.dataset import moderation_records, sample_index, samples
from shared.storage import Store
from tests import processes
from tests.helpers import ADMIN, BUCKET, keys_written, stack, web
from tests.processes import wait_for

START = datetime(2026, 11, 1, tzinfo=UTC)
#: A time window as the API takes it (``to`` exclusive): minutes 100 to 499 of the seeds.
WINDOW = {"from": "2026-11-01T01:40:00Z", "to": "2026-11-01T08:20:00Z"}
#: As behind the trusted proxy (one hop): web then records nothing about how it was reached.
PROXIED = {"X-Forwarded-For": "203.0.113.7"}
#: The values each filter is tried with ("" is any); every combination is asked for.
GRID = {
    "label": ("", "3", "none"),
    "source": ("", "collect", "feedback"),
    "collector": ("", "ada", "bob"),
    "version": ("", "cnn:2", "fnn:1"),
    "window": (False, True),
    "view": ("public", "hidden"),  # the hidden ones are an admin's (?hidden=1)
}


@dataclass(frozen=True)
class Query:
    label: str = ""
    source: str = ""
    collector: str = ""
    version: str = ""
    window: bool = False
    view: str = "public"  # "public" (no token), "admin" (token), "hidden" (token, hidden=1)

    def params(self) -> dict[str, str]:
        chosen = {k: v for k, v in self.__dict__.items() if k not in {"window", "view"} and v}
        if self.window:
            chosen.update(WINDOW)
        if self.view == "hidden":
            chosen["hidden"] = "1"
        return chosen

    def headers(self) -> dict[str, str]:
        return {**PROXIED, **(ADMIN if self.view != "public" else {})}

    def matches(self, sample: dict[str, Any]) -> bool:
        """The brute force: what the API must list, one sample at a time."""
        model, _, number = self.version.partition(":")
        low, high = (datetime.fromisoformat(WINDOW[k]).timestamp() for k in ("from", "to"))
        return (
            sample["hidden"] == (self.view == "hidden")
            and self.label in ("", sample_index.label_name(sample["label"]))
            and self.source in ("", sample["source"])
            and self.collector in ("", sample.get("collector"))
            and (not model or sample.get("versions", {}).get(model) == int(number))
            and (not self.window or low <= sample["at"] < high)
        )


def grid() -> list[Query]:
    return [Query(*values) for values in product(*GRID.values())]


def expected(model: dict[str, dict[str, Any]], query: Query) -> list[str]:
    """Ids the query must list, newest first."""
    found = [s for s in model.values() if query.matches(s)]
    return [s["id"] for s in sorted(found, key=lambda s: (s["at"], s["id"]), reverse=True)]


def meta_of(i: int) -> dict[str, Any]:
    """Sample number ``i``: labels, sources, collectors, versions and hiding interleaved."""
    label = None if i % 11 == 10 else i % 11
    feedback = i % 3 == 0
    predictions = {
        "fnn": {"digit": label, "version": 1 + (i // 3) % 2},
        "cnn": {"digit": label, "version": 1 + (i // 3) % 3},
    }
    collector = "ada" if i % 5 == 0 else "bob" if i % 7 == 0 else None
    meta = samples.new_meta(
        label, "feedback" if feedback else "collect", f"client-{i % 9}",
        predictions=predictions if feedback else None, collector=collector,
    )  # fmt: skip
    meta["created_at"] = (START + timedelta(minutes=i)).isoformat()
    if i % 13 == 6:
        meta["hidden"] = True
    return meta


def seed(store: Store, client: redis.Redis, first: int, count: int) -> dict[str, dict]:
    """Samples ``first`` .. ``first+count-1`` written to S3 and indexed as the samples worker
    does (hidden ones with their moderation record); the model the brute force reads."""
    rng = np.random.default_rng(first)
    pixels = rng.integers(0, 255, (count, 28, 28), dtype=np.uint8)

    def write(i: int) -> tuple[str, dict[str, Any]]:
        sample_id, meta = uuid.UUID(int=(i + 1) << 64 | 0xD161).hex, meta_of(i)
        samples.write_sample(store, sample_id, pixels[i - first], meta)
        if meta.get("hidden"):
            moderation_records.record(store, sample_id, "hide", "seeded hidden")
        sample_index.add(client, sample_id, meta)
        return sample_id, meta

    with ThreadPoolExecutor(8) as pool:  # boto3 keeps 10 connections
        written = list(pool.map(write, range(first, first + count)))
    return {
        sample_id: {
            **sample_index.entry(meta),
            "id": sample_id,
            "hidden": bool(meta.get("hidden")),
            "at": datetime.fromisoformat(meta["created_at"]).timestamp(),
        }
        for sample_id, meta in written
    }


def listed(client: FlaskClient, query: Query, limit: int = 200) -> tuple[int, list[str]]:
    """Every page of the query, ``limit`` at a time: the total it states and the ids."""
    ids: list[str] = []
    offset, total = 0, None
    while total is None or offset < total:
        params = {**query.params(), "limit": limit, "offset": offset}
        answer = client.get(f"/api/samples?{urlencode(params)}", headers=query.headers())
        assert answer.status_code == 200, (query, answer.get_json())
        page = answer.get_json()
        assert total is None or page["total"] == total, query  # nothing changed meanwhile
        total = page["total"]
        ids += [s["id"] for s in page["samples"]]
        offset += limit
    return int(total), ids


def assert_lists(client: FlaskClient, model: dict[str, dict], queries: list[Query]) -> None:
    wrong = []
    for query in queries:
        want = expected(model, query)
        total, ids = listed(client, query)
        if (total, ids) != (len(want), want):
            wrong.append((query, total, len(want)))
    assert wrong == [], f"{len(wrong)} of {len(queries)} filters list wrongly: {wrong[:5]}"


def redis_cost(
    client: FlaskClient, counter: redis.Redis, query: Query, repeats: int = 3
) -> dict[str, int]:
    """Redis commands, reply bytes and writes of one GET of a page (the least commands
    and bytes of ``repeats``, the most writes); the valkey serves this test alone."""
    url = f"/api/samples?{urlencode({**query.params(), 'limit': 10})}"
    assert client.get(url, headers=query.headers()).status_code == 200  # connections made
    keys = keys_written(counter)
    costs = []
    for _ in range(repeats):
        before = counter.info("stats")
        dirty = counter.info("persistence")["rdb_changes_since_last_save"]
        assert client.get(url, headers=query.headers()).status_code == 200
        written = counter.info("persistence")["rdb_changes_since_last_save"] - dirty
        after = counter.info("stats")
        costs.append({
            # Less the three INFO from the first count to the last.
            "commands": after["total_commands_processed"] - before["total_commands_processed"] - 3,
            "bytes": after["total_net_output_bytes"] - before["total_net_output_bytes"],
            "writes": written,
        })  # fmt: skip
    assert keys_written(counter) == keys, query
    return {
        "commands": min(c["commands"] for c in costs),
        "bytes": min(c["bytes"] for c in costs),
        "writes": max(c["writes"] for c in costs),
    }


#: Filters a page used to walk the index for, measured at two sizes of the index.
COSTLY = (
    Query(version="cnn:2"),
    Query(collector="ada", label="3"),
    Query(source="feedback", collector="ada", version="fnn:1", window=True),
    Query(view="hidden", label="none"),
    Query(view="hidden", version="cnn:1"),
)


@dataclass
class Gallery:
    env: dict[str, str]
    client: FlaskClient
    redis: redis.Redis
    store: Store


@pytest.fixture()
def gallery(own_valkey: processes.Service, seaweedfs: processes.Service) -> Gallery:
    """A public gallery: web on its own valkey, samples under a prefix of their own in S3."""
    prefix = f"index-filters-{uuid.uuid4().hex[:8]}"
    env = stack(
        own_valkey.url, f"s3://{BUCKET}/{prefix}", seaweedfs.url,
        PUBLIC_GALLERY="true", TRUSTED_PROXY_HOPS="1",
    )  # fmt: skip
    app = web(env)
    services = app.extensions["digits"]
    return Gallery(env, app.test_client(), services.redis, services.store)


def test_every_filter_is_one_set_read_without_a_write(gallery: Gallery, workers) -> None:
    model = seed(gallery.store, gallery.redis, 0, 200)
    # (b) A filtered page writes nothing, and its Redis work does not grow with the index.
    small = {query: redis_cost(gallery.client, gallery.redis, query) for query in COSTLY}
    model |= seed(gallery.store, gallery.redis, 200, 600)
    large = {query: redis_cost(gallery.client, gallery.redis, query) for query in COSTLY}
    for query in COSTLY:
        assert small[query]["writes"] == large[query]["writes"] == 0, (query, small, large)
        assert large[query]["commands"] <= min(small[query]["commands"], 8), (query, small, large)
        # A page of 10 entries is a few KB; the old walk read every entry it checked.
        assert large[query]["bytes"] <= small[query]["bytes"] + 4096, (query, small, large)
    # (a) Every combination the API accepts lists what a brute force finds, page by page.
    assert_every_filter(gallery.client, model)
    # (c) Hiding, showing again and deleting move the sample in every filtered page.
    assert_moderation_moves(gallery.client, model)
    # (d) The first worker to start rebuilds an index of the older layout: the same pages.
    assert_rebuilt_from_an_older_layout(gallery, workers, model)


def assert_every_filter(client: FlaskClient, model: dict[str, dict]) -> None:
    assert_lists(client, model, grid())
    admin = [Query(*v, view="admin") for v in product(*list(GRID.values())[:4])]
    assert_lists(client, model, admin[::4])  # an admin's visible pages are the public's
    for query in (Query(), Query(version="cnn:2"), Query(view="hidden"), Query(collector="ada")):
        total, ids = listed(client, query, limit=7)
        assert (total, ids) == (len(expected(model, query)), expected(model, query)), query
        far = client.get(f"/api/samples?{urlencode({**query.params(), 'offset': total})}",
                         headers=query.headers()).get_json()  # fmt: skip
        assert (far["total"], far["samples"]) == (total, [])
    assert client.get("/api/samples?hidden=1&version=cnn:2", headers=PROXIED).status_code == 400


def assert_moderation_moves(client: FlaskClient, model: dict[str, dict]) -> None:
    """A sample of a collector, with versions, hidden, shown and deleted through the API."""
    chosen = next(
        s for s in model.values()
        if s.get("collector") and s.get("versions") and s["label"] is not None and not s["hidden"]
    )  # fmt: skip
    around = [
        Query(label, source, collector, version, view=view)
        for label, source, collector, version, view in product(
            ("", str(chosen["label"])), ("", chosen["source"]), ("", chosen["collector"]),
            ("", f"cnn:{chosen['versions']['cnn']}"), ("public", "hidden"),
        )
    ]  # fmt: skip
    admin = {**ADMIN, **PROXIED}
    for hidden in (True, False):
        answer = client.patch(
            f"/api/samples/{chosen['id']}", json={"hidden": hidden}, headers=admin
        )
        assert answer.status_code == 200
        chosen["hidden"] = hidden
        assert_lists(client, model, around)
    assert client.delete(f"/api/samples/{chosen['id']}", headers=admin).status_code == 200
    del model[chosen["id"]]
    assert_lists(client, model, around)


#: The sets of the layout before this one: no version, no combination with a collector, and
#: hidden samples in ``hidden`` alone.
OLDER_LAYOUT = re.compile(
    rb"digits:index:z:(all|hidden|collector:[^|]+|label:[^|]+|source:[^|]+|label:[^|]+\|source:[^|]+)"
)


def assert_rebuilt_from_an_older_layout(gallery: Gallery, workers, model: dict[str, dict]) -> None:
    counter = gallery.redis
    newer = [k for k in counter.scan_iter("digits:index:z:*") if not OLDER_LAYOUT.fullmatch(k)]
    counter.delete(*newer)
    counter.set(sample_index.BUILT_KEY, json.dumps({"at": 0, "samples": len(model) + 1}))
    assert not sample_index.is_built(counter)
    assert listed(gallery.client, Query(version="cnn:2"))[0] == 0  # what that layout lacks
    workers.start(gallery.env, "samples", "indexer")
    wait_for(lambda: sample_index.is_built(counter), 60, "the index rebuilt at start-up")
    assert counter.hlen(sample_index.META_KEY) == len(model)
    assert_lists(gallery.client, model, grid())
