from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from careportal.access.decorators import patient_area
from careportal.access.layer import Viewer, access_patient_record
from careportal.access.scopes import Scope
from careportal.audit.presenters import access_log_entry
from careportal.audit.selectors import access_events_for_patient
from careportal.home.presenters import patient_navigation

EVENTS_PER_PAGE = 50


@patient_area
def access_log(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    patient = access_patient_record(viewer=viewer, scope=Scope.ACCESS_LOG, object_label="record access log")
    page = Paginator(access_events_for_patient(patient=patient), EVENTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "audit/access_log.jinja",
        {
            "page_title": "Who has viewed your record",
            "page": page,
            "entries": [access_log_entry(event, patient=patient) for event in page.object_list],
            "navigation_items": patient_navigation(viewer),
        },
    )
