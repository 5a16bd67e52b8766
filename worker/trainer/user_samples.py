"""The users' labelled samples a fine-tune round (or a full retrain) learns from, and the slice
it never trains on.

Samples a moderator hid (``"hidden": true``) are neither trained on nor held out. Samples
sent with a trusted collector's token (``"collector": "<name>"``) are exempt from the
per-client cap; the gate still judges whatever they teach.
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from shared import answers, samples
from shared.storage import Store

#: One part in HOLDOUT_EVERY is never trained on: one client in five once there are enough
#: people (so the gate rewards reading other people, not memorising one), else one sample in five.
HOLDOUT_EVERY = 5
#: Distinct clients from which the holdout is made of whole people rather than of samples.
MIN_CLIENTS_FOR_PEOPLE = 5
#: A client is one of those people once it has sent this many labelled samples. Ids are
#: cheap to make (an IPv6 /64 before it was one client; forged X-Forwarded-For when web is
#: reachable past its proxy): 150 one-sample ids once put 33 of one sender's drawings in
#: the holdout the gate judges by. A person who drew a few digits is evidence of reading
#: people; a one-off id is not, and its samples in the holdout's share of clients are
#: kept back from both sides (never trained on, so they may join the holdout later).
PERSON_MIN_SAMPLES = 3
#: At most this many training samples from one anonymous client in one round (anti-poisoning);
#: a trusted collector's samples are not counted.
MAX_PER_CLIENT = 100


@dataclass(frozen=True)
class UserSamples:
    """A round's training digits (uint8 28x28) and labels, the holdout, and the ids trained on.

    ``holdout_by`` says how the holdout was chosen: "people" (whole clients the round
    never trains on, each with PERSON_MIN_SAMPLES samples at least) or "samples" (one in
    five of everyone's, while there are few people).
    ``used_collectors`` names, for each id of ``used_ids``, the trusted collector that sent
    it ("" for an anonymous sample); ``capped`` counts anonymous samples the per-client cap
    left out.
    """

    train_x: np.ndarray
    train_y: np.ndarray
    holdout_x: np.ndarray
    holdout_y: np.ndarray
    used_ids: tuple[str, ...]
    holdout_by: str
    used_collectors: tuple[str, ...] = ()
    holdout_ids: tuple[str, ...] = ()
    capped: int = 0


def _bucket(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) % HOLDOUT_EVERY


def is_holdout(sample_id: str, client: str, by_people: bool) -> bool:
    """Stable: the same sample (or the same client) is always on the same side."""
    if by_people and client:
        return _bucket(client) == 0
    return int(sample_id[:8], 16) % HOLDOUT_EVERY == 0


def _stack(digits: list[np.ndarray]) -> np.ndarray:
    return np.stack(digits).astype(np.uint8) if digits else np.zeros((0, 28, 28), np.uint8)


def training_label(meta: dict[str, Any]) -> int | None:
    """A sample's class: its digit, ``answers.NOT_DIGIT`` for "not a digit", else None."""
    if "label" not in meta:
        return None
    label = meta["label"]
    if label is None:
        return answers.NOT_DIGIT
    if isinstance(label, int) and not isinstance(label, bool) and 0 <= label < answers.DIGITS:
        return label
    return None


def collector_of(meta: dict[str, Any]) -> str:
    """The trusted collector that sent a sample, or "" for an anonymous one."""
    collector = meta.get("collector")
    return collector if isinstance(collector, str) else ""


def labelled_metas(store: Store) -> dict[str, dict[str, Any]]:
    """Every stored sample a person labelled (a digit or "not a digit"), agreed to share and
    a moderator did not hide.

    By id, in id order; each meta gains ``class``, what the models learn it as.
    """
    metas = {}
    for sample_id in sorted(samples.sample_ids(store)):
        meta = samples.read_meta(store, sample_id)
        label = training_label(meta)
        if label is not None and meta.get("consent", False) and not meta.get("hidden"):
            metas[sample_id] = {**meta, "class": label}
    return metas


def load_user_samples(store: Store, new_ids: set[str] | None = None) -> UserSamples:
    """This round's training samples (the new ones, anonymous ones capped per client) and
    the holdout.

    The holdout only grows; ``new_ids`` None (or no new sample at all) trains on every
    stored sample that is not held out.
    """
    metas = labelled_metas(store)
    fresh = set(metas) if not new_ids or not new_ids & set(metas) else new_ids
    sent = Counter(str(meta.get("client", "")) for meta in metas.values())
    people = {client for client, count in sent.items() if client and count >= PERSON_MIN_SAMPLES}
    buckets = {_bucket(client) == 0 for client in people}
    # Whole people on each side, when there are enough of them and both sides have some.
    by_people = len(people) >= MIN_CLIENTS_FOR_PEOPLE and buckets == {True, False}
    train_x, train_y, hold_x, hold_y, used, by, held = [], [], [], [], [], [], []
    per_client: Counter[str] = Counter()
    capped = 0
    for sample_id, meta in metas.items():
        client = str(meta.get("client", ""))
        collector = collector_of(meta)
        if is_holdout(sample_id, client, by_people):
            if by_people and client and client not in people:
                continue  # not yet a person: kept back from both sides
            hold_x.append(_pixels(store, sample_id))
            hold_y.append(meta["class"])
            held.append(sample_id)
        elif sample_id not in fresh:
            continue
        elif client and not collector and per_client[client] >= MAX_PER_CLIENT:
            capped += 1
        else:
            if not collector:
                per_client[client] += 1
            train_x.append(_pixels(store, sample_id))
            train_y.append(meta["class"])
            used.append(sample_id)
            by.append(collector)
    return UserSamples(
        _stack(train_x),
        np.asarray(train_y, dtype=np.int64),
        _stack(hold_x),
        np.asarray(hold_y, dtype=np.int64),
        tuple(used),
        "people" if by_people else "samples",
        tuple(by),
        tuple(held),
        capped,
    )


def load_all_user_samples(store: Store) -> UserSamples:
    """What a full retrain learns from: every labelled, visible sample that is not held out,
    anonymous ones capped per client as in a round, trusted collectors' all of them."""
    return load_user_samples(store, None)


def _pixels(store: Store, sample_id: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(store.get_bytes(samples.image_key(sample_id)))))
