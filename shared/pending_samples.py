"""The samples no fine-tune has learnt from yet: a bounded Redis set, and its count.

The predict worker adds each stored sample (``note_new_sample``) and starts a fine-tune
every FINE_TUNE_EVERY of them (``shared.fine_tune_jobs.enqueue_automatic``); the trainer
reads the set when a job starts and clears what it saw once it ends; a deleted sample is
forgotten. Not expiring: the ids are work to do.
"""

from __future__ import annotations

import redis

PENDING_KEY = "digits:samples:pending"
#: Most sample ids the pending set holds (55 bytes each in Redis, 0.55 MB in all): samples
#: beyond it, while the trainer is down or every model races a challenger, wait for a full
#: retrain, which learns from every stored sample.
PENDING_MAX = 10_000

# Add a sample id to the pending set unless it is full; how many it holds.
_ADD_PENDING = """
if redis.call('scard', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('sadd', KEYS[1], ARGV[1])
end
return redis.call('scard', KEYS[1])
"""


def note_new_sample(client: redis.Redis, sample_id: str, every: int) -> bool:
    """Count a stored sample as new (a redelivered job counts once); True at the threshold.

    The set holds at most PENDING_MAX ids; a sample beyond that is not added.
    """
    return int(client.eval(_ADD_PENDING, 1, PENDING_KEY, sample_id, PENDING_MAX)) >= every


def pending_samples(client: redis.Redis) -> set[str]:
    # Our clients answer bytes (no decode_responses); redis-py's types allow str too.
    return {m.decode() if isinstance(m, bytes) else m for m in client.smembers(PENDING_KEY)}


def clear_pending(client: redis.Redis, sample_ids: set[str]) -> None:
    """Forget the samples a finished job has seen; later ones keep counting."""
    if sample_ids:
        client.srem(PENDING_KEY, *sample_ids)


def forget_pending(client: redis.Redis, sample_id: str) -> None:
    """A deleted sample is new no more: no fine-tune waits for it, none looks for it."""
    client.srem(PENDING_KEY, sample_id)
