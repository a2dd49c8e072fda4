"""A queryset whose SQL the ORM writes once per process, then runs with each call's ids.

The ORM builds and compiles a queryset's SQL again every time it runs: for the queries every patient page makes
(whose record this is, the patient's result preferences, the tests on the results page) that was 130-460 µs a
query, as long as running it. These queries differ from one request to the next only in an id (the user's, the
patient's). `CompiledQuery` asks the ORM for the SQL once, with stand-in ids, notes where the stand-ins are among
the parameters, and from then on runs that SQL with the real ids in their places: the same statement, written by
the ORM from the same queryset code, so a change to that code changes the SQL too.

The contract: `build(*ids)` returns a queryset in which everything but those integer ids is the same on every call
(constants, choices, columns). A value that changes in any other way (a date, a list whose length varies, a
string) must not be in a compiled query; build the queryset with the ORM as usual instead.

Measured with the web benchmark's server on 2 cores (bench/bench_web.py setup, paired runs): the signed-in results
page served 164-188 requests/s with its three hot queries compiled, against 127-142 without.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db.models import Model, QuerySet

# Stand-in ids: far below any id a table can hold (they count up from 1), so never mistaken for a real one.
_STAND_IN_BASE = -7_318_449_250_000_000_000


@dataclass(frozen=True)
class _Compiled:
    model: type[Model]
    alias: str
    sql: str
    params: tuple[Any, ...]
    slots: tuple[tuple[int, int], ...]  # (position among the parameters, which id goes there)


class CompiledQuery:
    """`build(*ids)`'s SQL, written by the ORM on first use; `instances(*ids)` and `rows(*ids)` run it."""

    def __init__(self, build: Callable[..., QuerySet[Any]], *, ids: int = 1) -> None:
        self._build = build
        self._ids = ids
        self._compiled: dict[str, _Compiled] = {}  # by database vendor: the test suite runs on both

    def _compile(self) -> _Compiled:
        stand_ins = tuple(_STAND_IN_BASE - n for n in range(self._ids))
        queryset = self._build(*stand_ins)
        alias = queryset.db
        sql, params = queryset.query.get_compiler(alias).as_sql()
        slots = tuple(
            (position, stand_ins.index(value))
            for position, value in enumerate(params)
            if type(value) is int and value in stand_ins
        )
        if {which for _, which in slots} != set(range(self._ids)):
            raise ImproperlyConfigured(
                f"{self._build.__qualname__}: every id must reach the SQL as a parameter of its own "
                f"(found {len(slots)} of {self._ids})"
            )
        return _Compiled(queryset.model, alias, sql, tuple(params), slots)

    def _for_this_database(self) -> _Compiled:
        vendor = connections["default"].vendor
        compiled = self._compiled.get(vendor)
        if compiled is None:
            compiled = self._compiled[vendor] = self._compile()
        return compiled

    @staticmethod
    def _params(compiled: _Compiled, ids: tuple[int, ...]) -> list[Any]:
        params = list(compiled.params)
        for position, which in compiled.slots:
            params[position] = ids[which]
        return params

    def _check(self, ids: tuple[int, ...]) -> None:
        if len(ids) != self._ids or not all(type(value) is int for value in ids):
            raise TypeError(f"{self._build.__qualname__} takes {self._ids} integer id(s), not {ids!r}")

    def instances(self, *ids: int) -> list[Any]:
        """The model instances, with any annotations as attributes (as `QuerySet.raw` gives them)."""
        self._check(ids)
        compiled = self._for_this_database()
        manager = compiled.model._default_manager.db_manager(compiled.alias)
        return list(manager.raw(compiled.sql, self._params(compiled, ids)))

    def rows(self, *ids: int) -> list[tuple[Any, ...]]:
        """The rows as tuples, the columns in the queryset's order (for `values_list` querysets). Values come as
        the database driver gives them: on SQLite a boolean column is 0 or 1."""
        self._check(ids)
        compiled = self._for_this_database()
        with connections[compiled.alias].cursor() as cursor:
            cursor.execute(compiled.sql, self._params(compiled, ids))
            return [tuple(row) for row in cursor.fetchall()]
