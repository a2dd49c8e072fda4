"""Changes to reports that more than one caller needs: release (by the job or a clinician) and its notice.

The clinicians' own actions (review, comment, hold, retract) live in careportal/results/review_services.py; the
periodic release of due reports in careportal/results/release_job.py.
"""

import dataclasses
import datetime
from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from careportal.access.scopes import Scope
from careportal.accounts.models import User
from careportal.notifications.kinds import Kind
from careportal.notifications.services import notification_send
from careportal.proxy.selectors import people_to_tell
from careportal.results.models import DiagnosticReport, ReportAction, ReportActionKind, ReportStatus

# How a release by CarePortal itself (the release job) is named in a report's history.
SYSTEM_ACTOR_NAME = "CarePortal"
# Only a final report, or a correction of one, ever reaches a patient: a preliminary one is replaced by the final.
RELEASABLE_STATUSES = frozenset({ReportStatus.FINAL, ReportStatus.CORRECTED})


class ReportNotReleasable(ValueError):
    """The report's state forbids releasing it (held, withdrawn, cancelled, not final). The message is written for
    a clinician and names no patient data."""


def release_refusal(report: DiagnosticReport) -> str:
    """Why this report may not be released as it stands, or "" when it may. Read it on the locked row."""
    if report.retracted_at is not None:
        return "This result was withdrawn from the patient, so it cannot be released again."
    if report.status == ReportStatus.CANCELLED:
        return "The lab cancelled this test, so there is no result to release."
    if report.held_at is not None:
        return "This result is held. Remove the hold before you release it."
    if report.status not in RELEASABLE_STATUSES:
        return "The lab has not sent the final report yet. It can be released once the final report arrives."
    return ""


def report_action_record(
    *, report: DiagnosticReport, kind: ReportActionKind, actor: User | None, note: str = "", at: datetime.datetime
) -> ReportAction:
    return ReportAction.objects.create(
        report=report,
        kind=kind,
        actor=actor,
        actor_name=actor.audit_name if actor is not None else SYSTEM_ACTOR_NAME,
        note=note[:500],
        at=at,
    )


@dataclasses.dataclass(frozen=True)
class ReleaseTarget:
    """What deciding who to tell about a released report needs, and nothing clinical."""

    report_id: int
    patient_id: int
    sensitive_category: str


def release_recipients_for(
    targets: Sequence[ReleaseTarget], *, today: datetime.date | None = None
) -> dict[int, list[User]]:
    """For each report id, the people to tell that it was released, in two queries however many reports there are:

    - the patient's own account, if active;
    - every active proxy whose relationship gives the results scope today (the age rules apply: a parent of a
      16-year-old keeps appointments only) and, when the report has a sensitive category, has been granted it.

    The users carry only their id, first name and email address: all a notification may use.
    """
    people = people_to_tell({target.patient_id for target in targets}, scope=Scope.RESULTS, today=today)
    return {
        target.report_id: [
            person.user for person in people.get(target.patient_id, []) if person.may_see(target.sensitive_category)
        ]
        for target in targets
    }


def report_release_recipients(report: DiagnosticReport) -> list[User]:
    """The patient's own account and every active proxy who may see this report: the results scope, and the
    report's sensitive category granted if it has one."""
    target = ReleaseTarget(
        report_id=report.pk, patient_id=report.patient_id, sensitive_category=report.sensitive_category
    )
    return release_recipients_for([target])[report.pk]


@transaction.atomic
def report_release(*, report: DiagnosticReport, by: User | None, now: datetime.datetime | None = None) -> bool:
    """Release one report to the patient and notify them (and their proxies) once, with no clinical detail.

    Returns False, changing nothing, when the report is already released: callers may race (the release job on
    several workers, a clinician pressing "release now") and only the first one wins. Raises ReportNotReleasable,
    changing nothing, when the report is held, withdrawn, cancelled or not final: callers check that first, and this
    checks it again on the locked row, so that a hold or a withdrawal committed a moment earlier always wins.
    """
    now = now or timezone.now()
    locked = DiagnosticReport.objects.select_for_update().get(pk=report.pk)
    if locked.released_at is not None:
        return False
    refusal = release_refusal(locked)
    if refusal:
        raise ReportNotReleasable(refusal)
    locked.released_at = now
    locked.released_by = by
    locked.release_notified_at = now
    locked.save(update_fields=["released_at", "released_by", "release_notified_at", "updated_at"])
    report_action_record(
        report=locked,
        kind=ReportActionKind.RELEASED if by is not None else ReportActionKind.AUTO_RELEASED,
        actor=by,
        at=now,
    )
    for user in report_release_recipients(locked):
        notification_send(kind=Kind.RESULT_RELEASED, user=user)
    report.released_at, report.released_by, report.release_notified_at = now, by, now
    return True
