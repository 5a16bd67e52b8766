"""Moderation records in the store: what a moderator did to a sample, and why.

One object per moderated sample (``moderation/<id>.json``): its actions (hide, unhide,
delete), newest last, and the state they leave. They are the truth the sample index
(``shared.dataset.sample_index``) is rebuilt from, and a deleted sample's record outlives it, so
a save that arrives after the delete does not bring the sample back
(``shared.dataset.intake``). The actions themselves, which write the record, the sample and
the index together, are ``shared.dataset.moderation``'s.
"""

from __future__ import annotations

import json
from typing import NotRequired, TypedDict, cast

from shared.dataset import samples
from shared.errors import ObjectNotFound
from shared.registry import now_iso
from shared.storage import Store

PREFIX = "moderation/"
#: What each action leaves the sample as.
STATES = {"hide": "hidden", "unhide": "visible", "delete": "deleted"}


class Action(TypedDict):
    action: str  # a key of STATES
    reason: str
    at: str


class ModerationRecord(TypedDict):
    """``moderation/<id>.json``: no ``state`` until a first action."""

    id: str
    actions: list[Action]
    state: NotRequired[str]


def record_key(sample_id: str) -> str:
    return f"{PREFIX}{samples.check_id(sample_id)}.json"


def read_record(store: Store, sample_id: str) -> ModerationRecord:
    """A sample's moderation history (hide, unhide, delete), newest last; empty if none."""
    try:
        return cast(ModerationRecord, dict(json.loads(store.get_bytes(record_key(sample_id)))))
    except ObjectNotFound:
        return {"id": sample_id, "actions": []}


def record(store: Store, sample_id: str, action: str, reason: str) -> ModerationRecord:
    """Add ``action`` to the sample's record; the record as stored."""
    kept = read_record(store, sample_id)
    kept["actions"].append({"action": action, "reason": reason, "at": now_iso()})
    kept["state"] = STATES[action]
    store.put_bytes(record_key(sample_id), json.dumps(kept).encode(), "application/json")
    return kept


def hidden_ids(store: Store) -> set[str]:
    """Samples hidden by a moderator, from their records: what a manifest may not know yet."""
    found = set()
    for key in store.list_keys(PREFIX):
        kept = json.loads(store.get_bytes(key))
        if kept.get("state") == "hidden":
            found.add(kept["id"])
    return found
