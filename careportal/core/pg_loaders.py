"""Timestamps read from PostgreSQL by psycopg's C loader instead of the pure-Python one Django registers.

Django (5.2, with psycopg 3) registers its own loader for every `timestamptz` column on every connection: a
subclass of psycopg's *pure-Python* `TimestamptzLoader` that then replaces the time zone with UTC. psycopg's C
loader (psycopg-binary) cannot be subclassed (its class is final), so with Django every timestamp a query returns
is parsed in Python: about 4% of the CPU of the signed-in test results page, which reads five timestamps a report,
and more for the pages and jobs that read many rows (Django ticket #36960; psycopg issue #1273).

`use_c_timestamp_loader` registers, on each new PostgreSQL connection, a loader whose `load` *is* the C loader's:
psycopg looks up `loader.load` once per column, so each value is parsed in C with no Python call at all. The C
loader returns the instant in the session's time zone; Django sets every session's TimeZone to UTC when USE_TZ is
on (always, here), so the values are exactly Django's: aware datetimes in `datetime.timezone.utc`. Where that does
not hold (USE_TZ off, a database TIME_ZONE setting, or psycopg without its C implementation) Django's own loader is
left in place.
"""

import datetime
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper


def _c_timestamptz_loader() -> type | None:
    """psycopg's C loader for timestamptz text values, or None when psycopg runs in pure Python."""
    try:
        import psycopg
        from psycopg.pq import Format
    except ImportError:  # no PostgreSQL driver: SQLite only
        return None
    loader = psycopg.adapters.get_loader(psycopg.postgres.types["timestamptz"].oid, Format.TEXT)
    # The global adapters map holds the C classes when psycopg-binary (or psycopg-c) is installed.
    if loader is None or not loader.__module__.startswith(("psycopg_binary", "psycopg_c")):
        return None
    return loader


def _utc_loader_class(c_loader: type) -> type:
    from psycopg.adapt import Loader

    class UTCTimestamptzLoader(Loader):
        # Django's create_cursor compares this with the connection's time zone: equal, so it leaves this loader in
        # place instead of registering its pure-Python one again on every cursor.
        timezone = datetime.UTC

        def __init__(self, oid: int, context: Any = None) -> None:
            super().__init__(oid, context)
            # The C loader of the same column, made with the same connection: it reads the session's time zone.
            self.load = c_loader(oid, context).load  # type: ignore[method-assign]

        def load(self, data: Any) -> datetime.datetime:  # replaced per instance in __init__, above
            raise NotImplementedError

    return UTCTimestamptzLoader


_LOADER: type | None = None


def use_c_timestamp_loader(*, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """The `connection_created` receiver (careportal.core.apps)."""
    global _LOADER
    if connection.vendor != "postgresql" or connection.timezone is not datetime.UTC:
        return
    if connection.connection.info.parameter_status("TimeZone") != "UTC":
        return  # Django sets it on connecting; were it ever not UTC, Django's loader is the one that is right
    if _LOADER is None:
        c_loader = _c_timestamptz_loader()
        if c_loader is None:
            return
        _LOADER = _utc_loader_class(c_loader)
    connection.connection.adapters.register_loader("timestamptz", _LOADER)
