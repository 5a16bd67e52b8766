"""Prediction records: the one copy of each prediction's drawing and outcome, in Redis.

Web writes a record per accepted prediction (a hash with a TTL) before the job is sent;
the predict worker writes the outcome into it and publishes the outcomes of a whole
batch in one round trip (``deliver``). No Celery result is stored for predictions: the
record is the only state, so no record means 404, never an endless "queued".

Outcomes are published on the reply channel of the web process that sent the batch,
and on the channel of any other web process waiting on one of its predictions
(``watch``), so each waiting process hears only about its own predictions.

A record is bounded (issue 36): its images are kept as zlib-compressed bytes, not base64;
once the outcome is known the worker keeps only the images the answer shows (the whole
canvas and the chosen digits) and zeroes the others; and a record holding more images
than an answer may show (``SHOWN_MOST``) lives only until its job's queue expiry plus
``PENDING_GRACE``, unless the worker compacts it to at most that many.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import zlib
from collections.abc import Mapping, Sequence
from typing import Any, Final, cast

import numpy as np
import redis

from shared import metrics
from shared.imaging import MAX_DIGITS, SIZE
from shared.shapes import PredictionOutcome, PredictionRecord

#: The record's fields: when it was accepted; the 28x28 images the models read (the whole
#: canvas, then each digit when there are several); each digit's box on the canvas (JSON);
#: when the canvas was read from its strokes, the strokes each image was drawn from (JSON,
#: indices into the request's strokes; absent when it was read from its PNG); and the
#: outcome once known (``shared.shapes.PredictionRecord``).
CREATED_AT: Final = "created_at"
PIXELS: Final = "pixels"
BOXES: Final = "boxes"
STROKES: Final = "strokes"
OUTCOME: Final = "outcome"
#: Where the record keeps PIXELS: the raw image bytes under zlib, not base64 (``read``
#: gives PIXELS back): digits are mostly paper, so a few hundred bytes an image, not 1,046.
IMAGES: Final = "images"
#: Most images an answer shows: the whole canvas and the digits of a number.
SHOWN_MOST = 1 + MAX_DIGITS
#: Seconds past the queue expiry that a record of more than SHOWN_MOST images may live:
#: long enough for web to report the job timed out, short enough that drawings of many
#: images cannot fill Redis within the rate limits (``create``'s ``pending_ttl``).
PENDING_GRACE = 30

_ID_CHARS = frozenset("0123456789abcdef")

# KEYS: the record and the watcher-set key of each prediction, in pairs; then, when
# there are counts, the workers' metrics hash.
# ARGV[1]: the sender's reply channel; ARGV[2]: the batch's outcomes as one JSON object
# (the payload for the sender); then per prediction three: its outcome JSON, the images
# to keep ('' leaves them) and the TTL from now ('0' leaves it); then field, increment
# pairs for the metrics hash.
# A record that expired or was withdrawn (its job failed to send) is not recreated.
_DELIVER = """
local delivered = 0
local jobs = math.floor(#KEYS / 2)
for i = 1, jobs do
  local record, watchers = KEYS[2 * i - 1], KEYS[2 * i]
  local outcome, images, ttl = ARGV[3 * i], ARGV[3 * i + 1], tonumber(ARGV[3 * i + 2])
  if redis.call('EXISTS', record) == 1 then
    redis.call('HSET', record, 'outcome', outcome)
    if images ~= '' then
      redis.call('HSET', record, 'images', images)
      redis.call('HDEL', record, 'pixels')
    end
    if ttl > 0 then redis.call('EXPIRE', record, ttl) end
    delivered = delivered + 1
    local id = string.match(record, '[^:]+$')
    for _, channel in ipairs(redis.call('SMEMBERS', watchers)) do
      redis.call('PUBLISH', channel, '{"' .. id .. '":' .. outcome .. '}')
    end
  end
end
redis.call('PUBLISH', ARGV[1], ARGV[2])
if #KEYS > 2 * jobs then
  for j = 3 + 3 * jobs, #ARGV, 2 do
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


def create(
    client: redis.Redis,
    records: Mapping[str, Mapping[str, str]],
    ttl: int,
    pending_ttl: int | None = None,
) -> None:
    """Write one record per job id (its fields: PIXELS, BOXES, maybe STROKES) in one round trip.

    A record of more than SHOWN_MOST images lives ``pending_ttl`` seconds (when given)
    until the worker keeps only those its answer shows (``deliver``).
    """
    created_at = repr(time.time())
    pipe = client.pipeline(transaction=False)
    for job_id, fields in records.items():
        key = record_key(job_id)
        packed, images = _packed(fields)
        mapping: dict[str, Any] = {CREATED_AT: created_at, **packed}
        pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
        short = pending_ttl is not None and images > SHOWN_MOST
        pipe.expire(key, min(ttl, pending_ttl) if short and pending_ttl else ttl)
    pipe.execute()


def _packed(fields: Mapping[str, str]) -> tuple[dict[str, str | bytes], int]:
    """The fields as stored, PIXELS as IMAGES; and how many images they hold.

    Pixels that are not base64 images are kept as sent: the worker answers them an error.
    """
    packed: dict[str, str | bytes] = dict(fields)
    try:
        raw = base64.b64decode(fields[PIXELS], validate=True)
    except (KeyError, binascii.Error, ValueError):
        return packed, 0
    del packed[PIXELS]
    packed[IMAGES] = zlib.compress(raw, 6)
    return packed, len(raw) // (SIZE * SIZE)


def withdraw(client: redis.Redis, job_ids: list[str]) -> None:
    """Delete the records of jobs that were never sent: the client got an error for them."""
    if job_ids:
        client.delete(*(record_key(job_id) for job_id in job_ids))


def read(client: redis.Redis, job_id: str) -> PredictionRecord | None:
    """The record as text fields, PIXELS as base64 again, or None if there is none
    (never issued, or expired)."""
    raw: dict[bytes, bytes] = client.hgetall(record_key(job_id))  # type: ignore[assignment]
    if not raw or CREATED_AT.encode() not in raw:
        return None
    images = raw.pop(IMAGES.encode(), None)
    record = {k.decode(): v.decode() for k, v in raw.items()}
    if images is not None:
        record[PIXELS] = base64.b64encode(zlib.decompress(images)).decode("ascii")
    return cast(PredictionRecord, record)


def watch(client: redis.Redis, job_id: str, channel: str, seconds: float) -> None:
    """Ask for ``job_id``'s outcome on ``channel`` too, for a process that did not send it."""
    pipe = client.pipeline(transaction=False)
    pipe.sadd(watchers_key(job_id), channel)
    pipe.expire(watchers_key(job_id), max(1, int(seconds) + 1))
    pipe.execute()


def compacted(
    jobs: Sequence[Any], outcomes: Mapping[str, PredictionOutcome], ttl: int
) -> dict[str, tuple[bytes, int]]:
    """For ``deliver``: what each answered job's record keeps (``shown_images``).

    ``jobs`` are a predict message's [job id, pixels, readings]; malformed ones have no
    outcome with a result, so they are skipped.
    """
    found = {}
    for job in jobs:
        if not (isinstance(job, list) and len(job) == 3 and isinstance(job[0], str)):
            continue
        result = outcomes.get(job[0], {}).get("result")
        if result is not None:
            kept = shown_images(job[1], result["chosen"], ttl)
            if kept is not None:
                found[job[0]] = kept
    return found


def shown_images(pixels: str, chosen: Sequence[int], ttl: int) -> tuple[bytes, int] | None:
    """What a record keeps once its answer is known, or None to leave it as it is.

    The images the answer shows (the whole canvas, index 0, and the ``chosen`` digits)
    at their indices, the others zeroed, so every index the outcome names still reads;
    and its TTL from now: ``ttl`` when it holds at most SHOWN_MOST images, else 0 (it
    keeps its short one).
    """
    raw = np.frombuffer(base64.b64decode(pixels), dtype=np.uint8)
    images = raw.reshape(-1, SIZE * SIZE)
    shown = sorted({0, *chosen})
    if len(shown) == len(images):
        return None
    kept = np.zeros_like(images)
    kept[shown] = images[shown]
    return zlib.compress(kept.tobytes(), 6), ttl if len(shown) <= SHOWN_MOST else 0


def deliver(
    client: redis.Redis,
    reply_to: str,
    outcomes: Mapping[str, PredictionOutcome],
    counts: Mapping[str, int] | None = None,
    shown: Mapping[str, tuple[bytes, int]] | None = None,
) -> int:
    """Store each outcome in its record and publish them all; one round trip per batch.

    ``counts`` (field -> increment) go into the workers' metrics hash in the same round
    trip (``shared.metrics``); ``shown`` (job id -> ``shown_images``) compacts records.
    Returns how many records were still there to receive their outcome.
    """
    if not outcomes:
        return 0
    keys: list[str] = []
    for job_id in outcomes:
        keys += [record_key(job_id), watchers_key(job_id)]
    texts = [json.dumps(outcome, separators=(",", ":")) for outcome in outcomes.values()]
    payload = "{" + ",".join(f'"{i}":{t}' for i, t in zip(outcomes, texts, strict=True)) + "}"
    per_job: list[str | bytes | int] = []
    for job_id, text in zip(outcomes, texts, strict=True):
        images, ttl = (shown or {}).get(job_id, (b"", 0))
        per_job += [text, images, ttl]
    increments: list[str | int] = []
    if counts:
        keys.append(metrics.KEY)
        for field, amount in counts.items():
            increments += [field, int(amount)]
    script = client.register_script(_DELIVER)  # EVALSHA: the script's text travels once
    delivered: int = script(keys=keys, args=[reply_to, payload, *per_job, *increments])
    return delivered
