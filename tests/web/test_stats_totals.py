"""Feedback statistics as running totals: counted once per event, read in one step."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from web import stats


@pytest.fixture()
def stats_redis(redis_database: str) -> Iterator[redis.Redis]:
    """An empty database of the session's valkey, for this test alone."""
    with redis.Redis.from_url(redis_database) as connection:
        yield connection


def answer(fnn: int | None, cnn: int | None, version: int = 1) -> dict:
    return {"fnn": {"digit": fnn, "version": version}, "cnn": {"digit": cnn, "version": version}}


def test_each_event_counts_once_and_every_figure_follows(stats_redis):
    assert stats.add_feedback(stats_redis, "a" * 32, 7, answer(7, 7))
    assert not stats.add_feedback(stats_redis, "a" * 32, 7, answer(7, 7))  # a redelivery
    stats.add_feedback(stats_redis, "b" * 32, 3, answer(5, None))  # CNN refused a 3
    stats.add_feedback(stats_redis, "c" * 32, None, answer(1, None))  # not a digit
    stats.add_feedback(stats_redis, "d" * 32, 2, answer(2, 2, version=2))
    figures = stats.compute_stats(stats_redis)
    assert figures["feedback_events"] == 4 and figures["not_a_digit"] == 1
    cnn = figures["models"]["cnn"]
    v1, v2 = cnn["by_version"]
    assert (v1["version"], v1["correct"], v1["total"]) == (1, 2, 3)  # the 7 and the refusal
    assert (v1["refused"], v1["refused_disputed"], v1["missed"]) == (2, 1, 0)
    assert (v2["version"], v2["accuracy"]) == (2, 1.0)
    assert cnn["confusion_matrix"][3][10] == 1 and cnn["confusion_matrix"][10][10] == 1
    fnn = figures["models"]["fnn"]
    assert fnn["by_version"][0]["missed"] == 1 and fnn["confusion_matrix"][10][1] == 1
    assert sum(row["total"] for row in fnn["by_day"]) == 4


def test_the_totals_stay_the_same_size_however_many_events(stats_redis):
    for i in range(50):
        stats.add_feedback(stats_redis, f"{i:032x}", i % 10, answer(i % 10, (i + 1) % 10))
    size = stats_redis.hlen(stats.TOTALS_KEY)
    for i in range(50, 2000):
        stats.add_feedback(stats_redis, f"{i:032x}", i % 10, answer(i % 10, (i + 1) % 10))
    assert stats_redis.hlen(stats.TOTALS_KEY) == size  # no field per event: one read serves
    assert stats.compute_stats(stats_redis)["feedback_events"] == 2000
