"""What the appointments pages show: list rows and the details page, in plain words, spoken to the patient or, for
someone acting for them, about the patient (careportal/patients/voice.py)."""

from __future__ import annotations

import dataclasses
import datetime
from dataclasses import dataclass, field

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from careportal.appointments.models import Appointment, AppointmentKind, AppointmentStatus, MeetingStatus
from careportal.appointments.services import join_window
from careportal.appointments.wording import clock, day, time_range
from careportal.patients.models import Patient
from careportal.patients.voice import Voice

# Built by the video part of issue 12 (careportal/video): a page to try the camera and microphone beforehand.
TEST_CAMERA_PATH = "/appointments/test-camera-and-microphone/"

KIND_TITLES = {
    AppointmentKind.IN_PERSON: "Appointment",
    AppointmentKind.TELEPHONE: "Telephone appointment",
    AppointmentKind.VIDEO: "Video appointment",
}
KIND_LABELS = {
    AppointmentKind.IN_PERSON: "In person",
    AppointmentKind.TELEPHONE: "Telephone",
    AppointmentKind.VIDEO: "Video",
}


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def shown_status(appointment: Appointment, now: datetime.datetime) -> str:
    """The status as the patient reads it: a booked appointment whose end has passed is fulfilled (attended)."""
    if appointment.status == AppointmentStatus.BOOKED and appointment.end <= now:
        return AppointmentStatus.FULFILLED
    return appointment.status


def clinic_name(appointment: Appointment) -> str:
    if appointment.clinic is not None and appointment.clinic.patient_name:
        return appointment.clinic.patient_name
    return appointment.service_name or (appointment.clinic.name if appointment.clinic else "")


@dataclass(frozen=True)
class Tag:
    text: str
    colour: str


def _tag(status: str) -> Tag | None:
    if status == AppointmentStatus.CANCELLED:
        return Tag("Cancelled", "red")
    if status == AppointmentStatus.NOSHOW:
        return Tag("Missed", "grey")
    return None


@dataclass(frozen=True)
class AppointmentSummary:
    href: str
    heading: str
    when: str
    kind: str
    clinic: str
    tag: Tag | None


def appointment_summaries(
    appointments: list[Appointment], *, now: datetime.datetime | None = None
) -> list[AppointmentSummary]:
    now = now or timezone.now()
    return [
        AppointmentSummary(
            href=reverse("appointments:detail", kwargs={"public_id": a.public_id}),
            heading=day(a.start, with_year=True),
            when=time_range(a.start, a.end),
            kind=KIND_LABELS[AppointmentKind(a.kind)],
            clinic=clinic_name(a),
            tag=_tag(shown_status(a, now)),
        )
        for a in appointments
    ]


@dataclass(frozen=True)
class JoinSection:
    """The video part of the page. `state`: before, open, preparing, ended, closed (not booked)."""

    state: str
    text: str
    join_href: str = ""
    test_href: str = TEST_CAMERA_PATH


def _join_section(appointment: Appointment, *, now: datetime.datetime, voice: Voice) -> JoinSection:
    opens, closes = join_window(appointment)
    if appointment.status != AppointmentStatus.BOOKED:
        return JoinSection(state="closed", text="")
    if now >= closes:
        return JoinSection(state="ended", text="This video appointment has ended.")
    if now < opens:
        return JoinSection(
            state="before",
            text=f"The button to join will appear here from {clock(opens)} on {day(opens)}.",
        )
    if appointment.video_meeting_status == MeetingStatus.READY and appointment.video_join_url:
        return JoinSection(
            state="open",
            text="",
            join_href=reverse("appointments:join", kwargs={"public_id": appointment.public_id}),
        )
    return JoinSection(
        state="preparing",
        text=(
            "We are still setting up the video call. Refresh this page in a few minutes. If the button to join does "
            f"not appear by {clock(appointment.start)}, the clinic will call {voice.subject}."
        ),
    )


@dataclass(frozen=True)
class AppointmentPage:
    title: str
    caption: str
    status: str
    status_text: str
    rows: list[dict[str, dict[str, str]]]
    kind: str
    site_lines: list[str] = field(default_factory=list)
    directions: list[str] = field(default_factory=list)
    phone_text: str = ""
    join: JoinSection | None = None
    what_to_bring: list[str] = field(default_factory=list)
    preparation: list[str] = field(default_factory=list)
    calendar_href: str = ""
    change_href: str = ""
    clinic_phone: str = ""
    is_upcoming: bool = False


def _status_text(status: str, *, voice: Voice, clinic_phone: str) -> str:
    if status == AppointmentStatus.CANCELLED:
        call = f"call {clinic_phone}" if clinic_phone else "call the number on your appointment letter"
        return (
            "This appointment has been cancelled. If the hospital needs to see "
            f"{voice.subject} again, they will send a new appointment. If you have questions, {call}."
        )
    if status == AppointmentStatus.NOSHOW:
        return (
            "The hospital has recorded that this appointment was missed. If this is wrong, or "
            f"{voice.subject} still need{'s' if not voice.own else ''} to be seen, contact the clinic."
        )
    if status == AppointmentStatus.FULFILLED:
        return "This appointment has passed."
    return ""


def _phone_text(patient: Patient, *, voice: Voice) -> str:
    number = patient.mobile_phone or patient.home_phone
    if number:
        return f"We will call {voice.subject} on {number}. Keep this phone with {voice.pronoun} and switched on."
    return (
        f"We will call {voice.subject} on the phone number we hold. We do not have a phone number for "
        f"{voice.subject}: check {voice.possessive} details so that we can call."
    )


def appointment_page(
    appointment: Appointment, *, voice: Voice, now: datetime.datetime | None = None
) -> AppointmentPage:
    now = now or timezone.now()
    status = shown_status(appointment, now)
    kind = AppointmentKind(appointment.kind)
    clinic = appointment.clinic
    clinic_phone = clinic.phone if clinic is not None else ""
    rows = [
        {"key": {"text": "Date"}, "value": {"text": day(appointment.start, with_year=True)}},
        {"key": {"text": "Time"}, "value": {"text": time_range(appointment.start, appointment.end)}},
        {"key": {"text": "Type"}, "value": {"text": KIND_LABELS[kind]}},
    ]
    name = clinic_name(appointment)
    if name:
        rows.append({"key": {"text": "Clinic"}, "value": {"text": name}})
    if appointment.clinician_name:
        rows.append({"key": {"text": "With"}, "value": {"text": appointment.clinician_name}})
    upcoming = appointment.status == AppointmentStatus.BOOKED and appointment.end > now
    page = AppointmentPage(
        title=f"{KIND_TITLES[kind]} on {day(appointment.start)}",
        caption=clinic_name(appointment),
        status=status,
        status_text=_status_text(status, voice=voice, clinic_phone=clinic_phone),
        rows=rows,
        kind=kind,
        calendar_href=reverse("appointments:calendar", kwargs={"public_id": appointment.public_id}),
        change_href=(
            reverse("appointments:change", kwargs={"public_id": appointment.public_id})
            if upcoming and appointment.start > now
            else ""
        ),
        clinic_phone=clinic_phone,
        is_upcoming=upcoming,
    )
    extra: dict[str, object] = {}
    if kind == AppointmentKind.IN_PERSON:
        site = [clinic.site_name] if clinic is not None and clinic.site_name else []
        site += _lines(clinic.site_address) if clinic is not None else []
        if appointment.location_name:
            site.append(appointment.location_name)
        extra["site_lines"] = site
        extra["directions"] = _lines(clinic.directions) if clinic is not None else []
    elif kind == AppointmentKind.TELEPHONE:
        extra["phone_text"] = _phone_text(appointment.patient, voice=voice)
    else:
        extra["join"] = _join_section(appointment, now=now, voice=voice)
    if clinic is not None:
        extra["what_to_bring"] = _lines(clinic.what_to_bring)
        extra["preparation"] = _lines(clinic.preparation)
    return dataclasses.replace(page, **extra)  # type: ignore[arg-type]


def list_empty_text(voice: Voice, *, upcoming: bool) -> str:
    if upcoming:
        return (
            f"{voice.has} no upcoming appointments. When the hospital books an appointment for {voice.subject}, it "
            "will appear here with the date, time and place, or how to join a video appointment."
        )
    return f"{voice.has} no past appointments in CarePortal."


def join_opens_text(appointment: Appointment) -> str:
    opens, _ = join_window(appointment)
    return f"{clock(opens)} on {day(opens)}"


def calendar_filename(appointment: Appointment) -> str:
    local = timezone.localtime(appointment.start)
    return f"hospital-appointment-{local:%Y-%m-%d}.ics"


def change_title(voice: Voice) -> str:
    return "Ask to cancel or rebook an appointment"


def minutes_before_text() -> str:
    return f"{settings.APPOINTMENT_VIDEO_JOIN_MINUTES_BEFORE} minutes"
