"""Hardening (issue 19): forwarded addresses, costly reads, samples the store refused,
private drawings. Each test plays the attack or the outage against real services."""

from __future__ import annotations

import hashlib
import uuid

import pytest
import redis

from shared.dataset import moderation_records, sample_backlog, sample_index, samples
from shared.dataset.training_set import trainable
from shared.errors import NotFound
from shared.imaging import render_canvas_png
from tests import processes
from tests.helpers import ADMIN, BUCKET, data_url, predict, stack, web
from tests.processes import free_port, wait_for
from web import health
from web.client_ids import client_id_of


def make_app(stack_env: dict[str, str], **env: str):
    from web import create_app

    return create_app({"TESTING": True, "SETTINGS_ENV": dict(stack_env, **env)})


def peer() -> dict[str, dict[str, str]]:
    """A socket address of its own, so no other test's counters are shared."""
    return {"environ_base": {"REMOTE_ADDR": f"192.0.2.{free_port() % 250 + 1}"}}


# -- 1. forwarded addresses -------------------------------------------------------------------


def test_forged_forwarded_addresses_do_not_escape_the_rate_limit(stack_env):
    app = make_app(stack_env, TRUSTED_PROXY_HOPS="0", RATE_LIMITS_ENABLED="true",
                   RATE_LIMIT="3 per minute")  # fmt: skip
    client, me = app.test_client(), peer()
    bad = {"image": "data:image/png;base64,!!!"}
    codes = [
        client.post(
            "/api/predictions", json=bad, headers={"X-Forwarded-For": f"10.9.{i}.1"}, **me
        ).status_code
        for i in range(5)
    ]
    assert codes == [400, 400, 400, 429, 429]


@pytest.mark.usefixtures("predict_worker")
def test_the_client_id_is_the_trusted_address_under_an_hmac(stack_env, mnist_sample):
    png = data_url(render_canvas_png(mnist_sample["x_test"][0]))
    direct = make_app(stack_env, TRUSTED_PROXY_HOPS="0")
    behind = make_app(stack_env, TRUSTED_PROXY_HOPS="1")
    forged = {"X-Forwarded-For": "6.6.6.6, 198.51.100.23"}  # a client's lie, then the proxy's
    ids = []
    for app, headers in [(direct, {"X-Forwarded-For": "6.6.6.6"}), (direct, {}), (behind, forged)]:
        answer = app.test_client().post(
            "/api/samples", json={"image": png, "label": 1}, headers=headers,
            environ_base={"REMOTE_ADDR": "192.0.2.200"},
        )  # fmt: skip
        assert answer.status_code == 202
        ids.append(answer.get_json()["id"])
    store = direct.extensions["digits"].store
    wait_for(lambda: all(store.exists(samples.meta_key(i)) for i in ids), 60, "samples stored")
    clients = [samples.read_meta(store, i)["client"] for i in ids]
    services = direct.extensions["digits"]
    # No trusted proxy: the header is ignored, the peer is the client.
    assert clients[0] == clients[1] == client_id_of(services, "192.0.2.200")
    # One trusted hop: the address the proxy appended, not the one the client wrote.
    assert clients[2] == client_id_of(services, "198.51.100.23")
    # An HMAC with a secret, not a bare hash anyone could reverse over 2^32 addresses.
    assert clients[0] != hashlib.sha256(b"digits-client:192.0.2.200").hexdigest()[:16]
    other = make_app(stack_env, CLIENT_ID_SECRET="another secret").extensions["digits"]
    assert client_id_of(other, "192.0.2.200") != clients[0]
    again = make_app(stack_env).extensions["digits"]  # a new process: the same kept secret
    assert client_id_of(again, "192.0.2.200") == clients[0]


# -- 3. costly reads --------------------------------------------------------------------------


def test_costly_reads_are_rate_limited_per_client(stack_env):
    app = make_app(stack_env, RATE_LIMITS_ENABLED="true", READ_RATE_LIMIT="2 per minute")
    client = app.test_client()
    for path in ["/api/stats", "/healthz", "/api/models", "/api/samples/counts"]:
        me = peer()
        codes = [client.get(path, **me).status_code for _ in range(3)]
        assert codes[2] == 429 and 429 not in codes[:2], (path, codes)


@pytest.mark.usefixtures("predict_worker")
def test_stats_never_wait_for_a_worker_ping(client, app):
    services = app.extensions["digits"]
    services.redis.delete(health.WORKERS_KEY, health.PINGING_KEY)
    first = client.get("/api/stats").get_json()
    assert first["workers"] == []  # answered at once; the ping runs in the background
    later = wait_for(lambda: client.get("/api/stats").get_json()["workers"], 10, "ping answer")
    assert later


# -- 6. a sample is never lost once accepted -------------------------------------------------


def test_a_sample_the_store_refuses_waits_in_the_backlog_until_it_is_back(
    own_valkey, own_s3, workers, mnist_sample, tmp_path
):
    env = stack(own_valkey.url, f"s3://{BUCKET}/backlog", own_s3.url)
    app = web(env)
    client = app.test_client()
    workers.start(env, "samples", "saver")
    png = data_url(render_canvas_png(mnist_sample["x_test"][1]))
    own_s3.stop()  # the store is gone (refused connections), for as long as it takes
    answer = client.post("/api/samples", json={"image": png, "label": 2})
    assert answer.status_code == 202
    sample_id = answer.get_json()["id"]
    broker = redis.Redis.from_url(own_valkey.url)
    wait_for(lambda: sample_backlog.waiting(broker) == 1, 90, "the sample parked")
    assert broker.ttl(sample_backlog.BACKLOG_KEY) == -1  # no expiry
    health.STORE_CHECK_SECONDS = 0.0
    try:
        down = client.get("/healthz")
        assert down.status_code == 503
        checks = down.get_json()["checks"]
        assert checks["store"].startswith("down") and checks["samples_waiting"] == 1
        restarted = processes.start_seaweedfs(tmp_path / "weed", BUCKET, own_s3.extra)
        own_s3.proc = restarted.proc  # the fixture stops whichever runs now
        store = app.extensions["digits"].store
        wait_for(lambda: store.exists(samples.meta_key(sample_id)), 90, "stored after the outage")
        wait_for(lambda: sample_backlog.waiting(broker) == 0, 30, "the backlog drained")
        assert sample_index.read(broker, sample_id)["label"] == 2  # indexed before it left
        # The store is back (only a saver runs, no predict worker: /healthz stays 503).
        checks = wait_for(
            lambda: (c := client.get("/healthz").get_json()["checks"])["store"] == "ok" and c,
            30,
            "the store up",
        )
        assert checks["samples_waiting"] == 0 and checks["samples"] == "ok"
    finally:
        health.STORE_CHECK_SECONDS = 5.0


# -- 7. privacy -------------------------------------------------------------------------------


def test_the_gallery_is_for_admins_unless_made_public(stack_env):
    private = make_app(stack_env, PUBLIC_GALLERY="false").test_client()
    refused = private.get("/api/samples")
    assert refused.status_code == 401
    assert refused.get_json()["error"]["code"] == "private_gallery"
    assert private.get("/api/samples", headers=ADMIN).status_code == 200
    assert private.get("/api/samples/counts").status_code == 200  # numbers, no drawings
    public = make_app(stack_env, PUBLIC_GALLERY="true").test_client()
    assert public.get("/api/samples").status_code == 200


@pytest.mark.usefixtures("predict_worker")
def test_the_person_who_sent_a_sample_can_delete_it_with_its_secret(client, app, mnist_sample):
    png = data_url(render_canvas_png(mnist_sample["x_test"][2]))
    sent = client.post("/api/samples", json={"image": png, "label": 1}).get_json()
    done = predict(client, mnist_sample["x_test"][3])
    feedback = client.post(
        f"/api/predictions/{done['id']}/feedback", json={"label": 0, "consent": True}
    ).get_json()
    assert [d["id"] for d in feedback["deletions"]] == [done["id"]]
    owned = [
        (sent["id"], sent["delete_token"]),
        (done["id"], feedback["deletions"][0]["delete_token"]),
    ]
    store = app.extensions["digits"].store
    wait_for(lambda: all(store.exists(samples.meta_key(i)) for i, _ in owned), 60, "stored")
    assert all(
        "delete_token_sha256" not in e for e in client.get("/api/samples").get_json()["samples"]
    )

    for sample_id, token in owned:
        wrong = client.delete(f"/api/samples/{sample_id}", headers={"X-Delete-Token": "guess"})
        assert (
            wrong.status_code == 403 and wrong.get_json()["error"]["code"] == "wrong_delete_token"
        )
        assert client.delete(f"/api/samples/{sample_id}").status_code == 401
        gone = client.delete(f"/api/samples/{sample_id}", headers={"X-Delete-Token": token})
        assert gone.status_code == 200 and gone.get_json()["deleted"] is True
        assert not store.exists(samples.meta_key(sample_id))
        assert not store.exists(samples.image_key(sample_id))
        with pytest.raises(NotFound):
            sample_index.read(app.extensions["digits"].redis, sample_id)
        trained = trainable(store, app.extensions["digits"].redis)
        assert sample_id not in {sample.id for sample in trained}
        record = moderation_records.read_record(store, sample_id)
        assert (
            record["state"] == "deleted" and "person who sent it" in record["actions"][-1]["reason"]
        )
    unknown = client.delete(f"/api/samples/{uuid.uuid4().hex}", headers={"X-Delete-Token": "x"})
    assert unknown.status_code == 409
