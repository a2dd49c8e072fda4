"""The access layer for test results: which reports and observations a viewer may see, and one report for staff.

Built on the shared primitives in `careportal/access/layer.py`; every refusal is the one audited `Http404`.
"""

from uuid import UUID

from django.db.models import QuerySet

from careportal.access.layer import (
    ModelT,
    Viewer,
    access_team_row_as_staff,
    deny,
    team_rows_for_staff,
    without_ungranted_sensitive,
)
from careportal.access.scopes import Scope
from careportal.audit.models import AccessAction
from careportal.audit.services import access_event_record
from careportal.results.models import DiagnosticReport


def visible_reports(*, viewer: Viewer, queryset: QuerySet[ModelT], report_path: str = "") -> QuerySet[ModelT]:
    """Test-result rows (reports, or rows under a report such as observations) of the patient in view that the
    viewer may see. Not audited, like `scoped_to_patient`; the caller reads them through `access_patient_record`,
    `access_object` or `access_results`.

    Needs Scope.RESULTS. Anyone but the patient themself (a proxy) loses every report in a sensitive category
    (sexual health, HIV, genetics, mental health, safeguarding) that staff have not granted on their
    relationship: not its values, and not even that the test was done (DESIGN.md, Proxy). `report_path` is the
    lookup from the queryset's model to its report: "" for reports, "report" for observations.
    """
    if viewer.patient is None or not viewer.can(Scope.RESULTS):
        return queryset.none()
    prefix = f"{report_path}__" if report_path else ""
    rows = queryset.filter(**{f"{prefix}patient": viewer.patient})
    return without_ungranted_sensitive(viewer=viewer, queryset=rows, field=f"{prefix}sensitive_category")


def access_results(
    *,
    viewer: Viewer,
    queryset: QuerySet[ModelT],
    object_label: str,
    object_id: str,
    report_path: str = "",
    action: AccessAction = AccessAction.VIEW,
) -> QuerySet[ModelT]:
    """Several test-result rows read as one thing (a test's values over time): the `visible_reports` rows,
    audited as one read; Http404, audited as a refusal of `object_id`, when there are none, so that a test the
    patient never had and another patient's test look the same."""
    rows = visible_reports(viewer=viewer, queryset=queryset, report_path=report_path)
    if not rows.exists():
        deny(viewer, object_label=object_label, object_type="results", object_id=object_id[:64])
    access_event_record(viewer=viewer, patient=viewer.patient, action=action, object_label=object_label)
    return rows


def reports_for_staff(viewer: Viewer) -> QuerySet[DiagnosticReport]:
    """Reports routed to the clinician's active care teams (only `viewer.care_team` when it is set). Not audited:
    a list page records the patients it shows with `team_inbox_rows_listed`."""
    return team_rows_for_staff(viewer=viewer, queryset=DiagnosticReport.objects.all(), scope=Scope.RESULTS)


def access_report_as_staff(
    *,
    viewer: Viewer,
    public_id: UUID | str,
    object_label: str,
    action: AccessAction | None = AccessAction.VIEW,
) -> tuple[Viewer, DiagnosticReport]:
    """A report in one of the clinician's teams' inboxes, with the viewer naming its patient and team; Http404
    (audited) otherwise.

    With `action=None` nothing is recorded on success: the service that then changes the report records the
    change with `staff_change_record` inside its own transaction, so a refused change leaves no "changed" event.
    """
    return access_team_row_as_staff(
        viewer=viewer, queryset=reports_for_staff(viewer), public_id=public_id, object_label=object_label, action=action
    )
