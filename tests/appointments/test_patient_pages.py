"""The patient's (and proxy's) appointments pages: the list, an appointment's page by kind, the calendar file, the
video join window and the request to cancel or rebook."""

import datetime
import re
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from icalendar import Calendar

from careportal.appointments.models import AppointmentStatus, MeetingStatus
from careportal.audit.models import AccessAction, AccessEvent
from careportal.messaging.models import Thread
from tests.appointments.factories import AppointmentFactory, ClinicFactory
from tests.patients.factories import CareRelationshipFactory
from tests.proxy.factories import ProxyRelationshipFactory

LONDON = ZoneInfo("Europe/London")
NOW = datetime.datetime(2026, 11, 2, 9, 0, tzinfo=LONDON)


@pytest.fixture(autouse=True)
def _now():
    with time_machine.travel(NOW, tick=False):
        yield


def client_for(patient) -> Client:
    """A client signed in now (a session from before a time jump of days would have expired)."""
    client = Client()
    client.force_login(patient.user)
    return client


def days(n: float, hour: int = 14, minute: int = 0) -> datetime.datetime:
    moment = NOW + datetime.timedelta(days=n)
    return moment.replace(hour=hour, minute=minute)


def detail(appointment) -> str:
    return reverse("appointments:detail", kwargs={"public_id": appointment.public_id})


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


# The list -------------------------------------------------------------------------------------------------------


def test_upcoming_soonest_first_and_past_most_recent_first(patient, patient_client) -> None:
    later = AppointmentFactory(patient=patient, start=days(20))
    sooner = AppointmentFactory(patient=patient, start=days(3))
    old = AppointmentFactory(patient=patient, start=days(-40))
    recent = AppointmentFactory(patient=patient, start=days(-5))
    cancelled = AppointmentFactory(patient=patient, start=days(8), status=AppointmentStatus.CANCELLED)

    response = patient_client.get(reverse("appointments:list"))

    assert response.status_code == 200
    page = response.content.decode()
    upcoming, past = page.split("Past appointments</h2>")
    links = re.findall(r'href="/appointments/([0-9a-f-]+)/"', upcoming)
    assert links == [str(a.public_id) for a in (sooner, cancelled, later)]
    assert re.findall(r'href="/appointments/([0-9a-f-]+)/"', past) == [str(recent.public_id), str(old.public_id)]
    assert "Cancelled" in upcoming
    assert AccessEvent.objects.filter(patient=patient, object_label="appointments", action=AccessAction.VIEW).exists()


def test_empty_states_speak_to_the_patient(patient_client) -> None:
    page = text(patient_client.get(reverse("appointments:list")))

    assert "You have no upcoming appointments." in page
    assert "You have no past appointments in CarePortal." in page


def test_a_proxy_reads_about_the_patient_by_first_name(proxy_relationship, proxy_client) -> None:
    child = proxy_relationship.patient
    page = text(proxy_client.get(reverse("appointments:list")))

    assert f"{child.given_name} has no upcoming appointments." in page


def test_a_proxy_without_the_appointments_scope_gets_404(db) -> None:
    relationship = ProxyRelationshipFactory(scopes=["results"])
    appointment = AppointmentFactory(patient=relationship.patient)
    client = Client()
    client.force_login(relationship.proxy)

    assert client.get(reverse("appointments:list")).status_code == 404
    assert client.get(detail(appointment)).status_code == 404
    calendar = reverse("appointments:calendar", kwargs={"public_id": appointment.public_id})
    assert client.get(calendar).status_code == 404


def test_appointments_the_patient_never_saw_booked_are_not_shown(patient, patient_client) -> None:
    never_booked = AppointmentFactory(patient=patient, status=AppointmentStatus.CANCELLED, booked_at=None)
    in_error = AppointmentFactory(patient=patient, status=AppointmentStatus.ENTERED_IN_ERROR)

    page = patient_client.get(reverse("appointments:list")).content.decode()

    assert str(never_booked.public_id) not in page
    assert str(in_error.public_id) not in page
    assert patient_client.get(detail(never_booked)).status_code == 404
    assert patient_client.get(detail(in_error)).status_code == 404


def test_the_list_makes_the_same_queries_for_one_or_many(
    patient, patient_client, django_assert_max_num_queries
) -> None:
    AppointmentFactory(patient=patient, start=days(3))
    AppointmentFactory(patient=patient, start=days(-3))
    patient_client.get(reverse("appointments:list"))  # the session's first request does a little more
    with CaptureQueriesContext(connection) as one:
        patient_client.get(reverse("appointments:list"))
    for n in range(15):
        AppointmentFactory(patient=patient, start=days(4 + n), clinic=ClinicFactory())
        AppointmentFactory(patient=patient, start=days(-4 - n), clinic=ClinicFactory())

    with django_assert_max_num_queries(len(one.captured_queries)):
        patient_client.get(reverse("appointments:list"))


# An appointment's page -------------------------------------------------------------------------------------------


def test_an_in_person_appointment_says_where_to_go_and_what_to_bring(patient, patient_client) -> None:
    appointment = AppointmentFactory(patient=patient, start=days(17, hour=14, minute=30))

    page = text(patient_client.get(detail(appointment)))

    assert "<h1>Appointment on Thursday 19 November</h1>" in page
    assert "2:30pm to 3pm" in page
    assert "Royal Riverside Hospital" in page
    assert "Follow the signs to Outpatients B, on level 2." in page
    assert "A list of the medicines you take" in page
    assert "You can eat and drink as normal." in page
    assert "Ask to cancel or rebook this appointment" in page
    assert AccessEvent.objects.filter(patient=patient, object_label="appointment").exists()


def test_a_telephone_appointment_says_which_number_we_will_call(patient, patient_client) -> None:
    appointment = AppointmentFactory(patient=patient, kind="telephone")

    page = text(patient_client.get(detail(appointment)))

    assert f"We will call you on {patient.mobile_phone}." in page


def test_a_cancelled_appointment_says_so_plainly(patient, patient_client) -> None:
    appointment = AppointmentFactory(patient=patient, status=AppointmentStatus.CANCELLED)

    page = text(patient_client.get(detail(appointment)))

    assert "This appointment has been cancelled." in page
    assert "Ask to cancel or rebook" not in page


def test_a_missed_appointment_says_so_without_blame(patient, patient_client) -> None:
    appointment = AppointmentFactory(patient=patient, start=days(-2), status=AppointmentStatus.NOSHOW)

    page = text(patient_client.get(detail(appointment)))

    assert "The hospital has recorded that this appointment was missed." in page


# Video: the joining window ---------------------------------------------------------------------------------------


@pytest.fixture
def video_appointment(patient):
    # Thursday 19 November 2026, 2pm to 2:30pm
    return AppointmentFactory(
        patient=patient,
        kind="video",
        start=datetime.datetime(2026, 11, 19, 14, 0, tzinfo=LONDON),
        video_provider="fake",
        video_external_id="m-1",
        video_join_url="https://video.example.nhs.uk/join/secret-token",
        video_meeting_status=MeetingStatus.READY,
    )


def test_before_the_window_the_page_says_when_the_button_appears(video_appointment, patient_client) -> None:
    with time_machine.travel(datetime.datetime(2026, 11, 19, 13, 29, tzinfo=LONDON), tick=False):
        patient_client = client_for(video_appointment.patient)
        page = text(patient_client.get(detail(video_appointment)))
        join = patient_client.get(reverse("appointments:join", kwargs={"public_id": video_appointment.public_id}))

    assert "The button to join will appear here from 1:30pm on Thursday 19 November." in page
    assert "Join video appointment" not in page
    assert "secret-token" not in page
    assert "/appointments/test-camera-and-microphone/" in page
    assert join.status_code == 200
    assert "secret-token" not in join.content.decode()
    assert "1:30pm on Thursday 19 November" in join.content.decode()


@pytest.mark.parametrize("moment", [(13, 30), (14, 0), (14, 29)])
def test_in_the_window_the_join_button_leads_to_the_meeting(video_appointment, patient, patient_client, moment) -> None:
    with time_machine.travel(datetime.datetime(2026, 11, 19, *moment, tzinfo=LONDON), tick=False):
        patient_client = client_for(video_appointment.patient)
        page = text(patient_client.get(detail(video_appointment)))
        join = patient_client.get(reverse("appointments:join", kwargs={"public_id": video_appointment.public_id}))

    assert "Join video appointment" in page
    # The page links to CarePortal's own join address, never to the meeting itself
    assert "secret-token" not in page
    assert join.status_code == 302
    assert join["Location"] == "https://video.example.nhs.uk/join/secret-token"
    assert join["Referrer-Policy"] == "no-referrer"
    assert AccessEvent.objects.filter(patient=patient, object_label="video appointment link").count() == 1


def test_after_the_end_the_page_says_it_has_ended(video_appointment, patient_client) -> None:
    with time_machine.travel(datetime.datetime(2026, 11, 19, 14, 30, tzinfo=LONDON), tick=False):
        patient_client = client_for(video_appointment.patient)
        page = text(patient_client.get(detail(video_appointment)))
        join = patient_client.get(reverse("appointments:join", kwargs={"public_id": video_appointment.public_id}))

    assert "This video appointment has ended." in page
    assert join.status_code == 200
    assert "secret-token" not in join.content.decode()


def test_a_cancelled_video_appointment_cannot_be_joined(video_appointment, patient_client) -> None:
    video_appointment.status = AppointmentStatus.CANCELLED
    video_appointment.save()

    with time_machine.travel(datetime.datetime(2026, 11, 19, 14, 0, tzinfo=LONDON), tick=False):
        patient_client = client_for(video_appointment.patient)
        join = patient_client.get(reverse("appointments:join", kwargs={"public_id": video_appointment.public_id}))

    assert join.status_code == 200
    assert "secret-token" not in join.content.decode()


def test_join_is_not_found_for_an_appointment_that_is_not_video(patient, patient_client) -> None:
    appointment = AppointmentFactory(patient=patient)

    assert (
        patient_client.get(reverse("appointments:join", kwargs={"public_id": appointment.public_id})).status_code == 404
    )


def test_in_the_window_without_a_meeting_yet_the_page_says_so(video_appointment, patient_client) -> None:
    video_appointment.video_meeting_status = MeetingStatus.FAILED
    video_appointment.save()

    with time_machine.travel(datetime.datetime(2026, 11, 19, 13, 45, tzinfo=LONDON), tick=False):
        patient_client = client_for(video_appointment.patient)
        page = text(patient_client.get(detail(video_appointment)))

    assert "We are still setting up the video call." in page
    assert "Join video appointment" not in page


# The calendar file -----------------------------------------------------------------------------------------------


def test_the_calendar_file_is_valid_with_the_trust_time_zone(video_appointment, patient_client) -> None:
    response = patient_client.get(reverse("appointments:calendar", kwargs={"public_id": video_appointment.public_id}))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="hospital-appointment-2026-11-19.ics"'
    raw = response.content
    assert b"\r\n" in raw
    assert b"secret-token" not in raw
    calendar = Calendar.from_ical(raw)
    assert calendar["METHOD"] == "PUBLISH"
    assert calendar["VERSION"] == "2.0"
    timezones = calendar.walk("VTIMEZONE")
    assert [str(tz["TZID"]) for tz in timezones] == ["Europe/London"]
    (event,) = calendar.walk("VEVENT")
    assert str(event["SUMMARY"]) == "Hospital appointment"
    assert event["DTSTART"].params["TZID"] == "Europe/London"
    assert event["DTSTART"].dt == datetime.datetime(2026, 11, 19, 14, 0, tzinfo=LONDON)
    assert event["DTEND"].dt == datetime.datetime(2026, 11, 19, 14, 30, tzinfo=LONDON)
    assert str(event["UID"]) == f"{video_appointment.public_id}@careportal"
    assert event["SEQUENCE"] == 0
    assert str(event["STATUS"]) == "CONFIRMED"
    assert "Haematology" not in raw.decode()
    assert AccessEvent.objects.filter(object_label="appointment calendar file", action=AccessAction.DOWNLOAD).exists()


def test_a_changed_appointment_has_the_same_uid_and_a_higher_sequence(patient, patient_client) -> None:
    appointment = AppointmentFactory(patient=patient)
    url = reverse("appointments:calendar", kwargs={"public_id": appointment.public_id})
    first = Calendar.from_ical(patient_client.get(url).content).walk("VEVENT")[0]
    appointment.status, appointment.sequence = AppointmentStatus.CANCELLED, 1
    appointment.save()

    second = Calendar.from_ical(patient_client.get(url).content).walk("VEVENT")[0]

    assert str(second["UID"]) == str(first["UID"])
    assert second["SEQUENCE"] == 1
    assert str(second["STATUS"]) == "CANCELLED"


# Asking to cancel or rebook --------------------------------------------------------------------------------------


@pytest.fixture
def booked(patient):
    appointment = AppointmentFactory(patient=patient, start=days(17))
    CareRelationshipFactory(patient=patient, care_team=appointment.care_team, reason="appointment")
    return appointment


def change_url(appointment) -> str:
    return reverse("appointments:change", kwargs={"public_id": appointment.public_id})


def test_a_request_to_rebook_lands_in_the_team_inbox_and_changes_nothing(booked, patient, patient_client) -> None:
    response = patient_client.post(
        change_url(booked),
        {"action": "rebook", "reason": "I will be on holiday", "preferred": "Tuesday mornings"},
    )

    assert response.status_code == 200
    assert "Request sent" in response.content.decode()
    thread = Thread.objects.get()
    assert thread.care_team == booked.care_team
    assert thread.patient == patient
    assert thread.topic == "appointment"
    assert thread.subject == "Request to rebook an appointment"
    body = thread.messages.get().body
    assert "Thursday 19 November 2026 at 2pm" in body
    assert "I will be on holiday" in body
    assert "Tuesday mornings" in body
    booked.refresh_from_db()
    assert booked.status == AppointmentStatus.BOOKED
    assert booked.start == days(17)


def test_a_proxy_with_appointments_only_can_ask_too(db) -> None:
    # A parent of a 16-year-old keeps appointments only
    relationship = ProxyRelationshipFactory(scopes=["appointments"])
    appointment = AppointmentFactory(patient=relationship.patient, start=days(17))
    CareRelationshipFactory(patient=relationship.patient, care_team=appointment.care_team, reason="appointment")
    client = Client()
    client.force_login(relationship.proxy)

    response = client.post(change_url(appointment), {"action": "cancel", "reason": "Exams that week"})

    assert response.status_code == 200
    assert "the patient's appointment" in Thread.objects.get().messages.get().body


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({}, "Choose whether you want to cancel or rebook the appointment"),
        ({"action": "delete", "reason": "x"}, "Choose whether you want to cancel or rebook the appointment"),
        ({"action": "cancel", "reason": "   "}, "Enter why you want to change the appointment"),
        ({"action": "rebook", "reason": "Away"}, "Enter the days and times that would suit for the new appointment"),
        ({"action": "cancel", "reason": "x" * 1001}, "The reason must be 1,000 characters or fewer"),
    ],
)
def test_bad_requests_are_explained_and_send_nothing(booked, patient_client, data, error) -> None:
    response = patient_client.post(change_url(booked), data)

    assert response.status_code == 400
    assert error in response.content.decode()
    assert not Thread.objects.exists()


def test_a_past_appointment_cannot_be_changed_online(patient, patient_client) -> None:
    appointment = AppointmentFactory(patient=patient, start=days(-3))

    response = patient_client.post(change_url(appointment), {"action": "cancel", "reason": "Too late"})

    assert response.status_code == 400
    assert "cannot be changed online" in response.content.decode()
    assert not Thread.objects.exists()


def test_another_patients_appointment_cannot_be_asked_about(other_patient, patient_client) -> None:
    appointment = AppointmentFactory(patient=other_patient)

    response = patient_client.post(change_url(appointment), {"action": "cancel", "reason": "Mine now"})

    assert response.status_code == 404
    assert not Thread.objects.exists()


def test_a_proxy_reads_the_telephone_appointment_about_the_patient(proxy_relationship, proxy_client) -> None:
    child = proxy_relationship.patient
    appointment = AppointmentFactory(patient=child, kind="telephone")

    page = text(proxy_client.get(detail(appointment)))

    assert f"We will call {child.given_name} on {child.mobile_phone}." in page
    assert child.full_name in page


def test_the_home_page_counts_upcoming_appointments_and_says_nothing_else(patient, patient_client) -> None:
    AppointmentFactory(patient=patient, start=days(3))
    AppointmentFactory(patient=patient, start=days(9), kind="video")
    AppointmentFactory(patient=patient, start=days(5), status=AppointmentStatus.CANCELLED)
    AppointmentFactory(patient=patient, start=days(-5))

    page = text(patient_client.get(reverse("home:home")))

    assert "You have 2 upcoming appointments." in page
    assert 'href="/appointments/"' in page
    assert "Haematology" not in page
