"""The release job: release every report whose time has come, and tell the patient (and their proxies) once.

Run every few minutes by the scheduler (careportal/results/jobs.py), on any number of task workers at once.
Each batch is one transaction that:

1. claims up to `batch_size` due reports with `SELECT ... FOR UPDATE SKIP LOCKED` (PostgreSQL), so that two
   workers never claim the same report: each skips the rows the other holds. On SQLite, which has one writer,
   CarePortal opens every transaction with BEGIN IMMEDIATE (settings), which serialises the batches instead;
2. marks them released in one UPDATE;
3. writes their "released automatically" history rows in one INSERT;
4. queues the notifications in one INSERT (careportal.notifications.services.notifications_send_many), delivered
   by the notification workers only after the batch commits.

A report is claimed only while it is still unreleased, so running the job twice, or on two workers, releases and
notifies each report once. A batch that fails rolls back whole: nothing half-released, nothing sent.
"""

import datetime

import structlog
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

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
        DiagnosticReport.objects.filter(pk__in=ids).update(
            released_at=now, released_by=None, release_notified_at=now, updated_at=now
        )
        ReportAction.objects.bulk_create(
            ReportAction(report_id=report_id, kind=ReportActionKind.AUTO_RELEASED, actor_name=SYSTEM_ACTOR_NAME, at=now)
            for report_id in ids
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
