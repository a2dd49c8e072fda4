"""What a clinician does to a report from the results inbox: mark it reviewed, comment for the patient, release it
now, hold it, remove the hold, withdraw it.

Each function takes a report already resolved through the access layer (`access_report_as_staff`), locks its row,
checks that the change makes sense in the report's current state, and then, in one transaction, changes it,
appends to its history (ReportAction) and writes the audit event. A change that makes no sense raises
`ReportActionRefused`, whose message is written for the clinician and names no patient data, and changes nothing.
"""

import datetime

from django.db import transaction
from django.utils import timezone

from careportal.access.layer import Viewer, staff_change_record
from careportal.core.formatting import format_date
from careportal.results.models import DiagnosticReport, ReportActionKind, ReportStatus
from careportal.results.services import (
    ReportNotReleasable,
    release_refusal,
    report_action_record,
    report_release,
)

COMMENT_MAX_LENGTH = 2000
REASON_MAX_LENGTH = 500
# The words in the patient's access log: "Dr A Okafor, Haematology, changed your test result on ...".
AUDIT_LABEL = "test result"


class ReportActionRefused(ValueError):
    """The report's state does not allow this change; the message says why, in words for the clinician."""


def _locked(report: DiagnosticReport) -> DiagnosticReport:
    # Two clinicians may press buttons on the same report at once, and the release job may be releasing it: each
    # decision is made on the locked row (SELECT ... FOR UPDATE). A release batch that holds the row makes us wait
    # and then read it released (a hold is then refused); a row we hold is skipped by the batch (SKIP LOCKED) until
    # we commit, and then no longer due if we held it. On SQLite, BEGIN IMMEDIATE serialises the two instead.
    return DiagnosticReport.objects.select_for_update().get(pk=report.pk)


def _refresh(report: DiagnosticReport, locked: DiagnosticReport, fields: list[str]) -> None:
    # The caller's object shows the change too, as `report_release` does for its own fields.
    for name in fields:
        setattr(report, name, getattr(locked, name))


def _required_text(value: str, *, missing: str, max_length: int, too_long: str) -> str:
    text = (value or "").strip()
    if not text:
        raise ReportActionRefused(missing)
    if len(text) > max_length:
        raise ReportActionRefused(too_long)
    return text


def _audit(viewer: Viewer, report: DiagnosticReport) -> None:
    staff_change_record(viewer=viewer, patient=report.patient, object_label=AUDIT_LABEL, obj=report)


@transaction.atomic
def report_mark_reviewed(
    *, viewer: Viewer, report: DiagnosticReport, now: datetime.datetime | None = None
) -> DiagnosticReport:
    now = now or timezone.now()
    locked = _locked(report)
    if locked.reviewed_at is not None:
        raise ReportActionRefused(f"This result was already marked as reviewed on {format_date(locked.reviewed_at)}.")
    locked.reviewed_at, locked.reviewed_by = now, viewer.user
    locked.save(update_fields=["reviewed_at", "reviewed_by", "updated_at"])
    report_action_record(report=locked, kind=ReportActionKind.REVIEWED, actor=viewer.user, at=now)
    _audit(viewer, report)
    _refresh(report, locked, ["reviewed_at", "reviewed_by"])
    return report


@transaction.atomic
def report_comment_set(
    *, viewer: Viewer, report: DiagnosticReport, comment: str, now: datetime.datetime | None = None
) -> DiagnosticReport:
    """Add the comment the patient reads with the result, or replace the one there is."""
    now = now or timezone.now()
    text = _required_text(
        comment,
        missing="Enter a comment for the patient",
        max_length=COMMENT_MAX_LENGTH,
        too_long=f"Comment must be {COMMENT_MAX_LENGTH} characters or fewer",
    )
    locked = _locked(report)
    if locked.status == ReportStatus.CANCELLED:
        raise ReportActionRefused("The lab cancelled this test, so the patient will not see a result to comment on.")
    replacing = bool(locked.clinician_comment)
    locked.clinician_comment, locked.clinician_comment_by, locked.clinician_comment_at = text, viewer.user, now
    locked.save(update_fields=["clinician_comment", "clinician_comment_by", "clinician_comment_at", "updated_at"])
    # The comment itself is kept on the report; the history says only that it changed.
    report_action_record(
        report=locked,
        kind=ReportActionKind.COMMENTED,
        actor=viewer.user,
        note="Replaced the earlier comment" if replacing else "",
        at=now,
    )
    _audit(viewer, report)
    _refresh(report, locked, ["clinician_comment", "clinician_comment_by", "clinician_comment_at"])
    return report


@transaction.atomic
def report_release_now(
    *, viewer: Viewer, report: DiagnosticReport, now: datetime.datetime | None = None
) -> DiagnosticReport:
    """Release to the patient at once, before its due date or when it waits for review. Releasing a result is a
    clinician's judgement that the patient may see it, so it also counts as reviewing it."""
    now = now or timezone.now()
    locked = _locked(report)
    if locked.retracted_at is not None:
        raise ReportActionRefused(release_refusal(locked))
    if locked.released_at is not None:
        raise ReportActionRefused(f"This result was already released on {format_date(locked.released_at)}.")
    # report_release decides (on the row locked here) whether the report may be released at all: held, withdrawn,
    # cancelled and not-yet-final reports are refused there, with the words shown to the clinician.
    try:
        released = report_release(report=locked, by=viewer.user, now=now)
    except ReportNotReleasable as exc:
        raise ReportActionRefused(str(exc)) from exc
    if not released:  # pragma: no cover - the lock above prevents it
        raise ReportActionRefused("This result was already released.")
    if locked.reviewed_at is None:
        locked.reviewed_at, locked.reviewed_by = now, viewer.user
        locked.save(update_fields=["reviewed_at", "reviewed_by", "updated_at"])
        report_action_record(report=locked, kind=ReportActionKind.REVIEWED, actor=viewer.user, at=now)
    _audit(viewer, report)
    _refresh(report, locked, ["released_at", "released_by", "release_notified_at", "reviewed_at", "reviewed_by"])
    return report


@transaction.atomic
def report_hold(
    *, viewer: Viewer, report: DiagnosticReport, reason: str, now: datetime.datetime | None = None
) -> DiagnosticReport:
    """Keep the result from the patient until the hold is removed: the release job never releases a held report."""
    now = now or timezone.now()
    text = _required_text(
        reason,
        missing="Enter why you are holding this result",
        max_length=REASON_MAX_LENGTH,
        too_long=f"Reason must be {REASON_MAX_LENGTH} characters or fewer",
    )
    locked = _locked(report)
    if locked.released_at is not None:
        raise ReportActionRefused(
            "This result has already been released to the patient, so it cannot be held. To take it back, withdraw it."
            if locked.retracted_at is None
            else "This result has already been withdrawn from the patient."
        )
    if locked.held_at is not None:
        raise ReportActionRefused(f"This result is already held since {format_date(locked.held_at)}.")
    locked.held_at, locked.held_by, locked.hold_reason = now, viewer.user, text
    locked.save(update_fields=["held_at", "held_by", "hold_reason", "updated_at"])
    report_action_record(report=locked, kind=ReportActionKind.HELD, actor=viewer.user, note=text, at=now)
    _audit(viewer, report)
    _refresh(report, locked, ["held_at", "held_by", "hold_reason"])
    return report


@transaction.atomic
def report_unhold(
    *, viewer: Viewer, report: DiagnosticReport, now: datetime.datetime | None = None
) -> DiagnosticReport:
    """Remove the hold: the result is then released as its rule says (at once by the job if already due)."""
    now = now or timezone.now()
    locked = _locked(report)
    if locked.held_at is None:
        raise ReportActionRefused("This result is not held.")
    previous_reason = locked.hold_reason
    locked.held_at, locked.held_by, locked.hold_reason = None, None, ""
    locked.save(update_fields=["held_at", "held_by", "hold_reason", "updated_at"])
    report_action_record(
        report=locked,
        kind=ReportActionKind.UNHELD,
        actor=viewer.user,
        note=f"Held because: {previous_reason}" if previous_reason else "",
        at=now,
    )
    _audit(viewer, report)
    _refresh(report, locked, ["held_at", "held_by", "hold_reason"])
    return report


@transaction.atomic
def report_retract(
    *, viewer: Viewer, report: DiagnosticReport, reason: str, now: datetime.datetime | None = None
) -> DiagnosticReport:
    """Withdraw a released result: the patient then sees that it was withdrawn, and no longer its values."""
    now = now or timezone.now()
    text = _required_text(
        reason,
        missing="Enter why you are withdrawing this result",
        max_length=REASON_MAX_LENGTH,
        too_long=f"Reason must be {REASON_MAX_LENGTH} characters or fewer",
    )
    locked = _locked(report)
    if locked.retracted_at is not None:
        raise ReportActionRefused(f"This result was already withdrawn on {format_date(locked.retracted_at)}.")
    if locked.released_at is None:
        raise ReportActionRefused(
            "This result has not been released, so there is nothing to withdraw. "
            "To keep it from the patient, hold it instead."
        )
    locked.retracted_at, locked.retracted_by, locked.retraction_reason = now, viewer.user, text
    locked.save(update_fields=["retracted_at", "retracted_by", "retraction_reason", "updated_at"])
    report_action_record(report=locked, kind=ReportActionKind.RETRACTED, actor=viewer.user, note=text, at=now)
    _audit(viewer, report)
    _refresh(report, locked, ["retracted_at", "retracted_by", "retraction_reason"])
    return report
