from typing import Any

from django.core.management.commands.flush import Command as FlushCommand
from django.db import connections

from careportal.audit.db_protection import install_sql, uninstall_sql


class Command(FlushCommand):
    """`flush` for the tests: empties the audit tables too (careportal/audit/db_protection.py refuses that).

    PostgreSQL: triggers do not fire in `session_replication_role = replica` (superuser only, as the tests' user
    is). SQLite: the triggers are dropped and made again."""

    def handle(self, **options: Any) -> None:
        connection = connections[options["database"]]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET session_replication_role = replica")
            try:
                super().handle(**options)
            finally:
                with connection.cursor() as cursor:
                    cursor.execute("SET session_replication_role = DEFAULT")
            return
        with connection.cursor() as cursor:
            for statement in uninstall_sql(connection.vendor):
                cursor.execute(statement)
        try:
            super().handle(**options)
        finally:
            with connection.cursor() as cursor:
                for statement in install_sql(connection.vendor):
                    cursor.execute(statement)
