"""Reads for the HL7 message pages under /staff/hl7/. Who may read them is decided by the access layer
(`hl7_operator_viewer`, `access_message_as_operator`); these functions only say which rows."""

import datetime
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db.models import Count, Q, QuerySet

from careportal.core.keyset import Direction, KeysetPage, anchor_values, keyset_page
from careportal.hl7.models import InboundArrival, InboundMessage, MessageStatus, OutboundMessage, OutboundStatus
from careportal.patients.models import Patient

ATTENTION_STATUSES = (MessageStatus.ERROR, MessageStatus.REJECTED)
# Waiting for staff: rejected or failed, or applied under a control id the sender had used for another message.
NEEDS_ATTENTION = (Q(status__in=ATTENTION_STATUSES) | Q(status=MessageStatus.APPLIED, control_id_reused=True)) & Q(
    resolved_at__isnull=True
)


def messages_needing_attention() -> QuerySet[InboundMessage]:
    """Rejected or failed messages nobody has replayed or dismissed yet, and applied messages with a reused control
    id nobody has checked, newest first (the unmatched queue)."""
    return InboundMessage.objects.filter(NEEDS_ATTENTION).defer("raw").order_by("-received_at", "-pk")


def messages_needing_attention_count() -> int:
    return InboundMessage.objects.filter(NEEDS_ATTENTION).count()


def messages_sharing_control_id(*, message: InboundMessage) -> list[InboundMessage]:
    """The other messages this sender sent under the same control id, newest first: what staff compare a message
    with a reused control id against."""
    if not message.control_id:
        return []
    return list(
        InboundMessage.objects.filter(
            sending_application=message.sending_application,
            sending_facility=message.sending_facility,
            control_id=message.control_id,
        )
        .exclude(pk=message.pk)
        .defer("raw")
        .order_by("-received_at", "-pk")[:50]
    )


def journal_order(status: str) -> tuple[str, ...]:
    """The overview's order, newest first, each served by an index that already exists on the journal: every
    message by id (the primary key; ids follow the order messages were stored), one status's by the time received
    (`hl7_status_idx`, with the id to break ties). A further index just for this page would be written on every
    message received, the listener's hot path."""
    return ("received_at", "pk") if status else ("pk",)


def messages_recent_page(
    *, status: str = "", start: UUID | None = None, direction: Direction = Direction.OLDER, size: int
) -> tuple[KeysetPage, bool]:
    """A page of every message received, newest first, optionally of one status: the operator's overview. Paged
    by keyset (careportal/core/keyset.py), from the message `start` (its public id, from a link): the journal
    holds every message for years, millions after a backfill, which a count and OFFSET would walk on every page.

    Also returns whether `start` named a message: when it names none (a link edited by hand, or to a message since
    deleted), the page is the newest one, as it is when nothing lies beyond that message any more."""
    queryset = InboundMessage.objects.defer("raw")
    if status:
        queryset = queryset.filter(status=status)
    return _page_from(queryset, order=journal_order(status), start=start, direction=direction, size=size)


def _page_from(
    queryset: QuerySet[Any], *, order: tuple[str, ...], start: UUID | None, direction: Direction, size: int
) -> tuple[KeysetPage, bool]:
    """The keyset page from the row whose public id is `start`, or the newest page when `start` is None, names no
    row, or nothing lies beyond it any more; and whether `start` named a row."""
    anchor = anchor_values(queryset.model, order, public_id=start) if start is not None else None
    if anchor is not None:
        page = keyset_page(queryset, order=order, size=size, anchor=anchor, direction=direction)
        if page.rows:
            return page, True
    return keyset_page(queryset, order=order, size=size), start is None or anchor is not None


@dataclass(frozen=True)
class ArrivalsWaiting:
    """Messages received and acknowledged after store that a worker has not moved into the journal yet."""

    count: int
    oldest_received_at: datetime.datetime | None


def arrivals_waiting() -> ArrivalsWaiting:
    """How many arrivals wait to be moved into the journal, and when the oldest arrived: the first by id, since the
    table has no other index and its ids follow arrival. One query when none wait, two otherwise."""
    oldest = InboundArrival.objects.order_by("pk").values_list("received_at", flat=True).first()
    if oldest is None:
        return ArrivalsWaiting(0, None)
    return ArrivalsWaiting(InboundArrival.objects.count(), oldest)


def message_replays(*, message: InboundMessage) -> list[InboundMessage]:
    """Earlier replays of this message by staff, newest first."""
    return list(message.replays.defer("raw").select_related("resolved_by").order_by("-received_at", "-pk"))


def patient_by_hospital_number(*, hospital_number: str) -> Patient | None:
    """The patient with this hospital number, if any. A record merged into another has no identifiers left, so it
    is never found here (its survivor is)."""
    return Patient.objects.filter(hospital_number__iexact=hospital_number, merged_into__isnull=True).first()


def patient_by_public_id(*, public_id: str) -> Patient | None:
    return Patient.objects.filter(public_id=public_id, merged_into__isnull=True).first()


# Newest first by id, which follows the order messages were made: the primary key serves every page. For one
# status, PostgreSQL either walks the primary key (a common status) or reads that status's rows through
# hl7_outbound_due_idx (status, next_attempt_at; a rare one). No index of its own, written on every status change.
OUTBOUND_ORDER = ("pk",)


def outbound_page(
    *, status: str = "", start: UUID | None = None, direction: Direction = Direction.OLDER, size: int
) -> tuple[KeysetPage, bool]:
    """A page of the messages CarePortal sent or is sending (without their content), newest first, optionally of
    one status. Paged by keyset from the message `start` (its public id, from a link), like the journal of messages
    received (`messages_recent_page`): a trust's PAS is sent a message for every change of contact details, for
    years, which a count and OFFSET would walk on every page.

    Also returns whether `start` named a message; when it names none, the page is the newest one."""
    queryset = OutboundMessage.objects.defer("raw")
    if status:
        queryset = queryset.filter(status=status)
    return _page_from(queryset, order=OUTBOUND_ORDER, start=start, direction=direction, size=size)


@dataclass(frozen=True)
class OutboundCounts:
    waiting: int
    failed: int


WAITING_STATUSES = (OutboundStatus.QUEUED, OutboundStatus.SENDING)


def outbound_counts() -> OutboundCounts:
    """How many messages wait to be sent and how many failed: one query, reading only those statuses' rows through
    hl7_outbound_due_idx, never the sent messages, which are nearly all of them."""
    by_status = dict(
        OutboundMessage.objects.filter(status__in=[*WAITING_STATUSES, OutboundStatus.FAILED])
        .order_by()
        .values_list("status")
        .annotate(count=Count("pk"))
        .values_list("status", "count")
    )
    return OutboundCounts(
        waiting=sum(by_status.get(status, 0) for status in WAITING_STATUSES),
        failed=by_status.get(OutboundStatus.FAILED, 0),
    )


def outbound_message_by_public_id(*, public_id: str) -> OutboundMessage | None:
    return OutboundMessage.objects.filter(public_id=public_id).first()
