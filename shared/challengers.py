"""The challenger stage: a version that passed the gate races its champion on live labels.

A challenger is named in ``models/challengers.json`` (one per model at most). The predict
worker runs it beside the champion; every consented label that arrives after it was made
(feedback on a prediction it read, a collected sample) adds one pair to its race: which of
the two was right (``shared.race_pairs``, which also keeps the evidence). The exact
McNemar test decides (``shared.race_judge``).

Decisions are taken where pairs are counted and by the trainer's sweep (the time limit),
never by a read; with the stage off (``CHALLENGER_PAIRS=0``) an admin decides. Each is
recorded in the store (``challengers/decisions/<name>-<version>.json``) with its counts
and p-values.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import cast

import redis

from shared import registry
from shared.errors import Conflict, NotFound, ObjectNotFound

# The race's parts, once kept here: the names callers use are still importable from here.
from shared.race_judge import ALPHA as ALPHA
from shared.race_judge import MIN_CLIENTS as MIN_CLIENTS
from shared.race_judge import judge
from shared.race_judge import tail_at_least as tail_at_least
from shared.race_pairs import PAIRS_PER_CLIENT as PAIRS_PER_CLIENT
from shared.race_pairs import RACE_KEYS_SECONDS as RACE_KEYS_SECONDS
from shared.race_pairs import add_pair, by_day, counters, in_all
from shared.race_pairs import counts as counts
from shared.shapes import Challenger, ImageAnswers, Race, RaceDecision, ShadowAnswer, is_model_name
from shared.storage import Store

log = logging.getLogger(__name__)

CHALLENGERS_KEY = "models/challengers.json"
DECISIONS_PREFIX = "challengers/decisions/"


def read_challengers(store: Store) -> dict[str, Challenger]:
    """The live challengers by model name."""
    try:
        return cast(dict[str, Challenger], dict(json.loads(store.get_bytes(CHALLENGERS_KEY))))
    except ObjectNotFound:
        return {}


def _write_challengers(store: Store, challengers: Mapping[str, Challenger]) -> None:
    store.put_bytes(CHALLENGERS_KEY, json.dumps(challengers).encode(), "application/json")


def start(store: Store, name: str, version: int, champion: int) -> Challenger:
    """Make ``version`` (complete, gated) the model's challenger from now on."""
    registry.read_metrics(store, name, version)  # NotFound for an incomplete version
    entry: Challenger = {"version": version, "since": registry.now_iso(), "champion": champion}
    _write_challengers(store, {**read_challengers(store), name: entry})
    return entry


def _decision_key(name: str, version: int) -> str:
    return f"{DECISIONS_PREFIX}{name}-{version}.json"


def _age_days(since: str) -> float:
    return (datetime.now(UTC) - datetime.fromisoformat(since)).total_seconds() / 86400


def _race(
    client: redis.Redis, store: Store, name: str, entry: Challenger, cap: int, days: float
) -> Race:
    """The live race of ``entry`` as it stands (``judge``), with its chart's points."""
    found = counters(client, store, name, entry["version"])
    clients = sum(1 for counter in found if counter.startswith("client:"))
    discordant = sum(1 for counter in found if counter.startswith("discordant:"))
    race = judge(
        in_all(found),
        cap,
        _age_days(entry["since"]),
        days,
        clients=clients,
        discordant_clients=discordant,
    )
    return {"version": entry["version"], "since": entry["since"], **race, "by_day": by_day(found)}


def status(
    client: redis.Redis, store: Store, name: str, pairs_cap: int, max_days: float
) -> Race | None:
    """The model's live race, or None; read only: a decision shown is taken elsewhere."""
    entry = read_challengers(store).get(name)
    if entry is None:
        return None
    return _race(client, store, name, entry, pairs_cap, max_days)


def settle(
    client: redis.Redis, store: Store, name: str, decision: str, race: Race, by: str
) -> RaceDecision:
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
        record: RaceDecision = {
            "model": name,
            **entry,
            **race,
            "decision": decision,
            "by": by,
            "decided_at": now.isoformat(timespec="seconds"),
            "decided_ts": now.timestamp(),
        }
        registry.update_metrics(
            store, name, entry["version"], {"outcome": decision, "race": record}
        )
        if decision == "promoted":
            registry.promote(store, {name: entry["version"]})
        store.put_bytes(
            _decision_key(name, entry["version"]), json.dumps(record).encode(), "application/json"
        )
        _write_challengers(store, {k: v for k, v in read_challengers(store).items() if k != name})
        return record
    finally:
        client.delete(f"digits:challenger:{name}:deciding")


def score_label(
    client: redis.Redis,
    store: Store,
    label_id: str,
    label: int | None,
    answers: ImageAnswers,
    shadow: Mapping[str, ShadowAnswer],
    who: str,
    pairs_cap: int,
    max_days: float,
) -> list[RaceDecision]:
    """Add the pair a consented label from client ``who`` makes for each live challenger
    with an answer here (``shadow``: not one made before it); decide. Returns the decisions
    settled; one that cannot be settled here is left to the trainer's sweep."""
    decided = []
    for name, entry in read_challengers(store).items():
        theirs = shadow.get(name)
        if not is_model_name(name) or not theirs or theirs.get("version") != entry["version"]:
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


def history(store: Store) -> list[RaceDecision]:
    """Every recorded decision, newest first."""
    records = [
        cast(RaceDecision, json.loads(store.get_bytes(key)))
        for key in store.list_keys(DECISIONS_PREFIX)
    ]
    return sorted(records, key=lambda r: r["decided_ts"], reverse=True)
