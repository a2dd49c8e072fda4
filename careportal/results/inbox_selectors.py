"""Reads for the clinicians' results inbox. The rows come from the access layer (`reports_for_staff`), so a
clinician only ever sees reports routed to their own active care teams."""

from enum import StrEnum

from django.db.models import Exists, OuterRef, Prefetch, QuerySet

from careportal.access.layer import Viewer
from careportal.results.access import reports_for_staff
from careportal.results.models import (
    INBOX_ORDER,
    DiagnosticReport,
    DiagnosticReportVersion,
    ReportAction,
    ResultPreference,
)


class InboxFilter(StrEnum):
    ALL = "all"
    UNREVIEWED = "unreviewed"
    HELD = "held"
    RELEASED = "released"


INBOX_FILTER_LABELS = {
    InboxFilter.ALL: "All results",
    InboxFilter.UNREVIEWED: "Not reviewed",
    InboxFilter.HELD: "Held",
    InboxFilter.RELEASED: "Released",
}


def _with_wait_preference(queryset: QuerySet[DiagnosticReport]) -> QuerySet[DiagnosticReport]:
    # "Wait for my clinician": the patient chose to see this kind of result only after a clinician releases it.
    return queryset.annotate(
        patient_waits_for_clinician=Exists(
            ResultPreference.objects.filter(
                patient=OuterRef("patient"), result_kind=OuterRef("result_kind"), wait_for_clinician=True
            )
        )
    )


def inbox_reports(*, viewer: Viewer, show: InboxFilter) -> QuerySet[DiagnosticReport]:
    """The inbox in working order: not yet reviewed first, then critical, then abnormal, newest first.

    One query for a page of rows whatever its length: the patient, the team and the patient's "wait" choice
    come with each row.
    """
    queryset = reports_for_staff(viewer)
    if show == InboxFilter.UNREVIEWED:
        queryset = queryset.filter(reviewed_at__isnull=True)
    elif show == InboxFilter.HELD:
        queryset = queryset.filter(held_at__isnull=False)
    elif show == InboxFilter.RELEASED:
        queryset = queryset.filter(released_at__isnull=False)
    # INBOX_ORDER, which the indexes report_inbox_order_idx and report_inbox_all_teams_idx hold on PostgreSQL.
    return _with_wait_preference(queryset).select_related("patient", "care_team").order_by(*INBOX_ORDER)


def inbox_unreviewed_count(*, viewer: Viewer) -> int:
    return reports_for_staff(viewer).filter(reviewed_at__isnull=True).count()


def report_with_detail(*, report: DiagnosticReport) -> DiagnosticReport:
    """The report (already resolved through the access layer) with its values, earlier versions and history,
    in a fixed number of queries."""
    found = (
        _with_wait_preference(DiagnosticReport.objects.filter(pk=report.pk))
        .select_related("patient", "care_team", "reviewed_by", "released_by", "held_by", "retracted_by")
        .select_related("clinician_comment_by")
        .prefetch_related(
            "observations",
            Prefetch("earlier_versions", queryset=DiagnosticReportVersion.objects.order_by("-version")),
            Prefetch("actions", queryset=ReportAction.objects.order_by("at", "pk")),
        )
        .get()
    )
    return found
