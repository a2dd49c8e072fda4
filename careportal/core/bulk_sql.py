"""Multi-row INSERTs built straight from field values, for the hot batch paths (the release job, HL7 in batches).

`QuerySet.bulk_create` is right almost everywhere, but in a job that writes hundreds of rows per batch it spends
more time than the database does: it builds a model instance per row, runs every field's pre_save and
get_db_prep_save on every row, and on PostgreSQL (Django 5.2) sends the rows as one array per column, which
psycopg's client-side binding (Django's default) quotes element by element in Python. `insert_rows` writes the
same rows as `INSERT … VALUES (…), (…) RETURNING id` with plain parameters, converting only the values of the
fields that need it (UUIDs on SQLite, JSON, aware datetimes on SQLite) the way the field itself would.

Callers pass every column they want written, with its final value: nothing here applies a field default,
auto_now or auto_now_add. Use it only where a batch dominates a profile; prefer bulk_create elsewhere.

`PreparedInsert` is the same idea for one statement run very often with a few rows (an audit event on every page
read, a stored HL7 message): its SQL is built once, and the caller converts the values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connections, models
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper

# Field classes whose Python value is already what the database driver takes, on every backend we support.
_PLAIN_FIELDS = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.BooleanField,
    models.ForeignKey,
    models.AutoField,
    models.BigAutoField,
)


def _preparer(field: models.Field, connection: Any) -> Any:
    if isinstance(field, _PLAIN_FIELDS) and not isinstance(field, models.GenericIPAddressField):
        return None
    return lambda value: field.get_db_prep_save(value, connection)


def insert_rows(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    returning_pk: bool = False,
    using: str = "default",
) -> list[int]:
    """INSERT `rows` (tuples of values in the order of `fields`, attribute names such as "report_id") into
    `model`'s table, in as few statements as the database's parameter limit allows, in the order given. Returns the
    new primary keys in that order when `returning_pk` (PostgreSQL and SQLite 3.35+), else []."""
    connection = connections[using]
    meta = model._meta
    concrete = [meta.get_field(name) for name in fields]
    columns = ", ".join(connection.ops.quote_name(str(field.column)) for field in concrete)  # type: ignore[union-attr]
    table = connection.ops.quote_name(meta.db_table)
    preparers = [(i, prep) for i, field in enumerate(concrete) if (prep := _preparer(field, connection))]  # type: ignore[arg-type]
    limit = connection.features.max_query_params or 65535
    per_statement = max(1, min(limit // max(len(fields), 1), 1000))
    returning = ""
    if returning_pk:
        if not connection.features.can_return_rows_from_bulk_insert:
            raise NotImplementedError("this database cannot return the ids of a multi-row INSERT")
        returning = f" RETURNING {connection.ops.quote_name(str(meta.pk.column))}"  # type: ignore[union-attr]
    if connection.vendor == "postgresql":
        return _insert_unnest(connection, table, columns, concrete, preparers, rows, returning)
    one_row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    ids: list[int] = []
    chunk: list[Any] = []
    count = 0

    def flush() -> None:
        nonlocal chunk, count
        if not count:
            return
        values = ", ".join([one_row] * count)
        sql = f"INSERT INTO {table} ({columns}) VALUES {values}{returning}"  # noqa: S608 - our own names  # nosec B608
        with connection.cursor() as cursor:
            cursor.execute(sql, chunk)
            if returning_pk:
                ids.extend(row[0] for row in cursor.fetchall())
        chunk, count = [], 0

    for row in rows:
        if preparers:
            row = list(row)
            for index, prepare in preparers:
                row[index] = prepare(row[index])
        chunk.extend(row)
        count += 1
        if count == per_statement:
            flush()
    flush()
    return ids


def _insert_unnest(
    connection: Any,
    table: str,
    columns: str,
    concrete: list[Any],
    preparers: list[tuple[int, Any]],
    rows: Iterable[Sequence[Any]],
    returning: str,
) -> list[int]:
    """PostgreSQL: one INSERT … SELECT FROM unnest(one array per column), with server-side binding. Django's own
    cursors bind on the client, which inlines every value into the SQL text: for hundreds of rows the server then
    spends longer parsing that text than inserting the rows. The cursor is wrapped as Django wraps its own, so query
    logging, execute_wrapper and django_assert_num_queries still see the statement."""
    prepared: list[list[Any]] = []
    for row in rows:
        values = list(row)
        for index, prepare in preparers:
            values[index] = prepare(values[index])
        prepared.append(values)
    if not prepared:
        return []
    arrays = [list(column) for column in zip(*prepared, strict=True)]
    for index, field in enumerate(concrete):
        if isinstance(field, models.JSONField):
            # Sent as text and cast: psycopg has no array form of its Jsonb wrapper.
            arrays[index] = [_json_text(value) for value in arrays[index]]
    # %b: binary arrays, which psycopg writes without escaping each string.
    casts = ", ".join(f"%b::{_array_type(field, connection)}" for field in concrete)
    sql = f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({casts}){returning}"  # noqa: S608 - our own names  # nosec B608
    with server_binding_cursor(connection) as cursor:
        cursor.execute(sql, arrays)
        return [row[0] for row in cursor.fetchall()] if returning else []


def server_binding_cursor(connection: Any, *, native_placeholders: bool = False) -> Any:
    """PostgreSQL: a cursor that sends its parameters apart from the SQL (psycopg.Cursor), for statements that
    take whole arrays; wrapped as Django wraps its own cursors, so that query logging, execute_wrapper and
    django_assert_num_queries see it. Use it as a context manager.

    With `native_placeholders`, the SQL is written with PostgreSQL's own placeholders ($1, $2, …) and psycopg sends
    it as it is (psycopg.RawCursor). A psycopg.Cursor rewrites %s placeholders into those on every execute, and
    remembers the rewritten text only for statements of at most 50 parameters: a multi-row INSERT of more would be
    scanned again every time (about 28 µs a row, measured with psycopg 3.3)."""
    import psycopg

    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        raw = (psycopg.RawCursor if native_placeholders else psycopg.Cursor)(connection.connection)
    if connection.queries_logged and not native_placeholders:
        return _ComposingDebugCursor(raw, connection)
    return connection._prepare_cursor(raw)


class _ComposingDebugCursor(CursorDebugWrapper):
    """Where queries are recorded (DEBUG, or a test capturing them): a server-bound statement is recorded with its
    parameters written in, as Django records its own, rather than as psycopg sent it ($1, $2, …), so that it can be
    read, and run again (EXPLAIN), on its own."""

    def execute(self, sql: Any, params: Any = None) -> Any:
        with self.debug_sql(self.db.ops.compose_sql(sql, params)):
            return CursorWrapper.execute(self, sql, params)


def _array_type(field: Any, connection: Any) -> str:
    if isinstance(field, models.JSONField):
        return "jsonb[]"
    db_type = field.rel_db_type(connection) if field.is_relation else field.db_type(connection)
    return f"{db_type.split(' CHECK', 1)[0]}[]"


def _json_text(value: Any) -> str | None:
    import json

    if value is None:
        return None
    if hasattr(value, "obj"):
        # psycopg's Jsonb wrapper, as JSONField.get_db_prep_save returns it, with the field's encoder in `dumps`.
        return (getattr(value, "dumps", None) or json.dumps)(value.obj)  # type: ignore[no-any-return]
    return value if isinstance(value, str) else json.dumps(value)


def insert_instances(objs: Sequence[models.Model], *, using: str = "default") -> None:
    """`Model.objects.bulk_create(objs)` for unsaved instances of one model whose primary key is an auto field:
    the same pre_save (auto_now, auto_now_add) and the same values, written by `insert_rows`, and each instance
    given its new id and marked saved, as bulk_create does. No signals, as with bulk_create."""
    if not objs:
        return
    model = type(objs[0])
    if any(obj.pk is not None for obj in objs):
        # An instance with its own id: bulk_create inserts it under that id, which this does not do.
        model._default_manager.using(using).bulk_create(objs)  # type: ignore[attr-defined]
        return
    meta = model._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    for obj in objs:
        # As bulk_create: a foreign key set to an instance saved since (a report whose INSERT just ran) takes its id.
        obj._prepare_related_fields_for_save(operation_name="bulk_create")  # type: ignore[attr-defined]
    rows = [[field.pre_save(obj, True) for field in fields] for obj in objs]  # type: ignore[attr-defined]
    ids = insert_rows(model, [field.attname for field in fields], rows, returning_pk=True, using=using)
    for obj, pk in zip(objs, ids, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = using


def update_instances(objs: Sequence[models.Model], fields: Sequence[str], *, using: str = "default") -> None:
    """`Model.objects.bulk_update(objs, fields)` for saved instances of one model, as one `UPDATE … FROM` a list
    of rows per statement (as many rows as the database's parameter limit allows) rather than the ORM's CASE WHEN
    per field and row. Values are written as they are on the instances: no pre_save, so set an auto_now field
    yourself, as bulk_update needs too. PostgreSQL, or SQLite 3.33 and later."""
    if not objs:
        return
    connection = connections[using]
    meta = type(objs[0])._meta
    concrete = [meta.pk, *(meta.get_field(name) for name in fields)]
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    preparers = [(i, prep) for i, field in enumerate(concrete) if (prep := _preparer(field, connection))]  # type: ignore[arg-type]
    rows: list[list[Any]] = []
    for obj in objs:
        row = [getattr(obj, field.attname) for field in concrete]  # type: ignore[union-attr]
        for index, prepare in preparers:
            row[index] = prepare(row[index])
        rows.append(row)
    names = [quote(str(field.column)) for field in concrete]  # type: ignore[union-attr]
    if connection.vendor == "postgresql":
        arrays = [list(column) for column in zip(*rows, strict=True)]
        for index, field in enumerate(concrete):
            if isinstance(field, models.JSONField):
                arrays[index] = [_json_text(value) for value in arrays[index]]
        casts = ", ".join(f"%b::{_array_type(field, connection)}" for field in concrete)
        sets = ", ".join(f"{name} = v.{name}" for name in names[1:])
        sql = (
            f"UPDATE {table} SET {sets} FROM unnest({casts}) AS v({', '.join(names)}) "  # noqa: S608 - our own names  # nosec B608
            f"WHERE {table}.{names[0]} = v.{names[0]}"
        )
        with server_binding_cursor(connection) as cursor:
            cursor.execute(sql, arrays)
        return
    # SQLite: a VALUES list names its columns column1, column2, …
    sets = ", ".join(f"{name} = v.column{i}" for i, name in enumerate(names[1:], 2))
    per_statement = max(1, (connection.features.max_query_params or 999) // len(concrete))
    one_row = "(" + ", ".join(["%s"] * len(concrete)) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            sql = (
                f"UPDATE {table} SET {sets} FROM (VALUES {', '.join([one_row] * len(chunk))}) AS v "  # noqa: S608 - our own names  # nosec B608
                f"WHERE {table}.{names[0]} = v.column1"
            )
            cursor.execute(sql, [value for row in chunk for value in row])


class PreparedInsert:
    """`INSERT INTO <model's table> (<fields>) VALUES (…), …` for a statement run on every request or message (an
    audit event, a stored HL7 message): the SQL is built once per database and row count, not compiled by the ORM
    each time, and on PostgreSQL the values are sent apart from it (server-side binding), so psycopg prepares the
    statement once per connection (after its fifth use) and the server stops parsing and planning it. There the SQL
    is written with PostgreSQL's own placeholders, so psycopg need not rewrite it on each call
    (`server_binding_cursor`).

    The caller passes each row's values ready for the driver, in the order of `fields` (attribute names such as
    "patient_id"): only the caller knows which few need converting, and converting none here is the point. Asks
    for nothing back. Keep the row counts few (a listener's batches are at most 25 rows), since each has its own
    statement."""

    def __init__(self, model: type[models.Model], fields: Sequence[str]) -> None:
        self.model = model
        self.fields = tuple(fields)
        self._sql: dict[tuple[str, int], str] = {}

    def _statement(self, connection: Any, rows: int) -> str:
        key = (connection.vendor, rows)
        sql = self._sql.get(key)
        if sql is None:
            meta = self.model._meta
            table = connection.ops.quote_name(meta.db_table)
            columns = ", ".join(connection.ops.quote_name(str(meta.get_field(name).column)) for name in self.fields)  # type: ignore[union-attr]
            width = len(self.fields)
            if connection.vendor == "postgresql":
                values = ", ".join(
                    "(" + ", ".join(f"${row * width + column}" for column in range(1, width + 1)) + ")"
                    for row in range(rows)
                )
            else:
                values = ", ".join(["(" + ", ".join(["%s"] * width) + ")"] * rows)
            sql = f"INSERT INTO {table} ({columns}) VALUES {values}"  # noqa: S608 - our own names  # nosec B608
            self._sql[key] = sql
        return sql

    def statement(self, rows: Sequence[Sequence[Any]], *, using: str = "default") -> tuple[str, list[Any]]:
        """The SQL and parameters that INSERT `rows`, for a caller that runs them on a connection of its own (the
        MLLP listener's event loop, on PostgreSQL: `$n` placeholders, for a psycopg RawCursor)."""
        sql = self._statement(connections[using], len(rows))
        return sql, [value for row in rows for value in row] if len(rows) > 1 else list(rows[0])

    def execute(self, rows: Sequence[Sequence[Any]], *, using: str = "default") -> None:
        """INSERT `rows` in one statement, in the order given."""
        if not rows:
            return
        connection = connections[using]
        sql, params = self.statement(rows, using=using)
        if connection.vendor == "postgresql":
            with server_binding_cursor(connection, native_placeholders=True) as cursor:
                cursor.execute(sql, params)
            return
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
