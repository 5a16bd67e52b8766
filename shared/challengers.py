"""The challenger stage: a version that passed the gate races its champion on live labels.

A challenger is named in ``models/challengers.json`` (one per model at most). The predict
worker runs it beside the champion; every consented label that arrives after it was made
(feedback on a prediction it read, a collected sample) adds one pair: which of the two was
right. A race is evidence from many people: a client adds at most ``PAIRS_PER_CLIENT``
pairs, and no decision comes before the discordant pairs come from ``MIN_CLIENTS``. Counts
live in Redis; each pair is also in the store (``challengers/pairs/<name>/<version>/
<id>.json``), so a lost Redis is rebuilt and a redelivered label counts once.

The exact one-sided McNemar (binomial) test on the discordant pairs (``b`` only the
champion right, ``c`` only the challenger) retires as soon as the challenger is worse at
``ALPHA`` and promotes as soon as it is better; at ``CHALLENGER_PAIRS`` pairs ``c >= b``
promotes; after ``CHALLENGER_MAX_DAYS`` it is retired. Decisions are taken where pairs are
counted and by the trainer's sweep (the time limit), never by a read; with the stage off
(``CHALLENGER_PAIRS=0``) an admin decides. Each is recorded in the store
(``challengers/decisions/<name>-<version>.json``) with its counts and p-values.
"""

from __future__ import annotations

import json
import logging
import math
import time
from datetime import UTC, datetime
from typing import Any

import redis

from shared import registry
from shared.errors import Conflict, NotFound, ObjectNotFound
from shared.names import MODEL_NAMES
from shared.storage import Store

log = logging.getLogger(__name__)

ALPHA = 0.05
#: Pairs one client (a client id, or a trusted collector) may add to one race: a few
#: labels say what a person sees; more would let one address outweigh everyone else.
PAIRS_PER_CLIENT = 3
#: Distinct clients the discordant pairs must come from before the test decides (and all
#: pairs before the pair limit does): a race is decided by many people, never by one.
MIN_CLIENTS = 5
CHALLENGERS_KEY = "models/challengers.json"
DECISIONS_PREFIX = "challengers/decisions/"
#: Outcome of a pair -> its counter.
FIELDS = {(True, True): "both_right", (True, False): "champion_only",
          (False, True): "challenger_only", (False, False): "both_wrong"}  # fmt: skip

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


def read_challengers(store: Store) -> dict[str, dict[str, Any]]:
    """The live challengers by model name: ``{"version", "since", "champion"}``."""
    try:
        return dict(json.loads(store.get_bytes(CHALLENGERS_KEY)))
    except ObjectNotFound:
        return {}


def _write_challengers(store: Store, challengers: dict[str, dict[str, Any]]) -> None:
    store.put_bytes(CHALLENGERS_KEY, json.dumps(challengers).encode(), "application/json")


def start(store: Store, name: str, version: int, champion: int) -> dict[str, Any]:
    """Make ``version`` (complete, gated) the model's challenger from now on."""
    registry.read_metrics(store, name, version)  # NotFound for an incomplete version
    entry = {"version": version, "since": registry.now_iso(), "champion": champion}
    _write_challengers(store, {**read_challengers(store), name: entry})
    return entry


def _keys(name: str, version: int) -> tuple[str, str]:
    base = f"digits:challenger:{name}:{version}"
    return f"{base}:labels", f"{base}:counts"


def _pairs_prefix(name: str, version: int) -> str:
    return f"challengers/pairs/{name}/{version}/"


def _decision_key(name: str, version: int) -> str:
    return f"{DECISIONS_PREFIX}{name}-{version}.json"


def _day(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).date().isoformat()


def _count(client: redis.Redis, keys: tuple[str, str], label_id: str, pair: dict[str, Any]) -> int:
    """Count one pair in Redis: 1, or 0 if counted before, -1 if its client's are."""
    champion, challenger = bool(pair["champion_right"]), bool(pair["challenger_right"])
    field, day = FIELDS[(champion, challenger)], _day(pair["time"])
    who = str(pair.get("client", ""))  # a pair kept before clients were: one unknown client
    found = client.eval(_ADD_PAIR, 2, *keys, label_id, field, day, who, int(champion != challenger))
    return int(found)


def _counters(client: redis.Redis, store: Store, name: str, version: int) -> dict[str, int]:
    """Every counter of the race (in all, per day, per client); rebuilt from the store if
    lost, in the order the pairs came, so each client's first pairs are the ones counted."""
    keys = _keys(name, version)
    raw = client.hgetall(keys[1])
    if not raw and client.scard(keys[0]) == 0:
        prefix = _pairs_prefix(name, version)
        kept = {item[len(prefix) : -len(".json")]: json.loads(store.get_bytes(item))
                for item in store.list_keys(prefix)}  # fmt: skip
        for label_id, pair in sorted(kept.items(), key=lambda item: float(item[1]["time"])):
            _count(client, keys, label_id, pair)
        raw = client.hgetall(keys[1])
    return {k.decode() if isinstance(k, bytes) else k: int(v) for k, v in raw.items()}


def counts(client: redis.Redis, store: Store, name: str, version: int) -> dict[str, int]:
    """The race's counts in all, one per kind of pair."""
    found = _counters(client, store, name, version)
    return {field: found.get(field, 0) for field in FIELDS.values()}


def by_day(found: dict[str, int]) -> list[dict[str, Any]]:
    """Each day's pairs and how often each version was right on them (the race's chart)."""
    days: dict[str, dict[str, int]] = {}
    for counter, count in found.items():
        if counter.startswith("day:"):
            _, day, field = counter.split(":", 2)
            days.setdefault(day, {})[field] = count
    rows = []
    for day, c in sorted(days.items()):
        pairs = sum(c.values())
        champion = c.get("both_right", 0) + c.get("champion_only", 0)
        challenger = c.get("both_right", 0) + c.get("challenger_only", 0)
        rows.append({"day": day, "pairs": pairs, "champion": champion / pairs,
                     "challenger": challenger / pairs})  # fmt: skip
    return rows


def add_pair(
    client: redis.Redis, store: Store, name: str, version: int, label_id: str,
    champion_right: bool, challenger_right: bool, who: str = "",
) -> bool:  # fmt: skip
    """Count one labelled pair, once per ``label_id`` and at most PAIRS_PER_CLIENT from the
    client ``who``; the store's record is written first. Whether it was counted."""
    keys, found = _keys(name, version), _counters(client, store, name, version)  # rebuilt if lost
    if client.sismember(keys[0], label_id) or found.get(f"client:{who}", 0) >= PAIRS_PER_CLIENT:
        return False  # counted, or over its client's limit: the store's record stays as is
    pair = {"champion_right": champion_right, "challenger_right": challenger_right,
            "client": who, "time": time.time()}  # fmt: skip
    store.put_bytes(f"{_pairs_prefix(name, version)}{label_id}.json", json.dumps(pair).encode(),
                    "application/json")  # fmt: skip
    return _count(client, keys, label_id, pair) == 1


def tail_at_least(k: int, n: int) -> float:
    """P(X >= k) for X ~ Binomial(n, 1/2): the exact McNemar test's one-sided p-value."""
    if k <= 0:
        return 1.0
    return sum(math.comb(n, i) for i in range(k, n + 1)) / 2**n


def judge(
    counted: dict[str, int], pairs_cap: int, age_days: float, max_days: float, *,
    clients: int, discordant_clients: int,
) -> dict[str, Any]:  # fmt: skip
    """The race as it stands: its counts, both p-values and the decision (None: go on).

    The test decides once the discordant pairs come from MIN_CLIENTS clients; at the pair
    limit (MIN_CLIENTS clients in all), discordant pairs from fewer cannot tell the two
    apart: a tie, promoted. With the stage off (``pairs_cap`` 0) an admin decides.
    """
    b, c = counted["champion_only"], counted["challenger_only"]
    pairs = sum(counted.values())
    p_worse, p_better = tail_at_least(b, b + c), tail_at_least(c, b + c)
    many = discordant_clients >= MIN_CLIENTS
    decision, reason = None, None
    if pairs_cap <= 0:
        pass  # the stage is off: a live race is never decided by itself
    elif many and p_worse < ALPHA:
        decision, reason = "retired", "worse"
    elif many and p_better < ALPHA:
        decision, reason = "promoted", "better"
    elif pairs >= pairs_cap and clients >= MIN_CLIENTS:
        decision, reason = ("promoted" if c >= b or not many else "retired"), "pairs"
    elif age_days >= max_days:
        decision, reason = "retired", "days"
    return {"pairs": pairs, **counted, "clients": clients,
            "discordant_clients": discordant_clients, "p_worse": round(p_worse, 6),
            "p_better": round(p_better, 6), "decision": decision, "reason": reason}  # fmt: skip


def _age_days(since: str) -> float:
    return (datetime.now(UTC) - datetime.fromisoformat(since)).total_seconds() / 86400


def _race(
    client: redis.Redis, store: Store, name: str, entry: dict[str, Any], cap: int, days: float
) -> dict[str, Any]:
    """The live race of ``entry`` as it stands (``judge``), with its chart's points."""
    found = _counters(client, store, name, entry["version"])
    counted = {field: found.get(field, 0) for field in FIELDS.values()}
    clients = sum(1 for counter in found if counter.startswith("client:"))
    discordant = sum(1 for counter in found if counter.startswith("discordant:"))
    race = judge(counted, cap, _age_days(entry["since"]), days, clients=clients,
                 discordant_clients=discordant)  # fmt: skip
    return {"version": entry["version"], "since": entry["since"], **race,
            "by_day": by_day(found)}  # fmt: skip


def status(
    client: redis.Redis, store: Store, name: str, pairs_cap: int, max_days: float
) -> dict[str, Any] | None:
    """The model's live race, or None; read only: a decision shown is taken elsewhere."""
    entry = read_challengers(store).get(name)
    if entry is None:
        return None
    return _race(client, store, name, entry, pairs_cap, max_days)


def settle(
    client: redis.Redis, store: Store, name: str, decision: str, race: dict[str, Any], by: str
) -> dict[str, Any]:
    """Promote or retire the live challenger of ``name`` and record the decision: promotion
    is the gate's one-write manifest switch; a lock makes one process decide."""
    if decision not in ("promoted", "retired"):
        raise ValueError(f"decision must be promoted or retired, not {decision!r}")
    if not client.set(f"digits:challenger:{name}:deciding", "1", nx=True, ex=30):
        raise Conflict("another decision on this challenger is being made")
    try:
        entry = read_challengers(store).get(name)
        if entry is None:
            raise NotFound(f"model {name} has no live challenger")
        now = datetime.now(UTC)
        record = {"model": name, **entry, **race, "decision": decision, "by": by,
                  "decided_at": now.isoformat(timespec="seconds"),
                  "decided_ts": now.timestamp()}  # fmt: skip
        registry.update_metrics(
            store, name, entry["version"], {"outcome": decision, "race": record}
        )
        if decision == "promoted":
            registry.promote(store, {name: entry["version"]})
        store.put_bytes(_decision_key(name, entry["version"]), json.dumps(record).encode(),
                        "application/json")  # fmt: skip
        _write_challengers(store, {k: v for k, v in read_challengers(store).items() if k != name})
        return record
    finally:
        client.delete(f"digits:challenger:{name}:deciding")


def score_label(
    client: redis.Redis, store: Store, label_id: str, label: int | None,
    answers: dict[str, Any], shadow: dict[str, Any], who: str, pairs_cap: int, max_days: float,
) -> list[dict[str, Any]]:  # fmt: skip
    """Add the pair a consented label from client ``who`` makes for each live challenger
    with an answer here (``shadow``: not one made before it); decide. Returns the decisions
    settled; one that cannot be settled here is left to the trainer's sweep."""
    decided = []
    for name, entry in read_challengers(store).items():
        theirs = shadow.get(name)
        if name not in MODEL_NAMES or not theirs or theirs.get("version") != entry["version"]:
            continue
        right = answers[name]["digit"] == label, theirs["digit"] == label
        if not add_pair(client, store, name, entry["version"], label_id, *right, who=who):
            continue
        race = _race(client, store, name, entry, pairs_cap, max_days)
        if race["decision"] is None:
            continue
        try:
            decided.append(settle(client, store, name, race["decision"], race, "race"))
        except (Conflict, NotFound):
            pass  # another process is deciding, or has decided
        except Exception:  # the store: the label is counted, the sweep settles the race
            log.warning("settling the %s race failed; left to the sweep", name, exc_info=True)
    return decided


def history(store: Store) -> list[dict[str, Any]]:
    """Every recorded decision, newest first."""
    records = [json.loads(store.get_bytes(key)) for key in store.list_keys(DECISIONS_PREFIX)]
    return sorted(records, key=lambda r: r["decided_ts"], reverse=True)
