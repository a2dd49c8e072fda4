"""Changes to reports that more than one caller needs: release (by the job or a clinician) and its notice."""

import datetime

from django.db import transaction
from django.utils import timezone

from careportal.accounts.models import User
from careportal.notifications.kinds import Kind
from careportal.notifications.services import notification_send
from careportal.proxy.models import ProxyRelationship, ProxyStatus
from careportal.results.models import DiagnosticReport, ReportAction, ReportActionKind


def report_action_record(
    *, report: DiagnosticReport, kind: ReportActionKind, actor: User | None, note: str = "", at: datetime.datetime
) -> ReportAction:
    return ReportAction.objects.create(
        report=report,
        kind=kind,
        actor=actor,
        actor_name=actor.audit_name if actor is not None else "CarePortal",
        note=note[:500],
        at=at,
    )


def report_release_recipients(report: DiagnosticReport) -> list[User]:
    """The patient's own account and every active proxy who may see this report: the results scope, and the
    report's sensitive category granted if it has one."""
    recipients: list[User] = []
    if report.patient.user_id is not None and report.patient.user is not None:
        recipients.append(report.patient.user)
    proxies = ProxyRelationship.objects.filter(patient=report.patient, status=ProxyStatus.ACTIVE).select_related(
        "proxy"
    )
    from careportal.access.proxy_policy import effective_proxy_scopes
    from careportal.access.scopes import Scope

    today = timezone.localdate()
    for relationship in proxies:
        if Scope.RESULTS not in effective_proxy_scopes(relationship, today=today):
            continue
        if report.sensitive_category and report.sensitive_category not in relationship.sensitive_categories_granted:
            continue
        recipients.append(relationship.proxy)
    return recipients


@transaction.atomic
def report_release(*, report: DiagnosticReport, by: User | None, now: datetime.datetime | None = None) -> bool:
    """Release one report to the patient and notify them (and their proxies) once, with no clinical detail.

    Returns False, changing nothing, when the report is already released: callers may race (the release job on
    several workers, a clinician pressing "release now") and only the first one wins. The row is locked first.
    """
    now = now or timezone.now()
    locked = DiagnosticReport.objects.select_for_update().select_related("patient__user").get(pk=report.pk)
    if locked.released_at is not None:
        return False
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
