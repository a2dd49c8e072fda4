"""/access-for-others/: who can act for the signed-in person, and whom they act for. Always about the signed-in
person themself, never about the record a proxy has open."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from careportal.access.layer import viewer_for_request
from careportal.home.presenters import patient_navigation
from careportal.proxy import presenters, selectors
from careportal.proxy.access import access_own_proxy_list, own_viewer


def navigation(request: HttpRequest) -> list[dict[str, str]]:
    """The header's menu for whichever record the session has open (these pages are about the person themself)."""
    return patient_navigation(viewer_for_request(request))


@login_required
def hub(request: HttpRequest) -> HttpResponse:
    viewer = own_viewer(request)
    patient_side = None
    if viewer.patient is not None:
        patient = access_own_proxy_list(viewer=viewer)
        patient_side = presenters.patient_side(
            relationships=selectors.relationships_for_patient(patient),
            invitations=selectors.invitations_pending(patient),
            patient=patient,
        )
    proxy_side = presenters.proxy_side(selectors.relationships_as_proxy(viewer.user))
    session_viewer = viewer_for_request(request)
    return render(
        request,
        "proxy/hub.jinja",
        {
            "page_title": "Access for others",
            "patient_side": patient_side,
            "proxy_side": proxy_side,
            "acting_for_other": session_viewer is not None and session_viewer.is_proxy,
            "navigation_items": patient_navigation(session_viewer),
        },
    )
