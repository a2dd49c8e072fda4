from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from careportal.audit.db_protection import app_role_sql


class Command(BaseCommand):
    help = (
        "PostgreSQL: print (or, with --apply, run) the GRANT and REVOKE statements that give the application's role "
        "what it needs and no more: full data access to every table but the audit tables, SELECT and INSERT only "
        "on those. Run as the owner of the tables (the role that runs migrate), after every migrate."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--role", required=True, help="The role the web processes, workers and scheduler use.")
        parser.add_argument("--apply", action="store_true", help="Run the statements instead of printing them.")
        parser.add_argument("--database", default="default")

    def handle(self, *args: object, **options: object) -> None:
        connection = connections[str(options["database"])]
        if connection.vendor != "postgresql":
            raise CommandError("db_app_role is for PostgreSQL: SQLite has no roles (its triggers still refuse changes)")
        with connection.cursor() as cursor:
            tables = connection.introspection.table_names(cursor)
        statements = app_role_sql(
            role=str(options["role"]), table_names=tables, database=str(connection.settings_dict["NAME"])
        )
        if not options["apply"]:
            self.stdout.write(";\n".join(statements) + ";")
            return
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
        self.stdout.write(f"Granted {options['role']} access to {len(tables)} tables (audit tables: SELECT, INSERT).")
