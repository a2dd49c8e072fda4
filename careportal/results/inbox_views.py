"""The clinicians' results inbox under /staff/results/: the list of reports routed to the clinician's care teams,
a report's page, and the review actions (each a POST to its own address, then back to the report).

Reports are resolved through the access layer (`access_report_as_staff`), which refuses anyone outside the report's
care team with an audited 404; the changes themselves live in review_services.py.
"""

from collections.abc import Callable
from dataclasses import replace
from functools import wraps
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from careportal.access.layer import Viewer, clinician_viewer, team_inbox_rows_listed
from careportal.core.formatting import format_date
from careportal.core.forms import page_forms_with_failure
from careportal.results import inbox_presenters as presenters
from careportal.results import inbox_selectors as selectors
from careportal.results import review_services as services
from careportal.results.access import access_report_as_staff
from careportal.results.inbox_forms import ActionForm, CommentForm, HoldForm, RetractForm
from careportal.results.models import DiagnosticReport
from careportal.staff.inbox_navigation import inbox_navigation

PAGE_SIZE = 25
LIST_AUDIT_LABEL = "test results in a results inbox"

ViewFunc = Callable[..., HttpResponse]


def clinician_area(view: ViewFunc) -> ViewFunc:
    """Members of an active care team only; the helpdesk, patients and proxies get an audited 404."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        viewer = clinician_viewer(request)
        request.viewer = viewer  # type: ignore[attr-defined]
        return view(request, viewer, *args, **kwargs)

    return wrapper


@clinician_area
def inbox(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    teams = selectors.inbox_teams(viewer=viewer)
    team_id = request.GET.get("team", "")
    team = None
    if team_id:
        team = selectors.inbox_team(viewer=viewer, public_id=team_id)
        if team is None:
            raise Http404("Page not found")
        viewer = replace(viewer, care_team=team)
    try:
        show = selectors.InboxFilter(request.GET.get("show", selectors.InboxFilter.ALL))
    except ValueError:
        show = selectors.InboxFilter.ALL
    page = Paginator(selectors.inbox_reports(viewer=viewer, show=show), PAGE_SIZE).get_page(request.GET.get("page"))
    reports = list(page.object_list)
    team_inbox_rows_listed(viewer=viewer, rows=reports, object_label=LIST_AUDIT_LABEL)
    return render(
        request,
        "results/inbox/inbox.jinja",
        {
            "page_title": f"Results inbox: {team.name}" if team else "Results inbox",
            "viewer": viewer,
            "team": team,
            "teams": teams,
            "show": show,
            "page": page,
            **inbox_navigation(
                url_name="results:inbox",
                teams=teams,
                team=team,
                show=show,
                default_show=selectors.InboxFilter.ALL,
                filter_labels=selectors.INBOX_FILTER_LABELS,
            ),
            "rows": (rows := presenters.inbox_rows(reports)),
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


Action = Callable[[Viewer, DiagnosticReport, dict[str, Any]], DiagnosticReport]


def _act(
    request: HttpRequest,
    viewer: Viewer,
    report_id: UUID,
    *,
    form: forms.Form,
    action: Action,
    done: Callable[[DiagnosticReport], str],
) -> HttpResponse:
    # Resolved without a "viewed" event: the service records "changed" in its own transaction, and a refused
    # change re-reads the report below, which records the view.
    viewer, report = access_report_as_staff(
        viewer=viewer, public_id=report_id, object_label=services.AUDIT_LABEL, action=None
    )
    if form.is_valid():
        try:
            changed = action(viewer, report, form.cleaned_data)
        except services.ReportActionRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            messages.success(request, done(changed))
            return redirect("results:inbox-report", report_id=report.public_id)
    viewer, report = access_report_as_staff(viewer=viewer, public_id=report_id, object_label=services.AUDIT_LABEL)
    return _report_page(request, report, failed=form, status=400)


@require_POST
@clinician_area
def report_mark_reviewed(request: HttpRequest, viewer: Viewer, report_id: UUID) -> HttpResponse:
    return _act(
        request,
        viewer,
        report_id,
        form=ActionForm(request.POST),
        action=lambda v, r, _data: services.report_mark_reviewed(viewer=v, report=r),
        done=lambda r: "Marked as reviewed.",
    )


@require_POST
@clinician_area
def report_comment(request: HttpRequest, viewer: Viewer, report_id: UUID) -> HttpResponse:
    return _act(
        request,
        viewer,
        report_id,
        form=CommentForm(request.POST),
        action=lambda v, r, data: services.report_comment_set(viewer=v, report=r, comment=data["comment"]),
        done=lambda r: (
            "Comment saved. The patient sees it with the result once it is released."
            if r.released_at is None
            else "Comment saved. The patient can see it now."
        ),
    )


@require_POST
@clinician_area
def report_release(request: HttpRequest, viewer: Viewer, report_id: UUID) -> HttpResponse:
    return _act(
        request,
        viewer,
        report_id,
        form=ActionForm(request.POST),
        action=lambda v, r, _data: services.report_release_now(viewer=v, report=r),
        done=lambda r: (
            "Released to the patient and marked as reviewed. The patient has been told a new result "
            "is ready, without any detail."
        ),
    )


@require_POST
@clinician_area
def report_hold(request: HttpRequest, viewer: Viewer, report_id: UUID) -> HttpResponse:
    return _act(
        request,
        viewer,
        report_id,
        form=HoldForm(request.POST),
        action=lambda v, r, data: services.report_hold(viewer=v, report=r, reason=data["reason"]),
        done=lambda r: "Held. It will not be released to the patient until someone removes the hold.",
    )


def _unheld_message(report: DiagnosticReport) -> str:
    if report.release_due_at is None:
        return "Hold removed. This result is released only when a clinician releases it."
    if report.release_due_at <= timezone.now():
        return "Hold removed. It is already due, so the next automatic release will release it."
    return f"Hold removed. It will be released automatically on {format_date(report.release_due_at)}."


@require_POST
@clinician_area
def report_unhold(request: HttpRequest, viewer: Viewer, report_id: UUID) -> HttpResponse:
    return _act(
        request,
        viewer,
        report_id,
        form=ActionForm(request.POST),
        action=lambda v, r, _data: services.report_unhold(viewer=v, report=r),
        done=_unheld_message,
    )


@require_POST
@clinician_area
def report_retract(request: HttpRequest, viewer: Viewer, report_id: UUID) -> HttpResponse:
    return _act(
        request,
        viewer,
        report_id,
        form=RetractForm(request.POST),
        action=lambda v, r, data: services.report_retract(viewer=v, report=r, reason=data["reason"]),
        done=lambda r: "Withdrawn. The patient now sees that this result was withdrawn, not its values.",
    )
