import datetime
from unittest import mock

import time_machine

from careportal.core.throttle import attempt_count, attempt_record, attempt_window_ends, attempts_clear


def test_attempts_count_up_within_a_window():
    assert attempt_count("t:a") == 0
    assert [attempt_record("t:a", window_seconds=60) for _ in range(3)] == [1, 2, 3]
    assert attempt_count("t:a") == 3


def test_counters_are_separate_per_key():
    attempt_record("t:b", window_seconds=60)
    assert attempt_count("t:c") == 0


def test_a_window_that_expires_mid_count_starts_again_at_one():
    attempt_record("t:d", window_seconds=60)
    with mock.patch("careportal.core.throttle.cache.incr", side_effect=ValueError):
        assert attempt_record("t:d", window_seconds=60) == 1


def test_a_window_says_when_it_ends_and_later_attempts_do_not_move_it():
    start = datetime.datetime(2026, 12, 4, 21, 0, tzinfo=datetime.UTC)
    assert attempt_window_ends("t:e") is None
    with time_machine.travel(start, tick=False) as traveller:
        attempt_record("t:e", window_seconds=600)
        traveller.shift(datetime.timedelta(minutes=4))
        assert attempt_record("t:e", window_seconds=600) == 2
        assert attempt_window_ends("t:e") == start + datetime.timedelta(minutes=10)
        traveller.shift(datetime.timedelta(minutes=6, seconds=1))
        assert attempt_count("t:e") == 0
        assert attempt_window_ends("t:e") is None


def test_cleared_attempts_start_a_new_window():
    attempt_record("t:f", window_seconds=60)
    attempts_clear("t:f")
    assert attempt_count("t:f") == 0
    assert attempt_window_ends("t:f") is None
    assert attempt_record("t:f", window_seconds=60) == 1
