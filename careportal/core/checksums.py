"""Row counts and checksums per table (`manage.py db_checksums`), to compare a restored copy with its source.

A table's checksum is SHA-256 over its rows in primary-key order, each row as canonical JSON of its column values.
It depends only on the data, not on how or where it is stored, so the same data gives the same checksum on two
instances of the same database engine (not across engines: SQLite and PostgreSQL return some types differently).
"""

import datetime
import decimal
import hashlib
import json
import uuid
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    return str(value)


def table_checksums(connection: BaseDatabaseWrapper) -> dict[str, tuple[int, str]]:
    """{table: (rows, sha256)} for every table in the database, read in one transaction."""
    quote = connection.ops.quote_name
    checksums: dict[str, tuple[int, str]] = {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names(cursor)):
            order = connection.introspection.get_primary_key_columns(cursor, table) or [
                column.name for column in connection.introspection.get_table_description(cursor, table)
            ]
            cursor.execute(
                f"SELECT * FROM {quote(table)} ORDER BY {', '.join(quote(column) for column in order)}"  # noqa: S608 - names from introspection, quoted  # nosec B608
            )
            digest, rows = hashlib.sha256(), 0
            while batch := cursor.fetchmany(2000):
                for row in batch:
                    digest.update(json.dumps(row, default=_plain, separators=(",", ":")).encode() + b"\n")
                rows += len(batch)
            checksums[table] = (rows, digest.hexdigest())
    return checksums
