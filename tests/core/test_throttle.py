from unittest import mock

from careportal.core.throttle import attempt_count, attempt_record


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
