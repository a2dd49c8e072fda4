from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections, transaction

from careportal.core.checksums import table_checksums


class Command(BaseCommand):
    help = (
        "Print every table's row count and checksum (SHA-256 of its rows in primary-key order), to compare a "
        "restored copy with its source: run on both and diff the output (docs/operations.md, Backup and restore)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--database", default="default")
        parser.add_argument(
            "--snapshot",
            default="",
            help="PostgreSQL: read the snapshot another session exported with pg_export_snapshot(), the one "
            "`pg_dump --snapshot` dumped, so that a live database can be compared with its backup.",
        )

    def handle(self, *args: object, **options: object) -> None:
        alias = str(options["database"])
        connection = connections[alias]
        snapshot = str(options["snapshot"])
        if snapshot and connection.vendor != "postgresql":
            raise CommandError("--snapshot is for PostgreSQL")
        with transaction.atomic(using=alias):
            if connection.vendor == "postgresql":
                # Every table from one snapshot, so that the counts belong together on a live database.
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    if snapshot:
                        cursor.execute("SET TRANSACTION SNAPSHOT %s", [snapshot])
            checksums = table_checksums(connection)
        width = max((len(table) for table in checksums), default=5)
        for table, (rows, digest) in checksums.items():
            self.stdout.write(f"{table:<{width}}  {rows:>10}  {digest}")
