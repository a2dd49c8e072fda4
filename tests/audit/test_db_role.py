"""PostgreSQL: the application's least-privilege role (`manage.py db_app_role`) can read and add audit events but
can neither change nor remove them, nor drop the triggers. Proved by connecting as a throwaway role."""

import io
import uuid
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.db import connection

from careportal.audit.db_protection import AUDIT_TABLES, app_role_sql

pytestmark = pytest.mark.django_db

INSERT_EVENT = (
    "INSERT INTO audit_accessevent (occurred_at, actor_name, actor_role, action, object_label, object_type, "
    "object_id, succeeded, request_id, app_name) VALUES (now(), '', 'system', 'view', 'x', '', '', true, '', '') "
    "RETURNING id"
)


def _connect(**overrides: str):  # type: ignore[no-untyped-def]
    import psycopg

    settings = connection.settings_dict
    options = {
        "host": settings["HOST"] or "127.0.0.1",
        "port": settings["PORT"] or 5432,
        "user": settings["USER"],
        "dbname": settings["NAME"],
        "password": settings["PASSWORD"] or None,
    }
    return psycopg.connect(**{**options, **overrides})


@pytest.fixture
def app_role() -> Iterator[str]:
    if connection.vendor != "postgresql":
        pytest.skip("roles are PostgreSQL's")
    # Roles belong to the whole server, which other test runs share: a unique name, always dropped.
    role = f"careportal_test_app_{uuid.uuid4().hex[:10]}"
    with _connect(autocommit=True) as admin:
        tables = [row[0] for row in admin.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
        try:
            for statement in app_role_sql(role=role, table_names=tables, database=connection.settings_dict["NAME"]):
                admin.execute(statement)
            yield role
        finally:
            admin.execute(f'DROP OWNED BY "{role}"')
            admin.execute(f'DROP ROLE "{role}"')


def test_the_application_role_may_add_audit_events_but_not_change_them(app_role):
    import psycopg

    refused: set[str] = set()
    statements = {
        "update": "UPDATE audit_accessevent SET object_label = 'x'",
        "delete": "DELETE FROM audit_accessevent",
        "truncate": "TRUNCATE audit_accessevent",
        "update seal": "UPDATE audit_auditseal SET hash = 'x'",
        "delete seal": "DELETE FROM audit_auditseal",
        "drop trigger": "DROP TRIGGER audit_accessevent_append_only ON audit_accessevent",
    }
    with _connect(user=app_role, password="") as as_app:
        # Each in its own transaction, all rolled back: nothing is left in the test database.
        for name, statement in statements.items():
            try:
                as_app.execute(statement)
            except psycopg.errors.InsufficientPrivilege as error:
                # The role's privileges refuse, not only the triggers (whose message says "append-only").
                if "permission denied" in str(error) or "must be owner" in str(error):
                    refused.add(name)
            as_app.rollback()
        inserted = as_app.execute(INSERT_EVENT).fetchone()
        other_tables = as_app.execute("UPDATE patients_patient SET town = town WHERE false").rowcount
        as_app.rollback()

    assert refused == set(statements)
    assert inserted is not None, "the application must be able to write audit events"
    assert other_tables == 0, "the application keeps full access to the other tables"


def test_the_command_prints_the_grants_for_an_operator_to_review():
    if connection.vendor != "postgresql":
        pytest.skip("roles are PostgreSQL's")
    out = io.StringIO()
    call_command("db_app_role", "--role", "careportal_app", stdout=out)

    sql = out.getvalue()
    for table in AUDIT_TABLES:
        assert f'GRANT SELECT, INSERT ON TABLE "{table}" TO "careportal_app";' in sql
        assert f'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "{table}"' not in sql
    assert 'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "patients_patient" TO "careportal_app";' in sql
