"""Prediction records: the one copy of each prediction's drawing and outcome, in Redis.

Web writes a record per accepted prediction (a hash with a TTL) before the job is sent;
the predict worker writes the outcome into it and publishes the outcomes of a whole
batch in one round trip (``deliver``). No Celery result is stored for predictions: the
record is the only state, so no record means 404, never an endless "queued".

Outcomes are published on the reply channel of the web process that sent the batch,
and on the channel of any other web process waiting on one of its predictions
(``watch``), so each waiting process hears only about its own predictions.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import redis

from shared import metrics

#: The record's fields: when it was accepted; the 28x28 images the models read (the whole
#: canvas, then each digit when there are several); each digit's box on the canvas (JSON);
#: and the outcome once known.
CREATED_AT, PIXELS, BOXES, OUTCOME = "created_at", "pixels", "boxes", "outcome"

_ID_CHARS = frozenset("0123456789abcdef")

# KEYS: the record and the watcher-set key of each prediction, in pairs; then, when
# there are counts, the workers' metrics hash.
# ARGV[1]: the sender's reply channel; ARGV[2]: the batch's outcomes as one JSON object
# (the payload for the sender); ARGV[2 + i]: the outcome JSON of the i-th prediction;
# then field, increment pairs for the metrics hash.
# A record that expired or was withdrawn (its job failed to send) is not recreated.
_DELIVER = """
local delivered = 0
local jobs = math.floor(#KEYS / 2)
for i = 1, 2 * jobs, 2 do
  local record, watchers = KEYS[i], KEYS[i + 1]
  local outcome = ARGV[2 + (i + 1) / 2]
  if redis.call('EXISTS', record) == 1 then
    redis.call('HSET', record, 'outcome', outcome)
    delivered = delivered + 1
    local id = string.match(record, '[^:]+$')
    for _, channel in ipairs(redis.call('SMEMBERS', watchers)) do
      redis.call('PUBLISH', channel, '{"' .. id .. '":' .. outcome .. '}')
    end
  end
end
redis.call('PUBLISH', ARGV[1], ARGV[2])
if #KEYS > 2 * jobs then
  for j = 3 + jobs, #ARGV, 2 do
    redis.call('HINCRBY', KEYS[#KEYS], ARGV[j], ARGV[j + 1])
  end
end
return delivered
"""


def is_job_id(text: str) -> bool:
    """Ids are 32 lowercase hex characters (uuid4().hex); anything else names no record."""
    return len(text) == 32 and _ID_CHARS.issuperset(text)


def record_key(job_id: str) -> str:
    return f"digits:prediction:{job_id}"


def watchers_key(job_id: str) -> str:
    return f"digits:prediction:{job_id}:watchers"


def create(client: redis.Redis, records: Mapping[str, Mapping[str, str]], ttl: int) -> None:
    """Write one record per job id (its fields: PIXELS, BOXES) in one round trip."""
    created_at = repr(time.time())
    pipe = client.pipeline(transaction=False)
    for job_id, fields in records.items():
        key = record_key(job_id)
        mapping = {CREATED_AT: created_at, **fields}
        pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
        pipe.expire(key, ttl)
    pipe.execute()


def withdraw(client: redis.Redis, job_ids: list[str]) -> None:
    """Delete the records of jobs that were never sent: the client got an error for them."""
    if job_ids:
        client.delete(*(record_key(job_id) for job_id in job_ids))


def read(client: redis.Redis, job_id: str) -> dict[str, str] | None:
    """The record as text fields, or None if there is none (never issued, or expired)."""
    raw: dict[bytes, bytes] = client.hgetall(record_key(job_id))  # type: ignore[assignment]
    if not raw or CREATED_AT.encode() not in raw:
        return None
    return {k.decode(): v.decode() for k, v in raw.items()}


def watch(client: redis.Redis, job_id: str, channel: str, seconds: float) -> None:
    """Ask for ``job_id``'s outcome on ``channel`` too, for a process that did not send it."""
    pipe = client.pipeline(transaction=False)
    pipe.sadd(watchers_key(job_id), channel)
    pipe.expire(watchers_key(job_id), max(1, int(seconds) + 1))
    pipe.execute()


def deliver(
    client: redis.Redis,
    reply_to: str,
    outcomes: Mapping[str, dict[str, Any]],
    counts: Mapping[str, int] | None = None,
) -> int:
    """Store each outcome in its record and publish them all; one round trip per batch.

    ``counts`` (field -> increment) go into the workers' metrics hash in the same round
    trip (``shared.metrics``). Returns how many records were still there to receive their
    outcome.
    """
    if not outcomes:
        return 0
    keys: list[str] = []
    for job_id in outcomes:
        keys += [record_key(job_id), watchers_key(job_id)]
    texts = [json.dumps(outcome, separators=(",", ":")) for outcome in outcomes.values()]
    payload = "{" + ",".join(f'"{i}":{t}' for i, t in zip(outcomes, texts, strict=True)) + "}"
    increments: list[str | int] = []
    if counts:
        keys.append(metrics.KEY)
        for field, amount in counts.items():
            increments += [field, int(amount)]
    script = client.register_script(_DELIVER)  # EVALSHA: the script's text travels once
    delivered: int = script(keys=keys, args=[reply_to, payload, *texts, *increments])
    return delivered
