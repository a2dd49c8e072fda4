"""Fixed-window attempt counters in the cache, for the throttles on activation, recovery, two-step codes and
support requests. The window starts at the first attempt and later attempts do not extend it.

With several web processes the cache must be shared (CACHE_URL, e.g. Redis), or each process counts alone.
"""

from django.core.cache import cache


def attempt_count(key: str) -> int:
    """How many attempts the current window holds for `key`."""
    return int(cache.get(key, 0))


def attempt_record(key: str, *, window_seconds: int) -> int:
    """Count one more attempt for `key`; returns the count in the current window."""
    if cache.add(key, 1, timeout=window_seconds):
        return 1
    try:
        return int(cache.incr(key))
    except ValueError:  # the window expired between add() and incr(): this attempt starts a new one
        cache.set(key, 1, timeout=window_seconds)
        return 1
