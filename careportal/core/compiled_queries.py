"""A queryset whose SQL the ORM writes once per process, then runs with each call's ids or keys.

The ORM builds and compiles a queryset's SQL again every time it runs: for the queries every patient page or API
call makes (whose record this is, the patient's result preferences, the tests on the results page, the app's access
token) that was 130-460 µs a query, as long as running it. These queries differ from one request to the next only
in an id (the user's, the patient's) or a key (a token's checksum). `CompiledQuery` asks the ORM for the SQL once,
with stand-in values, notes where the stand-ins are among the parameters, and from then on runs that SQL with the
real values in their places: the same statement, written by the ORM from the same queryset code, so a change to
that code changes the SQL too.

The contract: `build(*args)` returns a queryset in which everything but those arguments is the same on every call
(constants, choices, columns), and each argument is compared for equality (`field=value`), so that it reaches the
SQL as a parameter of its own, unchanged. An integer argument is an id; a string argument a key. A value that
changes in any other way (a date, a list whose length varies, a pattern) must not be in a compiled query; build
the queryset with the ORM as usual instead. `select_related` works (the related rows are read by the same
statement); `prefetch_related`, which would need queries of its own, is refused.

`instances()` makes the model instances without `Model.__init__` (see `_new_instance`): for the fifty
observations of a FHIR page, each with its report and patient, `__init__` walking every field of each model was a
quarter of the request's CPU.

Measured with the web benchmark's server on 2 cores (bench/bench_web.py setup, paired runs): the signed-in results
page served 164-188 requests/s with its three hot queries compiled, against 127-142 without. In-process
(bench/profile_pages.py), a FHIR Observation search of fifty values took 11.1 ms of CPU before its bearer token,
its first page and their instances went through here, and 5.5 ms after.
"""

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model, QuerySet
from django.db.models.base import ModelState
from django.db.models.query import get_related_populators
from django.db.models.signals import post_init, pre_init
from django.db.models.sql.compiler import SQLCompiler

from careportal.core.bulk_sql import server_binding_cursor

# Stand-in ids: far below any id a table can hold (they count up from 1), so never mistaken for a real one.
_STAND_IN_BASE = -7_318_449_250_000_000_000
# Stand-in keys: no key this project looks up (token checksums, codes) has this shape.
_STAND_IN_KEY = "careportal.core.compiled_queries: stand-in key {}"

Argument = type[int] | type[str]


def _stand_ins(takes: tuple[Argument, ...]) -> tuple[int | str, ...]:
    return tuple(_STAND_IN_BASE - n if kind is int else _STAND_IN_KEY.format(n) for n, kind in enumerate(takes))


@dataclass(frozen=True)
class _Compiled:
    model: type[Model]
    alias: str
    sql: str
    params: tuple[Any, ...]
    slots: tuple[tuple[int, int], ...]  # (position among the parameters, which argument goes there)
    compiler: SQLCompiler  # as it stood after writing the SQL: the columns, and which model each belongs to
    # The value converters (SQLite's dates, for one) for each database connection (one per thread) that ran it.
    converters: weakref.WeakKeyDictionary[BaseDatabaseWrapper, tuple[SQLCompiler, dict[int, Any]]] = field(
        default_factory=weakref.WeakKeyDictionary
    )


class CompiledQuery:
    """`build(*args)`'s SQL, written by the ORM on first use; `instances(*args)` and `rows(*args)` run it.

    `takes` gives each argument's type, in order: `int` for an id (the default: one id), `str` for a key."""

    def __init__(self, build: Callable[..., QuerySet[Any]], *, takes: tuple[Argument, ...] = (int,)) -> None:
        if not takes or any(kind not in (int, str) for kind in takes):
            raise ImproperlyConfigured(f"{build.__qualname__}: a compiled query takes ids (int) and keys (str)")
        self._build = build
        self._takes = takes
        self._compiled: dict[str, _Compiled] = {}  # by database vendor: the test suite runs on both

    def _compile(self) -> _Compiled:
        stand_ins = _stand_ins(self._takes)
        queryset: Any = self._build(*stand_ins)
        if queryset._prefetch_related_lookups or queryset._known_related_objects:
            raise ImproperlyConfigured(f"{self._build.__qualname__}: a compiled query is one statement")
        alias = queryset.db
        compiler = queryset.query.get_compiler(alias)
        sql, params = compiler.as_sql()
        slots = tuple(
            (position, stand_ins.index(value))
            for position, value in enumerate(params)
            if type(value) in (int, str) and value in stand_ins
        )
        if {which for _, which in slots} != set(range(len(stand_ins))):
            raise ImproperlyConfigured(
                f"{self._build.__qualname__}: every argument must reach the SQL as a parameter of its own "
                f"(found {len({which for _, which in slots})} of {len(stand_ins)})"
            )
        return _Compiled(queryset.model, alias, sql, tuple(params), slots, compiler)

    def _for_this_database(self) -> _Compiled:
        vendor = connections["default"].vendor
        compiled = self._compiled.get(vendor)
        if compiled is None:
            compiled = self._compiled[vendor] = self._compile()
        return compiled

    def _check(self, args: tuple[Any, ...]) -> None:
        if len(args) != len(self._takes) or any(type(v) is not t for v, t in zip(args, self._takes, strict=False)):
            wanted = ", ".join(kind.__name__ for kind in self._takes)
            raise TypeError(f"{self._build.__qualname__} takes ({wanted}), not {args!r}")

    def _fetch(self, args: tuple[Any, ...]) -> tuple[_Compiled, BaseDatabaseWrapper, list[Any]]:
        self._check(args)
        compiled = self._for_this_database()
        params = list(compiled.params)
        for position, which in compiled.slots:
            params[position] = args[which]
        connection = connections[compiled.alias]
        # On PostgreSQL the parameters go apart from the SQL, so that psycopg prepares the statement on a connection's
        # fifth use of it and PostgreSQL stops planning it: planning the bearer token's six-table join took 0.9 ms,
        # running it 0.07 ms.
        cursor = server_binding_cursor(connection) if connection.vendor == "postgresql" else connection.cursor()
        with cursor:
            cursor.execute(compiled.sql, params)
            return compiled, connection, cursor.fetchall()

    def instances(self, *args: Any) -> list[Any]:
        """The model instances, as iterating the queryset gives them: with any `select_related` rows on them, and
        any annotations as attributes."""
        compiled, connection, rows = self._fetch(args)
        if not rows:
            return []
        compiler, converters = _converters(compiled, connection)
        if converters:
            rows = list(compiler.apply_converters(rows, converters))
        return list(_model_instances(compiled, rows))

    def rows(self, *args: Any) -> list[tuple[Any, ...]]:
        """The rows as tuples, the columns in the queryset's order (for `values_list` querysets). Values come as
        the database driver gives them: on SQLite a boolean column is 0 or 1."""
        return [tuple(row) for row in self._fetch(args)[2]]


def _converters(compiled: _Compiled, connection: BaseDatabaseWrapper) -> tuple[SQLCompiler, dict[int, Any]]:
    known = compiled.converters.get(connection)
    if known is None:
        # A compiler of this thread's connection: converters may read the connection they are given.
        compiler = compiled.compiler.query.get_compiler(connection=connection)
        columns = [column for column, _, _ in compiled.compiler.select[: compiled.compiler.col_count]]
        known = compiled.converters[connection] = (compiler, compiler.get_converters(columns))
    return known


def _model_instances(compiled: _Compiled, rows: list[Any]) -> Any:
    """What Django's ModelIterable does with a statement's rows, from the columns noted when it was written."""
    select, klass_info = compiled.compiler.select, compiled.compiler.klass_info
    if klass_info is None:
        raise ImproperlyConfigured(f"{compiled.model.__name__}: instances() needs a queryset of model instances")
    start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
    init_list = [column[0].target.attname for column in select[start:end]]
    # django-stubs describe Django 6.0's signature, which adds fetch_mode; this is Django 5.2's.
    related_populators = get_related_populators(klass_info, select, compiled.alias)  # type: ignore[call-arg]
    annotations = compiled.compiler.annotation_col_map or {}
    model, alias = klass_info["model"], compiled.alias
    new = _new_instance if _may_skip_init(model, related_populators) else _django_from_db
    for row in rows:
        instance = new(model, alias, init_list, row[start:end])
        for populator in related_populators:
            _populate(populator, row, instance, alias, new)
        for name, position in annotations.items():
            setattr(instance, name, row[position])
        yield instance


def _new_instance(model: type[Model], alias: str, attnames: list[str], values: Any) -> Model:
    """`Model.from_db` without `Model.__init__`, which walks every field of the model (a report has thirty) for
    each of the few a page reads: the loaded values go straight into the instance's `__dict__`, where `__init__`
    would have put them, and a column not loaded stays deferred (read from the database if ever used), as with
    `only()`. Only for models that no `pre_init`/`post_init` receiver listens to (`_may_skip_init`)."""
    instance = model.__new__(model)
    state = instance._state = ModelState()
    state.db = alias
    state.adding = False
    instance.__dict__.update(zip(attnames, values, strict=True))
    return instance


def _django_from_db(model: type[Model], alias: str, attnames: list[str], values: Any) -> Model:
    return model.from_db(alias, attnames, values)


def _may_skip_init(model: type[Model], related_populators: list[Any]) -> bool:
    models = [model]
    pending = list(related_populators)
    while pending:
        populator = pending.pop()
        models.append(populator.model_cls)
        pending.extend(populator.related_populators)
    return not any(pre_init.has_listeners(m) or post_init.has_listeners(m) for m in models)


def _populate(populator: Any, row: Any, from_instance: Model, alias: str, new: Callable[..., Model]) -> None:
    """Django's `RelatedPopulator.populate`, making the related instance with `new`."""
    if populator.reorder_for_init:
        values = populator.reorder_for_init(row)
    else:
        values = row[populator.cols_start : populator.cols_end]
    instance = None
    if values[populator.pk_idx] is not None:
        instance = new(populator.model_cls, alias, populator.init_list, values)
        for inner in populator.related_populators:
            _populate(inner, row, instance, alias, new)
    populator.local_setter(from_instance, instance)
    if instance is not None:
        populator.remote_setter(instance, from_instance)
