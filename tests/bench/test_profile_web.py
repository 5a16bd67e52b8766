"""``bench/profile_web.py``'s counting of py-spy's collapsed stacks."""

from __future__ import annotations

from bench.profile_web import shares


def test_a_frame_counts_once_a_sample_on_the_stack_and_on_top_when_last() -> None:
    stacks = [
        "main (a.py:1);handle (web/api.py:10);read (shared/s.py:5) 3",
        "main (a.py:1);handle (web/api.py:12);handle (web/api.py:40) 2",
        "main (a.py:2) 1",
    ]
    inclusive, self_, total = shares(stacks)
    assert total == 6
    assert inclusive["main (a.py)"] == 6
    assert inclusive["handle (web/api.py)"] == 5  # twice on one stack, counted once
    assert self_["read (shared/s.py)"] == 3
    assert self_["handle (web/api.py)"] == 2
    assert self_["main (a.py)"] == 1
