"""The release job: release every report whose time has come, and tell the patient (and their proxies) once.

Run every few minutes by the scheduler (careportal/results/jobs.py), on any number of task workers at once.
Each batch is one transaction that:

1. claims up to `batch_size` due reports with `SELECT ... FOR UPDATE SKIP LOCKED` (PostgreSQL), so that two
   workers never claim the same report: each skips the rows the other holds. On SQLite, which has one writer,
   CarePortal opens every transaction with BEGIN IMMEDIATE (settings), which serialises the batches instead;
2. marks them released in one UPDATE;
3. writes their "released automatically" history rows in one INSERT (careportal/core/bulk_sql.py: no model
   instance per row);
4. queues the notifications in one INSERT (careportal.notifications.services.notifications_send_many), delivered
   by the notification workers only after the batch commits.

A report is claimed only while it is still unreleased, so running the job twice, or on two workers, releases and
notifies each report once. A batch that fails rolls back whole: nothing half-released, nothing sent.
"""

import datetime

import structlog
from django.db import connections, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from careportal.core.bulk_sql import insert_rows, server_binding_cursor
from careportal.notifications.kinds import Kind
from careportal.notifications.services import notifications_send_many
from careportal.results.models import DiagnosticReport, ReportAction, ReportActionKind, ResultPreference
from careportal.results.services import (
    RELEASABLE_STATUSES,
    SYSTEM_ACTOR_NAME,
    ReleaseTarget,
    release_recipients_for,
)

logger = structlog.get_logger(__name__)

# RELEASABLE_STATUSES (final, corrected) are the statuses report_release accepts too: a preliminary report is replaced
# by the final one, and only final and corrected reports reach patients on their own.
DEFAULT_BATCH_SIZE = 500


def reports_due_for_release(*, now: datetime.datetime) -> QuerySet[DiagnosticReport]:
    """Reports the job may release at `now`: due, final or corrected, not released, held or withdrawn, and not of a
    kind the patient asked to hear about from their clinician first ("wait for my clinician")."""
    waits_for_clinician = ResultPreference.objects.filter(
        patient=OuterRef("patient"), result_kind=OuterRef("result_kind"), wait_for_clinician=True
    )
    return DiagnosticReport.objects.filter(
        ~Exists(waits_for_clinician),
        release_due_at__lte=now,
        released_at__isnull=True,
        held_at__isnull=True,
        retracted_at__isnull=True,
        status__in=RELEASABLE_STATUSES,
    )


def _mark_released(ids: list[int], *, now: datetime.datetime) -> None:
    """One UPDATE of the claimed reports, written by hand: the ORM's `filter(pk__in=ids).update(...)` compiles a
    500-item IN list through its lookup machinery, which cost more than the UPDATE itself."""
    db = connections["default"]
    meta = DiagnosticReport._meta
    when = meta.get_field("released_at").get_db_prep_save(now, db)  # type: ignore[union-attr]
    quote = db.ops.quote_name
    update = (
        f"UPDATE {quote(meta.db_table)} SET {quote('released_at')} = %s, {quote('released_by_id')} = NULL, "  # noqa: S608  # nosec B608
        f"{quote('release_notified_at')} = %s, {quote('updated_at')} = %s WHERE {quote('id')} "
    )
    if db.vendor == "postgresql":
        # The ids as one array parameter: no 500-literal statement for the server to parse.
        with server_binding_cursor(db) as cursor:
            cursor.execute(update + "= ANY(%b::bigint[])", [when, when, when, ids])
        return
    with db.cursor() as cursor:
        cursor.execute(update + f"IN ({', '.join(['%s'] * len(ids))})", [when, when, when, *ids])


def _release_batch(
    *, now: datetime.datetime, batch_size: int, after: tuple[datetime.datetime, int] | None
) -> list[tuple[int, int, str, datetime.datetime | None]]:
    """Claim and release one batch; returns the claimed rows (id, patient id, sensitive category, due at)."""
    with transaction.atomic():
        due = reports_due_for_release(now=now)
        if after is not None:
            # Carry on after the last report this run claimed, so that reports the job must leave alone (held,
            # preliminary, waiting for a clinician), which sort first, are not scanned again for every batch.
            last_due, last_pk = after
            due = due.filter(Q(release_due_at__gt=last_due) | Q(release_due_at=last_due, pk__gt=last_pk))
        claimed = list(
            due.select_for_update(skip_locked=True)
            .order_by("release_due_at", "pk")
            .values_list("pk", "patient_id", "sensitive_category", "release_due_at")[:batch_size]
        )
        if not claimed:
            return claimed
        ids = [row[0] for row in claimed]
        _mark_released(ids, now=now)
        insert_rows(
            ReportAction,
            ("report_id", "kind", "actor_id", "actor_name", "note", "at"),
            ((report_id, ReportActionKind.AUTO_RELEASED.value, None, SYSTEM_ACTOR_NAME, "", now) for report_id in ids),
        )
        recipients = release_recipients_for(
            [
                ReleaseTarget(report_id=pk, patient_id=patient_id, sensitive_category=sensitive)
                for pk, patient_id, sensitive, _ in claimed
            ],
            today=timezone.localdate(now),
        )
        notifications_send_many(
            kind=Kind.RESULT_RELEASED, users=[user for report_id in ids for user in recipients[report_id]]
        )
    return claimed


def results_release_due(*, now: datetime.datetime | None = None, batch_size: int = DEFAULT_BATCH_SIZE) -> int:
    """Release every report due at `now` (default: the moment of the call), `batch_size` at a time, each batch in
    its own transaction. Returns how many reports this call released (others may have been released by another
    worker at the same time). Call it outside any transaction, or the batches' locks last until the caller's ends.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    now = now or timezone.now()
    released = 0
    after: tuple[datetime.datetime, int] | None = None
    while True:
        claimed = _release_batch(now=now, batch_size=batch_size, after=after)
        released += len(claimed)
        if len(claimed) < batch_size:
            break
        last_pk, _, _, last_due = claimed[-1]
        assert last_due is not None  # noqa: S101 - only reports with a due date are claimed
        after = (last_due, last_pk)
    logger.info("results_released", released=released)
    return released
