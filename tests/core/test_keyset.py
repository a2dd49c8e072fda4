"""Keyset paging (careportal/core/keyset.py): walking older from the newest page and newer from the oldest lists
every row exactly once, in order, however many rows share the first ordering column's value."""

import datetime

import pytest
from django.utils import timezone

from careportal.core.keyset import Direction, _beyond, keyset_page
from careportal.hl7.models import InboundMessage, MessageStatus

pytestmark = pytest.mark.django_db

ORDERS = [("received_at", "pk"), ("pk",)]


def _journal(count: int) -> list[InboundMessage]:
    moment = timezone.now()
    return [
        InboundMessage.objects.create(
            # Runs of up to four messages received at the same moment, and not in the order of their ids.
            received_at=moment - datetime.timedelta(seconds=(n * 7 % count) // 4),
            raw=b"MSH|",
            status=MessageStatus.APPLIED,
            control_id=f"K{n:03d}",
        )
        for n in range(count)
    ]


def _expected(order: tuple[str, ...]) -> list[str]:
    return list(InboundMessage.objects.order_by(*[f"-{name}" for name in order]).values_list("control_id", flat=True))


def _anchor(row: InboundMessage, order: tuple[str, ...]) -> dict:
    return {name: getattr(row, name) for name in order}


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("size", [1, 3, 5, 37])
def test_walking_older_then_newer_lists_every_row_once_in_order(order, size):
    _journal(37)
    expected = _expected(order)
    queryset = InboundMessage.objects.all()

    pages = [keyset_page(queryset, order=order, size=size)]
    assert pages[0].newer_from is None
    while pages[-1].older_from is not None:
        anchor = _anchor(pages[-1].older_from, order)
        pages.append(keyset_page(queryset, order=order, size=size, anchor=anchor))
    assert [row.control_id for page in pages for row in page.rows] == expected
    assert all(len(page.rows) == size for page in pages[:-1])
    assert all(page.newer_from is page.rows[0] for page in pages[1:])

    # Back from the oldest page: the same rows, each page ending where the next older one began.
    back = [pages[-1]]
    while back[-1].newer_from is not None:
        anchor = _anchor(back[-1].newer_from, order)
        back.append(keyset_page(queryset, order=order, size=size, anchor=anchor, direction=Direction.NEWER))
    listed_back = [row.control_id for page in reversed(back) for row in page.rows]
    assert listed_back == expected
    assert back[-1].rows[0].control_id == expected[0]


def test_an_empty_list_has_no_links():
    page = keyset_page(InboundMessage.objects.all(), order=("pk",), size=10)
    assert (page.rows, page.newer_from, page.older_from) == ([], None, None)


def test_the_first_columns_bound_is_a_condition_of_its_own_for_the_index():
    """`received_at <= x AND (received_at < x OR (received_at = x AND id < y))`: the repeated bound lets the
    database start its index scan at the anchor instead of filtering every newer row."""
    row = _journal(1)[0]
    anchor = _anchor(row, ("received_at", "pk"))
    for direction, bound in ((Direction.OLDER, "<="), (Direction.NEWER, ">=")):
        condition = InboundMessage.objects.filter(_beyond(("received_at", "pk"), anchor, direction)).query
        where = str(condition).split("WHERE", 1)[1].strip()
        assert where.startswith(f'("hl7_inboundmessage"."received_at" {bound}'), where
