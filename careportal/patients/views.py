from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from careportal.access.decorators import patient_area
from careportal.access.layer import Viewer, access_patient_record
from careportal.access.scopes import Scope
from careportal.home.presenters import patient_navigation
from careportal.patients.presenters import contact_detail_rows, details_title, patient_detail_rows
from careportal.patients.voice import voice_for


@patient_area
def your_details(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    patient = access_patient_record(viewer=viewer, scope=Scope.DETAILS, object_label="contact details")
    voice = voice_for(viewer)
    return render(
        request,
        "patients/your_details.jinja",
        {
            "page_title": details_title(voice),
            "viewer": viewer,
            "voice": voice,
            "patient": patient,
            "identity_rows": patient_detail_rows(patient),
            "contact_rows": contact_detail_rows(patient, voice=voice),
            "navigation_items": patient_navigation(viewer),
        },
    )
