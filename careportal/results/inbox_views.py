"""The clinicians' results inbox under /staff/results/: the list of reports routed to the clinician's care teams,
a report's page, and the review actions (each a POST to its own address, then back to the report).

Reports are resolved through the access layer (`access_report_as_staff`), which refuses anyone outside the report's
care team with an audited 404; the changes themselves live in review_services.py.
"""

from uuid import UUID

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from careportal.access.layer import Viewer
from careportal.access.scopes import Scope
from careportal.core.formatting import format_date
from careportal.core.forms import page_forms_with_failure
from careportal.results import inbox_presenters as presenters
from careportal.results import inbox_selectors as selectors
from careportal.results import review_services as services
from careportal.results.access import access_report_as_staff
from careportal.results.inbox_forms import ActionForm, CommentForm, HoldForm, RetractForm
from careportal.results.models import DiagnosticReport
from careportal.staff.inbox import InboxItems, InboxList, inbox_action, inbox_listing, team_inbox_area

LIST_AUDIT_LABEL = "test results in a results inbox"

clinician_area = team_inbox_area(scope=Scope.RESULTS, object_label="a care team's results inbox")

RESULTS_INBOX = InboxList(
    url_name="results:inbox",
    filter_labels=selectors.INBOX_FILTER_LABELS,
    default_filter=selectors.InboxFilter.ALL,
    list_audit_label=LIST_AUDIT_LABEL,
)


@clinician_area
def inbox(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    listing = inbox_listing(
        request, viewer, RESULTS_INBOX, rows=lambda v, show: selectors.inbox_reports(viewer=v, show=show)
    )
    team = listing.team
    return render(
        request,
        "results/inbox/inbox.jinja",
        {
            "page_title": f"Results inbox: {team.name}" if team else "Results inbox",
            "viewer": listing.viewer,
            **listing.context(),
            "rows": (rows := presenters.inbox_rows(listing.rows)),
            "table_rows": presenters.inbox_table_rows(rows),
        },
    )


def _report_page(
    request: HttpRequest,
    report: DiagnosticReport,
    *,
    failed: forms.Form | None = None,
    status: int = 200,
) -> HttpResponse:
    detailed = selectors.report_with_detail(report=report)
    page_forms: dict[str, forms.Form] = {
        "comment_form": CommentForm(initial={"comment": detailed.clinician_comment}),
        "hold_form": HoldForm(),
        "retract_form": RetractForm(),
    }
    context = page_forms_with_failure(page_forms, failed)
    context.update(
        {
            "page_title": detailed.test_name,
            "report": detailed,
            "summary_rows": presenters.summary_list(detailed),
            "flags": presenters.flag_tags(detailed),
            "values": (values := presenters.value_rows(list(detailed.observations.all()))),
            "value_table_rows": presenters.value_table_rows(values),
            "lab_comment": presenters.long_text(detailed.lab_comment),
            "versions": presenters.version_views(list(detailed.earlier_versions.all())),
            "history": (history := presenters.history_rows(list(detailed.actions.all()))),
            "history_table_rows": presenters.history_table_rows(history),
            "state": presenters.report_state(detailed),
            "comment_by": detailed.clinician_comment_by.audit_name if detailed.clinician_comment_by else "",
            "back_link": {"href": reverse("results:inbox"), "text": "Back to the results inbox"},
        }
    )
    return render(request, "results/inbox/report.jinja", context, status=status)


@clinician_area
def report_detail(request: HttpRequest, viewer: Viewer, report_id: UUID) -> HttpResponse:
    _viewer, report = access_report_as_staff(viewer=viewer, public_id=report_id, object_label=services.AUDIT_LABEL)
    return _report_page(request, report)


REPORTS = InboxItems(
    lookup=access_report_as_staff,
    object_label=services.AUDIT_LABEL,
    url_name="results:inbox-report",
    id_kwarg="report_id",
    refusal=services.ReportActionRefused,
    page=_report_page,
)


def _mark_reviewed(viewer: Viewer, report: DiagnosticReport, form: forms.Form) -> str:
    services.report_mark_reviewed(viewer=viewer, report=report)
    return "Marked as reviewed."


@require_POST
@clinician_area
def report_mark_reviewed(request: HttpRequest, viewer: Viewer, report_id: UUID) -> HttpResponse:
    return inbox_action(
        request,
        viewer,
        report_id,
        items=REPORTS,
        form_for=lambda _report: ActionForm(request.POST),
        action=_mark_reviewed,
    )


def _comment(viewer: Viewer, report: DiagnosticReport, form: forms.Form) -> str:
    changed = services.report_comment_set(viewer=viewer, report=report, comment=form.cleaned_data["comment"])
    if changed.released_at is None:
        return "Comment saved. The patient sees it with the result once it is released."
    return "Comment saved. The patient can see it now."


@require_POST
@clinician_area
def report_comment(request: HttpRequest, viewer: Viewer, report_id: UUID) -> HttpResponse:
    return inbox_action(
        request,
        viewer,
        report_id,
        items=REPORTS,
        form_for=lambda _report: CommentForm(request.POST),
        action=_comment,
    )


def _release(viewer: Viewer, report: DiagnosticReport, form: forms.Form) -> str:
    services.report_release_now(viewer=viewer, report=report)
    return (
        "Released to the patient and marked as reviewed. The patient has been told a new result "
        "is ready, without any detail."
    )


@require_POST
@clinician_area
def report_release(request: HttpRequest, viewer: Viewer, report_id: UUID) -> HttpResponse:
    return inbox_action(
        request,
        viewer,
        report_id,
        items=REPORTS,
        form_for=lambda _report: ActionForm(request.POST),
        action=_release,
    )


def _hold(viewer: Viewer, report: DiagnosticReport, form: forms.Form) -> str:
    services.report_hold(viewer=viewer, report=report, reason=form.cleaned_data["reason"])
    return "Held. It will not be released to the patient until someone removes the hold."


@require_POST
@clinician_area
def report_hold(request: HttpRequest, viewer: Viewer, report_id: UUID) -> HttpResponse:
    return inbox_action(
        request,
        viewer,
        report_id,
        items=REPORTS,
        form_for=lambda _report: HoldForm(request.POST),
        action=_hold,
    )


def _unhold(viewer: Viewer, report: DiagnosticReport, form: forms.Form) -> str:
    changed = services.report_unhold(viewer=viewer, report=report)
    if changed.release_due_at is None:
        return "Hold removed. This result is released only when a clinician releases it."
    if changed.release_due_at <= timezone.now():
        return "Hold removed. It is already due, so the next automatic release will release it."
    return f"Hold removed. It will be released automatically on {format_date(changed.release_due_at)}."


@require_POST
@clinician_area
def report_unhold(request: HttpRequest, viewer: Viewer, report_id: UUID) -> HttpResponse:
    return inbox_action(
        request,
        viewer,
        report_id,
        items=REPORTS,
        form_for=lambda _report: ActionForm(request.POST),
        action=_unhold,
    )


def _retract(viewer: Viewer, report: DiagnosticReport, form: forms.Form) -> str:
    services.report_retract(viewer=viewer, report=report, reason=form.cleaned_data["reason"])
    return "Withdrawn. The patient now sees that this result was withdrawn, not its values."


@require_POST
@clinician_area
def report_retract(request: HttpRequest, viewer: Viewer, report_id: UUID) -> HttpResponse:
    return inbox_action(
        request,
        viewer,
        report_id,
        items=REPORTS,
        form_for=lambda _report: RetractForm(request.POST),
        action=_retract,
    )
