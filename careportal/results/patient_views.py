"""The patient's (and proxy's) test results pages: /test-results/. Thin: access, select, present, render."""

import mimetypes
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.text import slugify

from careportal.access.decorators import patient_area
from careportal.access.layer import Viewer, access_patient_record
from careportal.access.scopes import Scope
from careportal.home.presenters import patient_navigation
from careportal.patients.voice import voice_for
from careportal.results import presenters, selectors
from careportal.results.patient_forms import ResultsFilterForm, WaitForClinicianForm
from careportal.results.preference_services import result_preferences_update, viewer_may_change_result_preferences

REPORTS_PER_PAGE = 20

# What an attachment may be served as; anything else is served as plain bytes to download.
ATTACHMENT_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg", "text/plain"})


class CountedPaginator(Paginator):
    """A Paginator told how many objects there are, instead of counting them with another query."""

    def __init__(self, object_list: Any, per_page: int, *, count: int) -> None:
        super().__init__(object_list, per_page)
        self.__dict__["count"] = count  # what the `count` cached_property would have computed


@patient_area
def result_list(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    patient = access_patient_record(viewer=viewer, scope=Scope.RESULTS, object_label="test results")
    waiting = selectors.waiting_kinds(patient=patient)
    tests = selectors.test_choices(viewer=viewer, waiting_kinds=waiting)
    form = ResultsFilterForm(request.GET or None, tests=tests.choices)
    test_code = form.cleaned_data["test"] if form.is_valid() else ""
    reports = selectors.reports_for_paging(viewer=viewer, test_code=test_code)
    page = CountedPaginator(reports, REPORTS_PER_PAGE, count=tests.list_length(test_code)).get_page(
        request.GET.get("page")
    )
    voice = voice_for(viewer)
    return render(
        request,
        "results/patient/list.jinja",
        {
            "page_title": "Test results",
            "viewer": viewer,
            "voice": voice,
            "patient": patient,
            "form": form,
            "test_code": test_code,
            "page": page,
            "summaries": presenters.report_summaries(page.object_list, waiting_kinds=waiting, voice=voice),
            "preference_sentence": presenters.preference_sentence(waiting, voice=voice),
            "waiting_sentence": presenters.waiting_for_clinician_sentence(tests.waiting_for_clinician, voice=voice),
            "preference_link": presenters.preference_link(voice),
            "navigation_items": patient_navigation(viewer),
        },
    )


@patient_area
def report_detail(request: HttpRequest, viewer: Viewer, public_id: UUID) -> HttpResponse:
    report = selectors.report_for_page(viewer=viewer, public_id=public_id)
    patient = report.patient
    voice = voice_for(viewer)
    page = presenters.report_page(
        report, viewer=viewer, patient=patient, waiting_kinds=selectors.waiting_kinds(patient=patient), voice=voice
    )
    return render(
        request,
        "results/patient/report.jinja",
        {
            "page_title": report.test_name,
            "viewer": viewer,
            "voice": voice,
            "report": page,
            "back_link": {"href": reverse("results:list"), "text": "Back to test results"},
            "navigation_items": patient_navigation(viewer),
        },
    )


@patient_area
def report_comments(request: HttpRequest, viewer: Viewer, public_id: UUID) -> HttpResponse:
    """The comments a report's page shows cut, in full."""
    report = selectors.report_for_comments(viewer=viewer, public_id=public_id)
    page = presenters.report_comments_page(report, viewer=viewer, patient=report.patient)
    return render(
        request,
        "results/patient/comments.jinja",
        {
            "page_title": f"Comments on {report.test_name}",
            "viewer": viewer,
            "page": page,
            "back_link": {"href": page.report_href, "text": f"Back to {report.test_name}"},
            "navigation_items": patient_navigation(viewer),
        },
    )


@patient_area
def report_attachment(request: HttpRequest, viewer: Viewer, public_id: UUID, sequence: int) -> HttpResponse:
    observation = selectors.attachment_for_download(viewer=viewer, public_id=public_id, sequence=sequence)
    content_type = observation.attachment_content_type.lower()
    if content_type not in ATTACHMENT_TYPES:
        content_type = "application/octet-stream"
    extension = mimetypes.guess_extension(content_type) or ".bin"
    filename = f"{slugify(observation.report.test_name) or 'test-result'}-{sequence}{extension}"
    response = FileResponse(
        observation.attachment.open("rb"), as_attachment=True, filename=filename, content_type=content_type
    )
    # Always a download, never rendered in the portal's origin, and never kept in a shared cache.
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox"
    response["Cache-Control"] = "private, no-store"
    # A streamed file, not an HttpResponse: patient_area's type names the common case.
    return response  # type: ignore[return-value]


@patient_area
def trend(request: HttpRequest, viewer: Viewer, code: str) -> HttpResponse:
    observations = selectors.trend_observations(viewer=viewer, code=code)
    page = presenters.trend_page(observations)
    voice = voice_for(viewer)
    return render(
        request,
        "results/patient/trend.jinja",
        {
            "page_title": page.name,
            "viewer": viewer,
            "voice": voice,
            "patient": viewer.patient,
            "trend": page,
            "trend_rows": presenters.trend_table_rows(page.rows, voice=voice),
            "back_link": {"href": reverse("results:list"), "text": "Back to test results"},
            "navigation_items": patient_navigation(viewer),
        },
    )


@patient_area
def preferences(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    if request.method == "POST" and viewer_may_change_result_preferences(viewer):
        form = WaitForClinicianForm(request.POST)
        if form.is_valid():
            result_preferences_update(viewer=viewer, wait_for_kinds=form.cleaned_data["kinds"])
            messages.success(request, "Your choices have been saved.")
            return redirect("results:list")
    else:
        form = None
    patient = access_patient_record(viewer=viewer, scope=Scope.RESULTS, object_label="test result preferences")
    waiting = selectors.waiting_kinds(patient=patient)
    if not viewer_may_change_result_preferences(viewer):
        # A proxy sees the patient's choices and cannot change them; a form posted anyway changes nothing.
        form, status = None, 403 if request.method == "POST" else 200
    else:
        status = 200
        if form is None:
            form = WaitForClinicianForm(initial={"kinds": sorted(waiting)})
    context = {
        "page_title": presenters.preferences_title(voice_for(viewer)),
        "viewer": viewer,
        "voice": voice_for(viewer),
        "patient": patient,
        "may_change": form is not None,
        "preference_sentence": presenters.preference_sentence(waiting, voice=voice_for(viewer)),
        "navigation_items": patient_navigation(viewer),
        "back_link": {"href": reverse("results:list"), "text": "Back to test results"},
    }
    if form is not None:
        context["form"] = form
    return render(request, "results/patient/preferences.jinja", context, status=status)
