from typing import Any

from django.core.management.commands.flush import Command as FlushCommand
from django.db import connections

from careportal.audit.db_protection import AUDIT_TABLES, install_sql, uninstall_sql


class Command(FlushCommand):
    """`flush` for the tests: empties the audit tables too (careportal/audit/db_protection.py refuses that).

    PostgreSQL: the triggers are disabled for its length (the tests' user owns the tables). SQLite: the triggers are
    dropped and made again."""

    def handle(self, **options: Any) -> None:
        connection = connections[options["database"]]
        if connection.vendor == "postgresql":
            suspend = [f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only" for table in AUDIT_TABLES]
            restore = [f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only" for table in AUDIT_TABLES]
        else:
            suspend, restore = uninstall_sql(connection.vendor), install_sql(connection.vendor)
        with connection.cursor() as cursor:
            for statement in suspend:
                cursor.execute(statement)
        try:
            super().handle(**options)
        finally:
            with connection.cursor() as cursor:
                for statement in restore:
                    cursor.execute(statement)
