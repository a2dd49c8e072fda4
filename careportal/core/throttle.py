"""Fixed-window attempt counters in the cache, for the throttles on activation, recovery, two-step codes and
support requests. The window starts at the first attempt and later attempts do not extend it.

With several web processes the cache must be shared (CACHE_URL, e.g. Redis), or each process counts alone.
"""

import datetime
import time

from django.core.cache import cache


def _ends_key(key: str) -> str:
    return f"{key}:window-ends"


def attempt_count(key: str) -> int:
    """How many attempts the current window holds for `key`."""
    return int(cache.get(key, 0))


def _window_start(key: str, window_seconds: int) -> None:
    # When the window ends, kept beside the count (the cache API cannot say when a key expires).
    cache.set(_ends_key(key), time.time() + window_seconds, timeout=window_seconds)


def attempt_record(key: str, *, window_seconds: int) -> int:
    """Count one more attempt for `key`; returns the count in the current window."""
    if cache.add(key, 1, timeout=window_seconds):
        _window_start(key, window_seconds)
        return 1
    try:
        return int(cache.incr(key))
    except ValueError:  # the window expired between add() and incr(): this attempt starts a new one
        cache.set(key, 1, timeout=window_seconds)
        _window_start(key, window_seconds)
        return 1


def attempt_window_ends(key: str) -> datetime.datetime | None:
    """When the current window for `key` ends (and its count starts again from nothing), or None without one."""
    if not attempt_count(key):
        return None
    ends = cache.get(_ends_key(key))
    return datetime.datetime.fromtimestamp(float(ends), tz=datetime.UTC) if ends is not None else None


def attempts_clear(key: str) -> None:
    """Forget the attempts for `key`: the next one starts a new window."""
    cache.delete_many([key, _ends_key(key)])
