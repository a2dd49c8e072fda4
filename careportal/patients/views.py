from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from careportal.access.decorators import patient_area
from careportal.access.layer import Viewer, access_patient_record
from careportal.access.scopes import Scope
from careportal.home.presenters import patient_navigation
from careportal.patients.presenters import contact_detail_rows, patient_detail_rows


@patient_area
def your_details(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    patient = access_patient_record(viewer=viewer, scope=Scope.DETAILS, object_label="contact details")
    return render(
        request,
        "patients/your_details.jinja",
        {
            "page_title": "Your details" if not viewer.is_proxy else "Their details",
            "viewer": viewer,
            "patient": patient,
            "identity_rows": patient_detail_rows(patient),
            "contact_rows": contact_detail_rows(patient),
            "navigation_items": patient_navigation(viewer),
        },
    )
