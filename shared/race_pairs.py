"""A race's evidence: one pair per label, counted in Redis and kept in the store.

Every consented label that arrives after a challenger was made adds one pair to its race:
which of the champion and the challenger was right. A client (a client id, or a trusted
collector) adds at most ``PAIRS_PER_CLIENT`` pairs. Counts live in Redis; each pair is also
in the store (``challengers/pairs/<name>/<version>/<id>.json``), so a lost Redis is
rebuilt and a redelivered label counts once. What the counts decide is
``shared.race_judge``'s.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import cast

import redis

from shared.shapes import DayPoint, Pair, RaceCounts
from shared.storage import Store

#: Pairs one client (a client id, or a trusted collector) may add to one race: a few
#: labels say what a person sees; more would let one address outweigh everyone else.
PAIRS_PER_CLIENT = 3
#: Outcome of a pair -> its counter.
FIELDS = {
    (True, True): "both_right",
    (True, False): "champion_only",
    (False, True): "challenger_only",
    (False, False): "both_wrong",
}

#: A race's two keys live this long after its last pair, so a decided race leaves
#: nothing behind; a live one whose keys expired is counted again from the store.
RACE_KEYS_SECONDS = 7 * 24 * 3600

# Count a pair once per label id and at most PAIRS_PER_CLIENT per client: in all, on its
# day, for its client, and among its client's discordant pairs (ARGV: label id, outcome
# field, day, client, 1 if discordant). 1: counted, 0: counted before, -1: client's limit.
_ADD_PAIR = f"""
if redis.call('sismember', KEYS[1], ARGV[1]) == 1 then return 0 end
local mine = 'client:' .. ARGV[4]
if tonumber(redis.call('hget', KEYS[2], mine) or '0') >= {PAIRS_PER_CLIENT} then return -1 end
redis.call('sadd', KEYS[1], ARGV[1])
redis.call('hincrby', KEYS[2], ARGV[2], 1)
redis.call('hincrby', KEYS[2], 'day:' .. ARGV[3] .. ':' .. ARGV[2], 1)
redis.call('hincrby', KEYS[2], mine, 1)
if ARGV[5] == '1' then redis.call('hincrby', KEYS[2], 'discordant:' .. ARGV[4], 1) end
redis.call('expire', KEYS[1], {RACE_KEYS_SECONDS})
redis.call('expire', KEYS[2], {RACE_KEYS_SECONDS})
return 1
"""


def _keys(name: str, version: int) -> tuple[str, str]:
    base = f"digits:challenger:{name}:{version}"
    return f"{base}:labels", f"{base}:counts"


def _pairs_prefix(name: str, version: int) -> str:
    return f"challengers/pairs/{name}/{version}/"


def _day(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).date().isoformat()


def _count(client: redis.Redis, keys: tuple[str, str], label_id: str, pair: Pair) -> int:
    """Count one pair in Redis: 1, or 0 if counted before, -1 if its client's are."""
    champion, challenger = bool(pair["champion_right"]), bool(pair["challenger_right"])
    field, day = FIELDS[(champion, challenger)], _day(pair["time"])
    who = str(pair.get("client", ""))  # a pair kept before clients were: one unknown client
    found = client.eval(_ADD_PAIR, 2, *keys, label_id, field, day, who, int(champion != challenger))
    return int(found)


def counters(client: redis.Redis, store: Store, name: str, version: int) -> dict[str, int]:
    """Every counter of the race (in all, per day, per client); rebuilt from the store if
    lost, in the order the pairs came, so each client's first pairs are the ones counted."""
    keys = _keys(name, version)
    raw = client.hgetall(keys[1])
    if not raw and client.scard(keys[0]) == 0:
        prefix = _pairs_prefix(name, version)
        kept = {
            item[len(prefix) : -len(".json")]: cast(Pair, json.loads(store.get_bytes(item)))
            for item in store.list_keys(prefix)
        }
        for label_id, pair in sorted(kept.items(), key=lambda item: float(item[1]["time"])):
            _count(client, keys, label_id, pair)
        raw = client.hgetall(keys[1])
    return {k.decode() if isinstance(k, bytes) else k: int(v) for k, v in raw.items()}


def in_all(found: Mapping[str, int]) -> RaceCounts:
    """The race's pairs in all, one count per kind of pair, from its ``counters``."""
    return cast(RaceCounts, {field: found.get(field, 0) for field in FIELDS.values()})


def counts(client: redis.Redis, store: Store, name: str, version: int) -> RaceCounts:
    """The race's counts in all, one per kind of pair."""
    return in_all(counters(client, store, name, version))


def by_day(found: Mapping[str, int]) -> list[DayPoint]:
    """Each day's pairs and how often each version was right on them (the race's chart)."""
    days: dict[str, dict[str, int]] = {}
    for counter, count in found.items():
        if counter.startswith("day:"):
            _, day, field = counter.split(":", 2)
            days.setdefault(day, {})[field] = count
    rows: list[DayPoint] = []
    for day, c in sorted(days.items()):
        pairs = sum(c.values())
        champion = c.get("both_right", 0) + c.get("champion_only", 0)
        challenger = c.get("both_right", 0) + c.get("challenger_only", 0)
        rows.append(
            {
                "day": day,
                "pairs": pairs,
                "champion": champion / pairs,
                "challenger": challenger / pairs,
            }
        )
    return rows


def add_pair(
    client: redis.Redis,
    store: Store,
    name: str,
    version: int,
    label_id: str,
    champion_right: bool,
    challenger_right: bool,
    who: str = "",
) -> bool:
    """Count one labelled pair, once per ``label_id`` and at most PAIRS_PER_CLIENT from the
    client ``who``; the store's record is written first. Whether it was counted."""
    keys, found = _keys(name, version), counters(client, store, name, version)  # rebuilt if lost
    if client.sismember(keys[0], label_id) or found.get(f"client:{who}", 0) >= PAIRS_PER_CLIENT:
        return False  # counted, or over its client's limit: the store's record stays as is
    pair: Pair = {
        "champion_right": champion_right,
        "challenger_right": challenger_right,
        "client": who,
        "time": time.time(),
    }
    store.put_bytes(
        f"{_pairs_prefix(name, version)}{label_id}.json",
        json.dumps(pair).encode(),
        "application/json",
    )
    return _count(client, keys, label_id, pair) == 1
