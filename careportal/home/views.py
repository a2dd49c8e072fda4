from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from careportal.access.decorators import patient_area
from careportal.access.layer import (
    Viewer,
    access_patient_record,
    patient_choices,
    patient_context_choose,
    record_chosen,
)
from careportal.access.roles import is_staff_member
from careportal.access.scopes import Scope
from careportal.home.presenters import home_cards, patient_navigation, record_choices


def start(request: HttpRequest) -> HttpResponse:
    return render(request, "home/start.jinja", {"page_title": "Your hospital record online"})


@patient_area
def home(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    # Someone with more than one record to open (their own and a child's) chooses first, after signing in.
    if len(request.patient_choices) > 1 and not record_chosen(request):  # type: ignore[attr-defined]
        return redirect("home:choose")
    patient = access_patient_record(viewer=viewer, scope=_any_scope(viewer), object_label="home page")
    return render(
        request,
        "home/home.jinja",
        {
            "page_title": "Home",
            "patient": patient,
            "viewer": viewer,
            "cards": home_cards(viewer),
            "navigation_items": patient_navigation(viewer),
        },
    )


def _any_scope(viewer: Viewer) -> Scope:
    # The home page shows the patient's name and which parts of the record the viewer has: any one scope allows it.
    return next(iter(sorted(viewer.scopes)), Scope.DETAILS)


@login_required
def choose(request: HttpRequest) -> HttpResponse:
    choices = patient_choices(request.user)  # type: ignore[arg-type]
    return render(
        request,
        "home/choose.jinja",
        {
            "page_title": "Whose record do you want to see?",
            "choices": record_choices(choices),
            "is_staff_member": is_staff_member(request.user),
        },
    )


@require_POST
@login_required
def act_for(request: HttpRequest, patient_id: UUID) -> HttpResponse:
    patient_context_choose(request=request, public_id=patient_id)
    return redirect("home:home")
