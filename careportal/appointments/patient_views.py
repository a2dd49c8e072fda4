"""The patient's (and proxy's) appointments pages: /appointments/. Thin: access, select, present, render."""

from uuid import UUID

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse

from careportal.access.decorators import patient_area
from careportal.access.layer import Viewer
from careportal.appointments import presenters, selectors
from careportal.appointments.access import access_appointment, access_appointments
from careportal.appointments.calendar import appointment_ics
from careportal.appointments.forms import AppointmentChangeForm
from careportal.appointments.services import AppointmentRequestError, appointment_change_request, join_link_for
from careportal.audit.models import AccessAction
from careportal.home.presenters import patient_navigation
from careportal.patients.voice import voice_for

PAST_PER_PAGE = 20


def _back() -> dict[str, str]:
    return {"href": reverse("appointments:list"), "text": "Back to appointments"}


@patient_area
def appointment_list(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    patient = access_appointments(viewer=viewer)
    voice = voice_for(viewer)
    upcoming = list(selectors.upcoming_appointments(viewer=viewer))
    past_page = Paginator(selectors.past_appointments(viewer=viewer), PAST_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "appointments/patient/list.jinja",
        {
            "page_title": "Appointments",
            "viewer": viewer,
            "voice": voice,
            "patient": patient,
            "upcoming": presenters.appointment_summaries(upcoming),
            "past": presenters.appointment_summaries(list(past_page.object_list)),
            "past_page": past_page,
            "empty_upcoming": presenters.list_empty_text(voice, upcoming=True),
            "empty_past": presenters.list_empty_text(voice, upcoming=False),
            "navigation_items": patient_navigation(viewer),
        },
    )


@patient_area
def appointment_detail(request: HttpRequest, viewer: Viewer, public_id: UUID) -> HttpResponse:
    appointment = access_appointment(viewer=viewer, public_id=public_id)
    voice = voice_for(viewer)
    page = presenters.appointment_page(appointment, voice=voice)
    return render(
        request,
        "appointments/patient/detail.jinja",
        {
            "page_title": page.title,
            "viewer": viewer,
            "voice": voice,
            "patient": appointment.patient,
            "appointment": page,
            "back_link": _back(),
            "navigation_items": patient_navigation(viewer),
        },
    )


@patient_area
def appointment_calendar(request: HttpRequest, viewer: Viewer, public_id: UUID) -> HttpResponse:
    appointment = access_appointment(
        viewer=viewer, public_id=public_id, object_label="appointment calendar file", action=AccessAction.DOWNLOAD
    )
    page_url = request.build_absolute_uri(reverse("appointments:detail", kwargs={"public_id": appointment.public_id}))
    response = HttpResponse(
        appointment_ics(appointment, page_url=page_url), content_type="text/calendar; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{presenters.calendar_filename(appointment)}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@patient_area
def appointment_join(request: HttpRequest, viewer: Viewer, public_id: UUID) -> HttpResponse:
    """Straight to the video call, in its joining window; otherwise a page that says when the button appears."""
    appointment = access_appointment(viewer=viewer, public_id=public_id)
    link = join_link_for(viewer=viewer, appointment=appointment)
    if link is not None:
        response = HttpResponseRedirect(link)
        # The link is a credential: not cached, and not sent on as a referrer by the video service's page.
        response["Cache-Control"] = "private, no-store"
        response["Referrer-Policy"] = "no-referrer"
        return response
    voice = voice_for(viewer)
    page = presenters.appointment_page(appointment, voice=voice)
    if page.kind != "video":
        raise Http404("Page not found")
    return render(
        request,
        "appointments/patient/join_closed.jinja",
        {
            "page_title": "You cannot join this video appointment now",
            "viewer": viewer,
            "appointment": page,
            "detail_href": reverse("appointments:detail", kwargs={"public_id": appointment.public_id}),
            "back_link": {
                "href": reverse("appointments:detail", kwargs={"public_id": appointment.public_id}),
                "text": "Back to the appointment",
            },
            "navigation_items": patient_navigation(viewer),
        },
    )


@patient_area
def appointment_change(request: HttpRequest, viewer: Viewer, public_id: UUID) -> HttpResponse:
    appointment = access_appointment(viewer=viewer, public_id=public_id, object_label="appointment change request")
    voice = voice_for(viewer)
    page = presenters.appointment_page(appointment, voice=voice)
    form = AppointmentChangeForm(request.POST if request.method == "POST" else None, own=voice.own, name=voice.name)
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            appointment_change_request(
                viewer=viewer,
                appointment=appointment,
                action=form.cleaned_data["action"],
                reason=form.cleaned_data["reason"],
                preferred=form.cleaned_data["preferred"],
            )
        except AppointmentRequestError as exc:
            error = str(exc)
        else:
            return render(
                request,
                "appointments/patient/change_sent.jinja",
                {
                    "page_title": "Request sent",
                    "viewer": viewer,
                    "voice": voice,
                    "team": appointment.care_team.name if appointment.care_team else "",
                    "action": form.cleaned_data["action"],
                    "detail_href": reverse("appointments:detail", kwargs={"public_id": appointment.public_id}),
                    "navigation_items": patient_navigation(viewer),
                },
            )
    return render(
        request,
        "appointments/patient/change.jinja",
        {
            "page_title": presenters.change_title(voice),
            "viewer": viewer,
            "voice": voice,
            "appointment": page,
            "can_request": bool(page.change_href) and appointment.care_team is not None,
            "reply_target": appointment.care_team.response_target_text if appointment.care_team else "",
            "form": form,
            "error": error,
            "back_link": {
                "href": reverse("appointments:detail", kwargs={"public_id": appointment.public_id}),
                "text": "Back to the appointment",
            },
            "navigation_items": patient_navigation(viewer),
        },
        status=400 if request.method == "POST" else 200,
    )
