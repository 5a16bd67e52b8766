"""A race's verdict: the exact McNemar test on its discordant pairs, and when it decides.

The exact one-sided McNemar (binomial) test on the discordant pairs (``b`` only the
champion right, ``c`` only the challenger) retires as soon as the challenger is worse at
``ALPHA`` and promotes as soon as it is better; at ``CHALLENGER_PAIRS`` pairs ``c >= b``
promotes; after ``CHALLENGER_MAX_DAYS`` it is retired. A race is evidence from many
people: no decision comes before the discordant pairs come from ``MIN_CLIENTS`` clients.
Plain arithmetic on the counts (``shared.race_pairs``): nothing here reads or writes.
"""

from __future__ import annotations

import math

from shared.shapes import Judgement, RaceCounts

ALPHA = 0.05
#: Distinct clients the discordant pairs must come from before the test decides (and all
#: pairs before the pair limit does): a race is decided by many people, never by one.
MIN_CLIENTS = 5


def tail_at_least(k: int, n: int) -> float:
    """P(X >= k) for X ~ Binomial(n, 1/2): the exact McNemar test's one-sided p-value."""
    if k <= 0:
        return 1.0
    return sum(math.comb(n, i) for i in range(k, n + 1)) / 2**n


def judge(
    counted: RaceCounts,
    pairs_cap: int,
    age_days: float,
    max_days: float,
    *,
    clients: int,
    discordant_clients: int,
) -> Judgement:
    """The race as it stands: its counts, both p-values and the decision (None: go on).

    The test decides once the discordant pairs come from MIN_CLIENTS clients; at the pair
    limit (MIN_CLIENTS clients in all), discordant pairs from fewer cannot tell the two
    apart: a tie, promoted. With the stage off (``pairs_cap`` 0) an admin decides.
    """
    b, c = counted["champion_only"], counted["challenger_only"]
    pairs = counted["both_right"] + b + c + counted["both_wrong"]
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
    return {
        "pairs": pairs,
        **counted,
        "clients": clients,
        "discordant_clients": discordant_clients,
        "p_worse": round(p_worse, 6),
        "p_better": round(p_better, 6),
        "decision": decision,
        "reason": reason,
    }
