"""The challenger stage: a version that passed the gate races its champion on live labels.

A challenger is named in ``models/challengers.json`` (one per model at most). The predict
worker runs it beside the champion and the record keeps its answer; every explicit label
that arrives after it was made (feedback on a prediction that has its answer, a newly
collected sample) adds one pair: which of the two was right. Counts live in Redis; each
pair is also written to the store under its label's id (``challengers/pairs/<name>/
<version>/<id>.json``), so a lost Redis is rebuilt and a redelivered label counts once.

The decision is the exact one-sided McNemar (binomial) test on the discordant pairs:
``b`` only the champion right, ``c`` only the challenger right. Retire as soon as the
challenger is worse at ``ALPHA``, promote as soon as it is better; at ``CHALLENGER_PAIRS``
pairs promote if ``c >= b``; after ``CHALLENGER_MAX_DAYS`` retire. Every decision is
recorded in the store (``challengers/decisions/<name>-<version>.json``) with its counts
and p-values.
"""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime
from typing import Any

import redis

from shared import registry
from shared.errors import Conflict, NotFound, ObjectNotFound
from shared.names import MODEL_NAMES
from shared.storage import Store

ALPHA = 0.05
CHALLENGERS_KEY = "models/challengers.json"
DECISIONS_PREFIX = "challengers/decisions/"
#: Outcome of a pair -> its counter.
FIELDS = {(True, True): "both_right", (True, False): "champion_only",
          (False, True): "challenger_only", (False, False): "both_wrong"}  # fmt: skip

#: A race's two keys live this long after its last pair, so a decided race leaves
#: nothing behind; a live one whose keys expired is counted again from the store.
RACE_KEYS_SECONDS = 7 * 24 * 3600

# Count a pair once per label id: add the id to the set, and only then count it, in all
# and on its day (ARGV: label id, outcome field, day).
_ADD_PAIR = f"""
if redis.call('sadd', KEYS[1], ARGV[1]) == 1 then
  redis.call('hincrby', KEYS[2], ARGV[2], 1)
  redis.call('hincrby', KEYS[2], 'day:' .. ARGV[3] .. ':' .. ARGV[2], 1)
end
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


def _pair_key(name: str, version: int, label_id: str) -> str:
    return f"{_pairs_prefix(name, version)}{label_id}.json"


def _pairs_prefix(name: str, version: int) -> str:
    return f"challengers/pairs/{name}/{version}/"


def _decision_key(name: str, version: int) -> str:
    return f"{DECISIONS_PREFIX}{name}-{version}.json"


def _day(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).date().isoformat()


def _counters(client: redis.Redis, store: Store, name: str, version: int) -> dict[str, int]:
    """Every counter of the race (in all, and per day); rebuilt from the store if lost."""
    labels, key = _keys(name, version)
    raw = client.hgetall(key)
    if not raw and client.scard(labels) == 0:
        prefix = _pairs_prefix(name, version)
        for item in store.list_keys(prefix):
            pair = json.loads(store.get_bytes(item))
            label_id = item[len(prefix) : -len(".json")]
            field = FIELDS[(bool(pair["champion_right"]), bool(pair["challenger_right"]))]
            client.eval(_ADD_PAIR, 2, labels, key, label_id, field, _day(pair["time"]))
        raw = client.hgetall(key)
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
    client: redis.Redis,
    store: Store,
    name: str,
    version: int,
    label_id: str,
    champion_right: bool,
    challenger_right: bool,
) -> dict[str, int]:
    """Count one labelled pair, once per ``label_id``; the store's record is written first."""
    pair = {"champion_right": champion_right, "challenger_right": challenger_right,
            "time": time.time()}  # fmt: skip
    store.put_bytes(_pair_key(name, version, label_id), json.dumps(pair).encode(),
                    "application/json")  # fmt: skip
    counts(client, store, name, version)  # rebuild first if Redis lost the race
    labels, key = _keys(name, version)
    field = FIELDS[(champion_right, challenger_right)]
    client.eval(_ADD_PAIR, 2, labels, key, label_id, field, _day(pair["time"]))
    return counts(client, store, name, version)


def tail_at_least(k: int, n: int) -> float:
    """P(X >= k) for X ~ Binomial(n, 1/2): the exact McNemar test's one-sided p-value."""
    if k <= 0:
        return 1.0
    return sum(math.comb(n, i) for i in range(k, n + 1)) / 2**n


def judge(
    counted: dict[str, int], pairs_cap: int, age_days: float, max_days: float
) -> dict[str, Any]:
    """The race as it stands: its counts, both p-values and the decision (None: go on)."""
    b, c = counted["champion_only"], counted["challenger_only"]
    pairs = sum(counted.values())
    p_worse, p_better = tail_at_least(b, b + c), tail_at_least(c, b + c)
    decision, reason = None, None
    if p_worse < ALPHA:
        decision, reason = "retired", "worse"
    elif p_better < ALPHA:
        decision, reason = "promoted", "better"
    elif pairs >= pairs_cap:
        decision, reason = ("promoted" if c >= b else "retired"), "pairs"
    elif age_days >= max_days:
        decision, reason = "retired", "days"
    return {"pairs": pairs, **counted, "p_worse": round(p_worse, 6),
            "p_better": round(p_better, 6), "decision": decision, "reason": reason}  # fmt: skip


def _age_days(since: str) -> float:
    return (datetime.now(UTC) - datetime.fromisoformat(since)).total_seconds() / 86400


def status(
    client: redis.Redis, store: Store, name: str, pairs_cap: int, max_days: float
) -> dict[str, Any] | None:
    """``GET /api/models``' view of the model's challenger, or None."""
    entry = read_challengers(store).get(name)
    if entry is None:
        return None
    found = _counters(client, store, name, entry["version"])
    counted = {field: found.get(field, 0) for field in FIELDS.values()}
    race = judge(counted, pairs_cap, _age_days(entry["since"]), max_days)
    return {"version": entry["version"], "since": entry["since"], **race,
            "by_day": by_day(found)}  # fmt: skip


def settle(
    client: redis.Redis, store: Store, name: str, decision: str, race: dict[str, Any], by: str
) -> dict[str, Any]:
    """Promote or retire the live challenger of ``name`` and record the decision.

    Promotion is the same one-write manifest switch as the gate's. A lock makes one
    process decide when several see the same deciding pair.
    """
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
    answers: dict[str, Any], shadow: dict[str, Any], pairs_cap: int, max_days: float,
) -> list[dict[str, Any]]:  # fmt: skip
    """Add the pair a label makes for each live challenger with an answer here; decide.

    ``answers`` are the champions' answers, ``shadow`` the challengers' (by model name);
    an answer from another version than the live challenger (made before it) is skipped.
    Returns the decisions this label settled.
    """
    decided = []
    for name, entry in read_challengers(store).items():
        theirs = shadow.get(name)
        if name not in MODEL_NAMES or not theirs or theirs.get("version") != entry["version"]:
            continue
        counted = add_pair(client, store, name, entry["version"], label_id,
                           answers[name]["digit"] == label, theirs["digit"] == label)  # fmt: skip
        race = judge(counted, pairs_cap, _age_days(entry["since"]), max_days)
        if race["decision"] is not None:
            try:
                decided.append(settle(client, store, name, race["decision"], race, "race"))
            except (Conflict, NotFound):
                pass  # another process is deciding, or has decided
    return decided


def history(store: Store) -> list[dict[str, Any]]:
    """Every recorded decision, newest first."""
    records = [json.loads(store.get_bytes(key)) for key in store.list_keys(DECISIONS_PREFIX)]
    return sorted(records, key=lambda r: r["decided_ts"], reverse=True)
