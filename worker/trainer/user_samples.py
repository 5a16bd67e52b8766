"""The users' labelled samples a fine-tune round (or a full retrain) learns from, and the slice
it never trains on.

Which samples may be trained on is the dataset's rule (``shared.dataset.training_set``):
labelled, shared with consent, not hidden by a moderator; read from the sample index when
the trainer passes its Redis client (``index``), else from the store. Samples a moderator
hid are neither trained on nor held out. Samples sent with a trusted collector's token
are exempt from the per-client cap; the gate still judges whatever they teach.
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from dataclasses import dataclass

import numpy as np
import redis
from PIL import Image

from shared.dataset import samples
from shared.dataset.training_set import TrainingSample, trainable
from shared.errors import ObjectNotFound
from shared.storage import Store
from worker.trainer.arrays import no_images

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
    return np.stack(digits).astype(np.uint8) if digits else no_images()


def _people(found: list[TrainingSample]) -> tuple[set[str], bool]:
    """The clients who sent PERSON_MIN_SAMPLES trainable samples or more, and whether the
    holdout is made of whole people: when there are enough of them and both sides have some."""
    sent = Counter(sample.client for sample in found)
    people = {client for client, count in sent.items() if client and count >= PERSON_MIN_SAMPLES}
    buckets = {_bucket(client) == 0 for client in people}
    return people, len(people) >= MIN_CLIENTS_FOR_PEOPLE and buckets == {True, False}


def load_user_samples(
    store: Store, new_ids: set[str] | None = None, *, index: redis.Redis | None = None
) -> UserSamples:
    """This round's training samples (the new ones, anonymous ones capped per client) and
    the holdout.

    The holdout only grows; ``new_ids`` None (or no new sample at all) trains on every
    stored sample that is not held out. ``index``: the Redis client of the sample index
    the samples are chosen from (None: from the store).
    """
    found = trainable(store, index)
    ids = {sample.id for sample in found}
    fresh = ids if not new_ids or not new_ids & ids else new_ids
    people, by_people = _people(found)
    train_x, train_y, hold_x, hold_y, used, by, held = [], [], [], [], [], [], []
    per_client: Counter[str] = Counter()
    capped = 0
    for sample in found:
        sample_id, client, collector = sample.id, sample.client, sample.collector
        if is_holdout(sample_id, client, by_people):
            if by_people and client and client not in people:
                continue  # not yet a person: kept back from both sides
            if (pixels := _pixels(store, sample_id)) is not None:
                hold_x.append(pixels)
                hold_y.append(sample.label)
                held.append(sample_id)
        elif sample_id not in fresh:
            continue
        elif client and not collector and per_client[client] >= MAX_PER_CLIENT:
            capped += 1
        elif (pixels := _pixels(store, sample_id)) is not None:
            if not collector:
                per_client[client] += 1
            train_x.append(pixels)
            train_y.append(sample.label)
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


def load_all_user_samples(store: Store, *, index: redis.Redis | None = None) -> UserSamples:
    """What a full retrain learns from: every labelled, visible sample that is not held out,
    anonymous ones capped per client as in a round, trusted collectors' all of them."""
    return load_user_samples(store, None, index=index)


def _pixels(store: Store, sample_id: str) -> np.ndarray | None:
    """A sample's 28x28 image; None once it was deleted (after the training set was read)."""
    try:
        png = store.get_bytes(samples.image_key(sample_id))
    except ObjectNotFound:
        return None
    return np.asarray(Image.open(io.BytesIO(png)))
