"""The users' labelled samples a fine-tune round learns from, and the slice it never trains on."""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass

import numpy as np
from PIL import Image

from shared import samples
from shared.storage import Store

#: One user sample in HOLDOUT_EVERY (chosen by id, so always the same ones) is never trained on.
HOLDOUT_EVERY = 5
#: At most this many training samples from one client in one round (anti-poisoning).
MAX_PER_CLIENT = 100


@dataclass(frozen=True)
class UserSamples:
    """A round's training digits (uint8 28x28) and labels, the holdout, and the ids trained on."""

    train_x: np.ndarray
    train_y: np.ndarray
    holdout_x: np.ndarray
    holdout_y: np.ndarray
    used_ids: tuple[str, ...]


def is_holdout(sample_id: str) -> bool:
    return int(sample_id[:8], 16) % HOLDOUT_EVERY == 0


def _stack(digits: list[np.ndarray]) -> np.ndarray:
    return np.stack(digits).astype(np.uint8) if digits else np.zeros((0, 28, 28), np.uint8)


def load_user_samples(store: Store, new_ids: set[str] | None = None) -> UserSamples:
    """This round's training samples (the new ones, capped per client) and the holdout.

    The holdout is every held-out sample ever stored, so it only grows; ``new_ids`` None
    (or no new sample at all) trains on every stored sample that is not held out.
    """
    train_x, train_y, hold_x, hold_y, used = [], [], [], [], []
    per_client: Counter[str] = Counter()
    stored = sorted(samples.sample_ids(store))
    fresh = set(stored) if not new_ids or not new_ids & set(stored) else new_ids
    for sample_id in stored:
        if not is_holdout(sample_id) and sample_id not in fresh:
            continue
        meta = samples.read_meta(store, sample_id)
        label = meta.get("label")
        if not isinstance(label, int) or not meta.get("consent", False):
            continue
        pixels = np.asarray(Image.open(io.BytesIO(store.get_bytes(samples.image_key(sample_id)))))
        if is_holdout(sample_id):
            hold_x.append(pixels)
            hold_y.append(label)
            continue
        client = str(meta.get("client", ""))
        if client and per_client[client] >= MAX_PER_CLIENT:
            continue
        per_client[client] += 1
        train_x.append(pixels)
        train_y.append(label)
        used.append(sample_id)
    return UserSamples(
        _stack(train_x),
        np.asarray(train_y, dtype=np.int64),
        _stack(hold_x),
        np.asarray(hold_y, dtype=np.int64),
        tuple(used),
    )
