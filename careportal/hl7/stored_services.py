"""Applying messages that were acknowledged as soon as they were stored (InboundInterface.ack_mode "after_store").

The listener stores such a message among the arrivals (InboundArrival: a table with no index but its key, so that
the INSERT the sender waits for stays cheap however long the journal grows), commits and acknowledges it
(services._receive_stored); from here on the sender has nothing more to do with it, so nothing may lose it:

- `stored_move` moves the oldest arrivals into the journal (InboundMessage) as STORED, in the order they arrived,
  deleting each in the transaction that writes its journal row: a message is in one place or the other, never both,
  never neither. One mover at a time, since the journal's ids are the order the workers apply each patient's
  messages in.
- `stored_apply_batch` moves what has arrived, then claims the oldest waiting messages in one transaction, applies
  them (`stored_batch_apply`) and commits. A worker that dies mid-batch holds nothing once its connection is gone:
  the transaction rolls back and every message of the batch is STORED again, claimable by the next worker.
- Several workers at once (PostgreSQL): the claim is `SELECT … FOR UPDATE SKIP LOCKED`, so no two take the same
  message, and a worker keeps a message only when no older waiting message of the same patient (`patient_key`:
  sender + PID-3) is held by another worker: one patient's messages are applied in the order they arrived, whatever
  the number of workers. SQLite has one writer at a time (BEGIN IMMEDIATE): workers simply take turns.
- A message that cannot be applied ends ERROR (or REJECTED when it turns out unreadable), with its reason, in the
  unmatched-messages queue (/staff/hl7/unmatched/), exactly as a message answered AE in after-apply mode; a message
  sent again is applied once (the second copy becomes DUPLICATE).

Waking the workers: the receiving path enqueues the task `apply_stored_messages` at most once every
HL7_STORED_WAKE_SECONDS per process (never one task per message), the scheduler enqueues it every minute in case a
task was lost, and `manage.py hl7_apply_stored` runs a dedicated loop that polls every few hundred milliseconds, for
trusts whose volume deserves workers of their own. Each run drains what it finds.
"""

from __future__ import annotations

import datetime
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min

from careportal.core.scheduler import ADVISORY_LOCK_NAMESPACE
from careportal.hl7.bulk_apply import messages_apply_in_batch
from careportal.hl7.models import InboundArrival, InboundMessage, MessageStatus
from careportal.hl7.selectors import arrivals_waiting
from careportal.hl7.services import arrival_journal_fields

logger = structlog.get_logger(__name__)


@dataclass
class StoredBatchResult:
    """What one batch did: how many messages ended in each status."""

    applied: int = 0
    duplicates: int = 0
    waiting: int = 0  # could not be applied: ERROR or REJECTED, in the unmatched queue with the reason
    ignored: int = 0  # a type CarePortal no longer applies (its handler was removed since): kept as IGNORED
    claimed: int = 0  # rows taken by the claim, including those left for the worker holding older ones
    moved: int = 0  # arrivals moved into the journal before the claim
    statuses: dict[int, str] = field(default_factory=dict)  # pk → new status

    @property
    def done(self) -> int:
        return self.applied + self.duplicates + self.waiting + self.ignored

    def add(self, other: StoredBatchResult) -> None:
        self.applied += other.applied
        self.duplicates += other.duplicates
        self.waiting += other.waiting
        self.ignored += other.ignored
        self.claimed += other.claimed
        self.moved += other.moved
        self.statuses.update(other.statuses)


# --- Applying -----------------------------------------------------------------------------------------------------


def stored_batch_apply(messages: Sequence[InboundMessage]) -> StoredBatchResult:
    """Apply claimed STORED messages, in the order given, with the bulk applier (careportal/hl7/bulk_apply.py): new
    reports in bulk INSERTs, everything else one by one through the same checks and handlers, each in a savepoint.

    The contract:
    - called inside the transaction that claimed `messages` (rows locked, status STORED, `raw` loaded), in arrival
      order; one patient's messages are never split between two concurrent calls (`stored_claim` sees to it);
    - each row leaves STORED, updated in place: APPLIED (with patient and applied_at), DUPLICATE (this content was
      applied before, or earlier in the same batch), IGNORED, ERROR (error_kind and error_text: in the unmatched
      queue) or REJECTED (unreadable, in the queue); what was applied for an ERROR row is rolled back;
    - the row keeps the ACK code it was acknowledged with when it was stored: the sender was told then;
    - a message's content never makes it raise; a database failure does, and the caller's transaction then rolls
      the whole batch back, every row STORED again.
    """
    sent = {record.pk: record.ack_code for record in messages}
    batch = messages_apply_in_batch(messages)
    result = StoredBatchResult()
    for record, outcome in zip(messages, batch.outcomes, strict=True):
        if record.ack_code != sent[record.pk]:
            # The applier writes the ACK this message would have had before it was stored; the journal keeps the
            # one actually sent.
            record.ack_code = sent[record.pk]
            record.save(update_fields=["ack_code"])
        status = MessageStatus(outcome.status)
        result.statuses[record.pk] = str(status)
        if status == MessageStatus.APPLIED:
            result.applied += 1
        elif status == MessageStatus.DUPLICATE:
            result.duplicates += 1
        elif status == MessageStatus.IGNORED:
            result.ignored += 1
        else:
            result.waiting += 1
    return result


# --- Moving the arrivals into the journal -------------------------------------------------------------------------

# pg_try_advisory_xact_lock(namespace, number): the mover's number in CarePortal's namespace
# (careportal.core.scheduler).
_MOVER_LOCK = (ADVISORY_LOCK_NAMESPACE, 3)

# Every column an arrival shares with the journal, by attribute name.
_ARRIVAL_FIELDS = [field.attname for field in InboundArrival._meta.concrete_fields if not field.primary_key]


def stored_move(*, limit: int) -> int:
    """Move the oldest arrivals, at most `limit`, into the journal as STORED messages, in the order they arrived,
    and delete them, in one transaction: how many were moved.

    One mover at a time. The journal ids given here are the order in which the workers apply each patient's
    messages (`stored_claim`); two movers committing in either order could put a patient's later message before an
    earlier one. On PostgreSQL a worker that finds another moving skips its move (the other is moving them) and goes
    on to claim what is in the journal; on SQLite the write transaction is the lock. Arrivals are read in id order:
    a message sent after another's ACK has the higher id, and any mover that sees it sees the earlier one too."""
    if not InboundArrival.objects.exists():
        return 0  # read without a transaction: on SQLite, no write lock taken when nothing has arrived
    with transaction.atomic():
        if not _mover_lock():
            return 0
        arrivals = list(InboundArrival.objects.order_by("pk")[:limit])
        if not arrivals:
            return 0
        InboundMessage.objects.bulk_create(
            [
                InboundMessage(
                    public_id=uuid.uuid4(),
                    status=MessageStatus.STORED,
                    **{name: getattr(arrival, name) for name in _ARRIVAL_FIELDS},
                    **arrival_journal_fields(bytes(arrival.raw)),
                )
                for arrival in arrivals
            ]
        )
        # By id, never "up to the highest id": on PostgreSQL a lower id may commit after this read.
        InboundArrival.objects.filter(pk__in=[arrival.pk for arrival in arrivals]).delete()
    return len(arrivals)


def _mover_lock() -> bool:
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", _MOVER_LOCK)
        return bool(cursor.fetchone()[0])


# --- Claiming -----------------------------------------------------------------------------------------------------


def stored_claim(*, limit: int) -> tuple[list[InboundMessage], int]:
    """The oldest waiting messages this worker may apply now, locked until the caller's transaction ends, and how
    many rows the claim took in all. Must run inside a transaction.

    A claimed message is kept only when no older STORED message of its patient key is outside the claim: such a
    message is locked by another worker (SKIP LOCKED passed over it), which must apply it first. Those rows are
    left for later (still locked by this transaction, so no third worker takes them meanwhile)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("stored_claim must run inside a transaction: the claim lasts until it ends")
    waiting = InboundMessage.objects.filter(status=MessageStatus.STORED).order_by("pk")
    if connection.features.has_select_for_update_skip_locked:
        waiting = waiting.select_for_update(skip_locked=True)
    rows = list(waiting[:limit])
    if not rows or not connection.features.has_select_for_update_skip_locked:
        # SQLite: the transaction (BEGIN IMMEDIATE) is the only writer, nothing is held elsewhere.
        return rows, len(rows)
    mine = [row.pk for row in rows]
    keys = {row.patient_key for row in rows}
    held_elsewhere = dict(
        InboundMessage.objects.filter(status=MessageStatus.STORED, patient_key__in=keys)
        .exclude(pk__in=mine)
        .order_by()
        .values("patient_key")
        .annotate(first=Min("pk"))
        .values_list("patient_key", "first")
    )
    kept = [row for row in rows if row.patient_key not in held_elsewhere or row.pk < held_elsewhere[row.patient_key]]
    return kept, len(rows)


def stored_apply_batch(*, limit: int | None = None) -> StoredBatchResult:
    """Move up to `limit` arrivals into the journal (a short transaction of its own, so that the move's lock is not
    held while messages are applied), then claim up to `limit` waiting messages, apply them and commit: one
    transaction."""
    limit = limit or settings.HL7_STORED_BATCH_SIZE
    moved = stored_move(limit=limit)
    with transaction.atomic():
        messages, claimed = stored_claim(limit=limit)
        result = stored_batch_apply(messages) if messages else StoredBatchResult()
    result.claimed, result.moved = claimed, moved
    if messages:
        logger.info(
            "hl7_stored_batch_applied",
            applied=result.applied,
            duplicates=result.duplicates,
            waiting=result.waiting,
            left_for_another_worker=claimed - len(messages),
        )
    return result


@dataclass
class DrainReport:
    result: StoredBatchResult
    batches: int
    more: bool  # stopped by its time limit with messages still waiting


def stored_apply_pending(*, max_seconds: float, limit: int | None = None) -> DrainReport:
    """Apply batches until no message waits (or only ones another worker must apply first), or `max_seconds`."""
    total = StoredBatchResult()
    batches = 0
    deadline = time.monotonic() + max_seconds
    while True:
        result = stored_apply_batch(limit=limit)
        total.add(result)
        if result.done == 0 and result.moved == 0:
            return DrainReport(total, batches, more=False)
        batches += 1
        if time.monotonic() >= deadline:
            return DrainReport(total, batches, more=stored_waiting_count() > 0)


# --- Watching ---------------------------------------------------------------------------------------------------


def stored_waiting_count() -> int:
    """Messages acknowledged and not applied yet: in the journal as STORED, or still among the arrivals."""
    return InboundMessage.objects.filter(status=MessageStatus.STORED).count() + InboundArrival.objects.count()


@dataclass(frozen=True)
class WaitingSummary:
    count: int
    oldest_received_at: datetime.datetime | None
    arrivals: int = 0  # of `count`, those not yet in the journal
    oldest_arrival_at: datetime.datetime | None = None


def stored_waiting_summary() -> WaitingSummary:
    """How many messages wait to be applied, and since when: what operators watch (docs/hl7.md)."""
    waiting = InboundMessage.objects.filter(status=MessageStatus.STORED).order_by()
    oldest = waiting.aggregate(oldest=Min("received_at"))["oldest"]
    arrivals = arrivals_waiting()
    if arrivals.oldest_received_at is not None and (oldest is None or arrivals.oldest_received_at < oldest):
        oldest = arrivals.oldest_received_at
    return WaitingSummary(
        count=waiting.count() + arrivals.count,
        oldest_received_at=oldest,
        arrivals=arrivals.count,
        oldest_arrival_at=arrivals.oldest_received_at,
    )


# --- Waking the workers -------------------------------------------------------------------------------------------

_wake_lock = threading.Lock()
_last_wake = float("-inf")


def stored_apply_wake_reset() -> None:
    """Forget when the task was last enqueued (tests)."""
    global _last_wake
    with _wake_lock:
        _last_wake = float("-inf")


def stored_apply_enqueue() -> None:
    """Enqueue the task that applies stored messages now; a failure is logged, never raised (see below)."""
    from careportal.hl7.tasks import apply_stored_messages

    try:
        apply_stored_messages.enqueue()
    except Exception:
        # The message is stored and its ACK must go: the scheduler's job enqueues the task within a minute.
        logger.exception("hl7_stored_wake_failed")


def stored_apply_wake() -> None:
    """Ask a worker to apply stored messages: at most once every HL7_STORED_WAKE_SECONDS in this process (0: never,
    left to the scheduler and `manage.py hl7_apply_stored`), after the current transaction commits."""
    if stored_apply_wake_due():
        transaction.on_commit(stored_apply_enqueue, robust=True)


def stored_apply_wake_due() -> bool:
    """Whether this process should wake a worker now (at most once every HL7_STORED_WAKE_SECONDS, never at 0); a
    True answer counts as the wake, so the caller must then call `stored_apply_enqueue`. Reads nothing: the MLLP
    listener's event loop asks this, and enqueues in a worker thread only when it is due."""
    global _last_wake
    interval = settings.HL7_STORED_WAKE_SECONDS
    if interval <= 0:
        return False
    now = time.monotonic()
    with _wake_lock:
        if now - _last_wake < interval:
            return False
        _last_wake = now
    return True
