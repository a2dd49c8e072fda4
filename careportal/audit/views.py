from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from careportal.access.decorators import patient_area
from careportal.access.layer import Viewer, access_patient_record
from careportal.access.scopes import Scope
from careportal.audit import presenters
from careportal.audit.selectors import WhoFilter, access_events_for_patient, event_names
from careportal.home.presenters import patient_navigation

EVENTS_PER_PAGE = 50


@patient_area
def access_log(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    patient = access_patient_record(viewer=viewer, scope=Scope.ACCESS_LOG, object_label="record access log")
    who = WhoFilter.parse(request.GET.get("who"))
    events = access_events_for_patient(patient=patient, who=who)
    page = Paginator(events, EVENTS_PER_PAGE).get_page(request.GET.get("page"))
    reports, relationships = event_names(patient=patient, events=page.object_list)
    names = presenters.EventNames(reports=reports, relationships=relationships)
    return render(
        request,
        "audit/access_log.jinja",
        {
            "page_title": "Who has viewed your record",
            "page": page,
            "entries": [presenters.access_log_entry(event, patient=patient, names=names) for event in page.object_list],
            "filters": presenters.filter_links(who),
            "introduction": presenters.INTRODUCTIONS[who],
            "empty_state": presenters.EMPTY_STATES[who],
            "page_query": presenters.page_query(who),
            "navigation_items": patient_navigation(viewer),
        },
    )
