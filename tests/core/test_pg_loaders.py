"""careportal/core/pg_loaders.py: on PostgreSQL timestamps are read by psycopg's C loader, with exactly the values
Django's own (pure-Python) loader gives."""

import datetime
from types import SimpleNamespace

import pytest
from django.db import connection
from django.utils import timezone

from careportal.core.pg_loaders import use_c_timestamp_loader
from careportal.notifications.models import Notification

pytestmark = pytest.mark.django_db

needs_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="a psycopg loader: PostgreSQL only")

# Offsets, fractions of a second, the ends of the calendar and a British clock change, as text PostgreSQL parses.
AWKWARD_TIMESTAMPS = [
    "2026-12-07 11:00:00+00",
    "2026-12-07 11:00:00.123456+05:30",
    "2026-03-29 00:59:59.999999+00",
    "2026-03-29 02:30:00 Europe/London",
    "2026-10-25 01:30:00+01",
    "1900-01-01 00:00:00-00:01:15",
    "0001-01-01 00:00:00+00",
    "9999-12-31 23:59:59.999999+00",
]


def _read(sql_values: list[str], *, djangos_loader: bool) -> list[datetime.datetime]:
    from django.db.backends.postgresql.psycopg_any import register_tzloader

    with connection.cursor() as cursor:
        if djangos_loader:
            register_tzloader(connection.timezone, cursor.cursor)  # what Django registers without ours
        placeholders = ", ".join(["%s::timestamptz"] * len(sql_values))
        cursor.execute(f"SELECT {placeholders}", sql_values)
        return list(cursor.fetchone())


@needs_postgresql
def test_every_postgresql_connection_reads_timestamps_with_the_c_loader() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        loader_class = cursor.cursor.adapters.get_loader(1184, 0)  # timestamptz, text
        load = loader_class(1184, cursor.cursor).load
    assert loader_class.__name__ == "UTCTimestamptzLoader"
    # The bound method of psycopg's compiled loader, so a value costs no Python call at all.
    assert type(load.__self__).__module__.startswith(("psycopg_binary", "psycopg_c"))
    # Django compares this with the connection's zone on every cursor; equal, it does not put its own loader back.
    assert loader_class.timezone is connection.timezone is datetime.UTC


@needs_postgresql
def test_the_c_loader_gives_exactly_djangos_values() -> None:
    ours = _read(AWKWARD_TIMESTAMPS, djangos_loader=False)
    djangos = _read(AWKWARD_TIMESTAMPS, djangos_loader=True)
    assert ours == djangos
    assert [value.tzinfo for value in ours] == [datetime.UTC] * len(AWKWARD_TIMESTAMPS)
    assert ours[1] == datetime.datetime(2026, 12, 7, 5, 30, 0, 123456, tzinfo=datetime.UTC)


@needs_postgresql
def test_a_timestamp_out_of_pythons_range_is_a_database_error_as_before() -> None:
    from django.db import DataError

    with pytest.raises(DataError):
        _read(["infinity"], djangos_loader=False)


def test_a_model_reads_back_the_aware_utc_time_it_stored() -> None:
    when = datetime.datetime(2026, 12, 7, 9, 30, 15, 123456, tzinfo=datetime.UTC)
    Notification.objects.create(kind="k", to_address="someone@example.org", next_attempt_at=when)
    stored = Notification.objects.get().next_attempt_at
    assert stored == when
    assert timezone.is_aware(stored)
    assert stored.utcoffset() == datetime.timedelta(0)


@needs_postgresql
def test_a_session_not_in_utc_keeps_djangos_loader() -> None:
    """Were the session's zone ever not UTC, the C loader would answer in that zone: Django's is left in place."""
    import psycopg
    from django.db.backends.postgresql.psycopg_any import get_adapters_template

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params["context"] = get_adapters_template(True, datetime.UTC)
    with psycopg.connect(**params, autocommit=True) as raw:
        raw.execute("SET TIME ZONE 'Europe/London'")
        before = raw.adapters.get_loader(1184, 0)
        use_c_timestamp_loader(connection=SimpleNamespace(vendor="postgresql", timezone=datetime.UTC, connection=raw))
        assert raw.adapters.get_loader(1184, 0) is before
        assert before.__name__ == "SpecificTzLoader"  # Django's


def test_other_databases_and_zones_are_left_alone() -> None:
    untouched = SimpleNamespace(vendor="sqlite", timezone=datetime.UTC, connection=None)
    use_c_timestamp_loader(connection=untouched)  # would fail on `None.info` if it went further
    no_zone = SimpleNamespace(vendor="postgresql", timezone=None, connection=None)
    use_c_timestamp_loader(connection=no_zone)
