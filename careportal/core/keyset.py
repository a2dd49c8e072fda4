"""Keyset ("seek") paging, newest first, for staff lists that grow for as long as the portal runs (the HL7 journal).

`Paginator` counts every row of the list on every page and reads page N with OFFSET, which walks and throws away
every row before it: both grow with the table, to seconds on a journal of millions. A keyset page starts from a row
instead (its values of the ordering columns, read by the caller from the row's public id in the link) and reads the
next rows after it through the index that gives that order, so every page costs the same, however deep; there is
no total and no "page N of M", only newer and older. Rows added meanwhile never shift a page (a page by OFFSET
repeats or skips rows as new ones arrive).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from django.db.models import Model, Q, QuerySet


class Direction(Enum):
    OLDER = "older"  # the rows after the anchor in the list's order (newest first)
    NEWER = "newer"  # the rows before it


@dataclass(frozen=True)
class KeysetPage:
    rows: list[Any]
    # The rows the links start from: the first row, for the page of newer rows, if there is any; the last, for
    # the page of older rows, if there is any. None: no such link.
    newer_from: Any | None
    older_from: Any | None


def _beyond(order: Sequence[str], anchor: Mapping[str, Any], direction: Direction) -> Q:
    """The rows after `anchor` in `direction`, for an order of columns each descending: the tuple of their values
    compared with the anchor's, spelled as an OR of prefixes. The first column's bound is repeated on its own
    (`received_at <= x`), so that the database can start the index scan at the anchor rather than filter from the
    start of the index."""
    strict, loose = ("lt", "lte") if direction is Direction.OLDER else ("gt", "gte")
    first = order[0]
    beyond = Q()
    for position, name in enumerate(order):
        equal = {earlier: anchor[earlier] for earlier in order[:position]}
        beyond |= Q(**equal, **{f"{name}__{strict}": anchor[name]})
    if len(order) == 1:
        return beyond
    return Q(**{f"{first}__{loose}": anchor[first]}) & beyond


def keyset_page(
    queryset: QuerySet[Any],
    *,
    order: Sequence[str],
    size: int,
    anchor: Mapping[str, Any] | None = None,
    direction: Direction = Direction.OLDER,
) -> KeysetPage:
    """One page of `queryset` ordered by `order` (column names, each descending, the last one unique: "pk"): the
    newest `size` rows without an anchor; else the `size` rows just older (or newer) than the anchor's values.
    Reads size + 1 rows to know whether there are more, and never counts."""
    descending = [f"-{name}" for name in order]
    if anchor is None:
        rows = list(queryset.order_by(*descending)[: size + 1])
        return KeysetPage(rows=rows[:size], newer_from=None, older_from=rows[size - 1] if len(rows) > size else None)
    after = queryset.filter(_beyond(order, anchor, direction))
    if direction is Direction.OLDER:
        rows = list(after.order_by(*descending)[: size + 1])
        more = len(rows) > size
        rows = rows[:size]
        # The anchor itself is newer than every row here, so there is always a page of newer rows.
        return KeysetPage(rows=rows, newer_from=rows[0] if rows else None, older_from=rows[-1] if more else None)
    rows = list(after.order_by(*order)[: size + 1])
    more = len(rows) > size
    rows = list(reversed(rows[:size]))
    return KeysetPage(rows=rows, newer_from=rows[0] if more else None, older_from=rows[-1] if rows else None)


def anchor_values(model: type[Model], order: Sequence[str], **lookup: Any) -> dict[str, Any] | None:
    """The ordering columns' values of the row `lookup` finds (a public id from a link), or None if none does."""
    return model._default_manager.filter(**lookup).values(*order).first()  # type: ignore[no-any-return]
