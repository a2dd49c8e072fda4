"""careportal/core/bulk_sql.py: the hand-built multi-row INSERTs store exactly what bulk_create stores."""

import datetime
import uuid

import pytest
from django.db import connection
from django.utils import timezone

from careportal.core.bulk_sql import PreparedInsert, insert_instances, insert_rows, update_instances
from careportal.notifications.models import Notification
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db

# Values that need care on the way in: quotes, backslashes, braces and commas (array syntax), non-ASCII, JSON.
AWKWARD = ['O\'Brien "quoted"', "back\\slash {braces}, commas", "Zoë Łódź 漢字", ""]


# One fixed moment for every call: rows built a second apart by `timezone.now()` would differ in next_attempt_at, and
# the tests compare rows built by separate calls.
WHEN = datetime.datetime(2026, 11, 2, 9, 30, 15, 123456, tzinfo=datetime.UTC)


def _notifications(user_id: int | None) -> list[Notification]:
    when = WHEN
    return [
        Notification(
            user_id=user_id if i % 2 else None,
            kind=f"kind-{i}",
            to_address=text,
            personalisation={"first_name": text, "n": i} if i % 3 else {},
            attempts=i,
            last_error=text[:10],
            next_attempt_at=when + datetime.timedelta(minutes=i) if i % 2 else None,
        )
        for i, text in enumerate(AWKWARD * 3)
    ]


def _stored(ids: list[int]) -> list[dict]:
    rows = Notification.objects.filter(pk__in=ids).order_by("pk").values()
    return [{k: v for k, v in row.items() if k not in {"id", "public_id", "created_at"}} for row in rows]


def test_insert_instances_stores_what_bulk_create_stores_and_saves_the_instances(django_assert_num_queries):
    user = UserFactory()
    expected = Notification.objects.bulk_create(_notifications(user.pk))
    mine = _notifications(user.pk)
    with django_assert_num_queries(1):
        insert_instances(mine)
    assert all(n.pk is not None and not n._state.adding for n in mine)
    assert [n.pk for n in mine] == sorted(n.pk for n in mine)  # ids in the order given
    assert _stored([n.pk for n in mine]) == _stored([n.pk for n in expected])
    # auto_now_add ran (pre_save), as in bulk_create, and each instance carries the values it was stored with.
    stored = {n.pk: n for n in Notification.objects.filter(pk__in=[n.pk for n in mine])}
    assert all(stored[n.pk].created_at == n.created_at and stored[n.pk].public_id == n.public_id for n in mine)


def test_insert_rows_splits_at_the_parameter_limit_and_keeps_the_order(django_assert_max_num_queries):
    now = timezone.now()
    count = 700  # 10 columns: far more than SQLite's 999 parameters, so several statements there; one on PostgreSQL
    fields = ("public_id", "kind", "channel", "to_address", "personalisation", "status", "attempts", "last_error")
    fields += ("provider_reference", "created_at")
    rows = [(uuid.uuid4(), "k", "email", f"n{i}@example.org", {"i": i}, "queued", 0, "", "", now) for i in range(count)]
    statements = 1 if connection.vendor == "postgresql" else -(-count // (999 // len(fields)))
    with django_assert_max_num_queries(statements):
        ids = insert_rows(Notification, fields, rows, returning_pk=True)
    assert len(ids) == count and ids == sorted(ids)
    stored = dict(Notification.objects.filter(pk__in=ids).values_list("pk", "to_address"))
    assert [stored[pk] for pk in ids] == [f"n{i}@example.org" for i in range(count)]
    assert insert_rows(Notification, fields, [], returning_pk=True) == []


def test_update_instances_stores_what_bulk_update_stores(django_assert_num_queries):
    user = UserFactory()
    fields = ["user", "to_address", "personalisation", "attempts", "last_error", "next_attempt_at"]
    expected = Notification.objects.bulk_create(_notifications(None))
    mine = Notification.objects.bulk_create(_notifications(None))
    untouched = Notification.objects.bulk_create(_notifications(None))
    later = timezone.now().replace(microsecond=654321)
    for pair in zip(expected, mine, strict=True):
        for obj in pair:
            obj.user_id = user.pk if obj.attempts % 2 else None
            obj.to_address = obj.last_error[::-1] + AWKWARD[obj.attempts % len(AWKWARD)]
            obj.personalisation = {"changed": obj.to_address} if obj.attempts % 2 else {}
            obj.attempts += 10
            obj.next_attempt_at = None if obj.next_attempt_at else later
            obj.kind = "not written"  # not among the fields: stays as stored
    Notification.objects.bulk_update(expected, fields)
    with django_assert_num_queries(1):
        update_instances(mine, fields)
    assert _stored([n.pk for n in mine]) == _stored([n.pk for n in expected])
    assert not Notification.objects.filter(kind="not written").exists()
    assert _stored([n.pk for n in untouched]) == _stored(
        [n.pk for n in Notification.objects.bulk_create(_notifications(None))]
    )


def test_a_prepared_insert_builds_each_statement_once_and_stores_rows_in_order(django_assert_num_queries):
    """PreparedInsert (the audit event and the stored HL7 message): one statement per call, built once per row
    count, the values stored as given, awkward ones too."""
    fields = ("public_id", "kind", "channel", "to_address", "status", "attempts", "last_error", "provider_reference")
    fields += ("created_at", "personalisation")
    insert = PreparedInsert(Notification, fields)
    now = timezone.now()

    def rows(texts: list[str]) -> list[list]:
        # Ready for the driver, as the callers make them: each value through its field's get_db_prep_save.
        return [
            [
                Notification._meta.get_field(name).get_db_prep_save(value, connection)
                for name, value in zip(
                    fields, (uuid.uuid4(), "k", "email", text, "queued", i, "", "", now, {"i": i}), strict=True
                )
            ]
            for i, text in enumerate(texts)
        ]

    with django_assert_num_queries(1) as captured:
        insert.execute(rows(AWKWARD))
    if connection.vendor == "postgresql":
        # PostgreSQL's own placeholders, numbered across the rows: psycopg sends the SQL as written, where it would
        # scan %s placeholders again on every call once a statement has more than 50 parameters.
        sql = captured.captured_queries[0]["sql"]
        assert "%s" not in sql
        assert f"${len(fields) * len(AWKWARD)})" in sql
    with django_assert_num_queries(1):
        insert.execute(rows(["one more"]))
    with django_assert_num_queries(0):
        insert.execute([])
    stored = list(Notification.objects.order_by("pk").values_list("to_address", "attempts"))
    assert stored == [(text, i) for i, text in enumerate(AWKWARD)] + [("one more", 0)]
    assert sorted(count for _, count in insert._sql) == [1, len(AWKWARD)]  # a statement per row count, kept
    insert.execute(rows(AWKWARD))
    assert len(insert._sql) == 2
    # More than 50 parameters in one statement: still one statement, every row as given.
    many = [f"row {n}" for n in range(12)]
    with django_assert_num_queries(1):
        insert.execute(rows(many))
    assert list(Notification.objects.order_by("-pk").values_list("to_address", flat=True)[:12])[::-1] == many
