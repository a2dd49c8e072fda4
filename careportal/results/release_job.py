"""The release job: release every report whose time has come, and tell the patient (and their proxies) once.

Run every few minutes by the scheduler (careportal/results/jobs.py), on any number of task workers at once.
Each batch is one transaction that:

1. claims up to `batch_size` due reports with `SELECT ... FOR UPDATE SKIP LOCKED` (PostgreSQL), so that two
   workers never claim the same report: each skips the rows the other holds. On SQLite, which has one writer,
   CarePortal opens every transaction with BEGIN IMMEDIATE (settings), which serialises the batches instead;
2. marks them released in one UPDATE;
3. writes their "released automatically" history rows in one INSERT. On PostgreSQL steps 1 to 3 are one statement
   (data-modifying CTEs: claim, UPDATE ... RETURNING, INSERT ... SELECT from what was released); on SQLite three
   (careportal/core/bulk_sql.py: no model instance per row);
4. reads who to tell in Python (careportal.results.services.release_recipients_for, the one place for that rule;
   on PostgreSQL with random_page_cost lowered for the batch, so that those reads are look-ups by key)
   and queues the notifications in one INSERT (careportal.notifications.services.notifications_queue_many),
   delivered by the notification workers only after the batch commits.

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
from careportal.notifications.services import notifications_queue_many
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


def _claim_and_mark(
    due: QuerySet[DiagnosticReport], *, now: datetime.datetime, batch_size: int
) -> list[tuple[int, int, str, datetime.datetime | None]]:
    """Steps 1 to 3 of a batch: claim up to `batch_size` due reports, mark them released and write their history
    rows. Returns the claimed rows (id, patient id, sensitive category, due at), oldest due first."""
    db = connections["default"]
    claim = (
        due.select_for_update(skip_locked=True)
        .order_by("release_due_at", "pk")
        .values_list("pk", "patient_id", "sensitive_category", "release_due_at")[:batch_size]
    )
    if db.vendor != "postgresql":
        claimed = list(claim)
        if claimed:
            ids = [row[0] for row in claimed]
            _mark_released(ids, now=now)
            insert_rows(
                ReportAction,
                ("report_id", "kind", "actor_id", "actor_name", "note", "at"),
                ((pk, ReportActionKind.AUTO_RELEASED.value, None, SYSTEM_ACTOR_NAME, "", now) for pk in ids),
            )
        return claimed
    # PostgreSQL: the same three steps as one statement, so one round trip instead of three and the claimed ids
    # never travel to the worker and back. The claim is the ORM's own SQL for `reports_due_for_release` (the one
    # place that says what is due), run first (MATERIALIZED) so that it locks the rows the UPDATE then writes.
    claim_sql, claim_params = claim.query.sql_with_params()
    quote = db.ops.quote_name
    report_table, action_table = quote(DiagnosticReport._meta.db_table), quote(ReportAction._meta.db_table)
    when = DiagnosticReport._meta.get_field("released_at").get_db_prep_save(now, db)  # type: ignore[union-attr]
    sql = (
        f"WITH claimed (id, patient_id, sensitive_category, release_due_at) AS MATERIALIZED ({claim_sql}), "  # noqa: S608  # nosec B608
        f"released AS (UPDATE {report_table} AS report SET released_at = %s, released_by_id = NULL, "
        "release_notified_at = %s, updated_at = %s FROM claimed WHERE report.id = claimed.id "
        "RETURNING report.id, report.patient_id, report.sensitive_category, report.release_due_at), "
        f"recorded AS (INSERT INTO {action_table} (report_id, kind, actor_id, actor_name, note, at) "
        "SELECT id, %s, NULL, %s, '', %s FROM released) "
        "SELECT id, patient_id, sensitive_category, release_due_at FROM released ORDER BY release_due_at, id"
    )
    params = (*claim_params, when, when, when, ReportActionKind.AUTO_RELEASED.value, SYSTEM_ACTOR_NAME, when)
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        return [tuple(row) for row in cursor.fetchall()]  # type: ignore[misc]


def _release_batch(
    *, now: datetime.datetime, batch_size: int, after: tuple[datetime.datetime, int] | None
) -> list[tuple[int, int, str, datetime.datetime | None]]:
    """Claim and release one batch; returns the claimed rows (id, patient id, sensitive category, due at)."""
    with transaction.atomic():
        if connections["default"].vendor == "postgresql":
            with connections["default"].cursor() as cursor:
                # For this batch only: its reads of who to tell look up a few hundred patients and accounts by key,
                # in tables a busy portal keeps in memory. Under the default cost (4, made for spinning disks) the
                # planner scans the whole patients and accounts tables instead, once per batch, which cost more
                # than the look-ups as soon as those tables held tens of thousands of rows (docs/results-release.md).
                cursor.execute("SET LOCAL random_page_cost = 1.1")
        due = reports_due_for_release(now=now)
        if after is not None:
            # Carry on after the last report this run claimed, so that reports the job must leave alone (held,
            # preliminary, waiting for a clinician), which sort first, are not scanned again for every batch.
            last_due, last_pk = after
            due = due.filter(Q(release_due_at__gt=last_due) | Q(release_due_at=last_due, pk__gt=last_pk))
        claimed = _claim_and_mark(due, now=now, batch_size=batch_size)
        if not claimed:
            return claimed
        recipients = release_recipients_for(
            [
                ReleaseTarget(report_id=pk, patient_id=patient_id, sensitive_category=sensitive)
                for pk, patient_id, sensitive, _ in claimed
            ],
            today=timezone.localdate(now),
        )
        notifications_queue_many(
            kind=Kind.RESULT_RELEASED, users=[user for pk, *_ in claimed for user in recipients[pk]]
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
