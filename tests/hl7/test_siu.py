"""SIU messages from the PAS, through the HL7 interface's own entry point: booked, moved, changed, cancelled,
deleted, missed; the guarantees of every message type (duplicates not applied again, an older message never
overwrites newer data, unknown patients wait for staff); and the bad inputs, answered AE with field positions."""

import datetime
from pathlib import Path

import pytest
import time_machine
from django.core import mail

from careportal.appointments.models import Appointment, AppointmentKind, AppointmentStatus, Clinic, MeetingStatus
from careportal.hl7.models import ErrorKind, InboundMessage, MessageSource, MessageStatus
from careportal.hl7.services import message_receive, stored_messages_apply
from careportal.messaging.services import teams_patient_may_write_to
from careportal.patients.models import CareRelationship
from tests.appointments.messages import LONDON, siu
from tests.appointments.video import FakeVideoProvider
from tests.hl7.interfaces import LOCAL_PEER
from tests.hl7.mllp_client import ack_code, control_id
from tests.hl7.test_apply_stored import kept
from tests.patients.factories import CareTeamFactory, PatientFactory, PatientWithAccountFactory

SAMPLES = Path(__file__).parent / "samples"
NOW = datetime.datetime(2026, 11, 2, 9, 0, tzinfo=LONDON)
START = datetime.datetime(2026, 11, 19, 14, 0, tzinfo=LONDON)


@pytest.fixture(autouse=True)
def _now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def eleanor(db):
    return PatientWithAccountFactory(
        hospital_number="40012345", nhs_number="9990000018", given_name="Eleanor", user__first_name="Eleanor"
    )


@pytest.fixture
def video(monkeypatch):
    provider = FakeVideoProvider()
    monkeypatch.setattr("careportal.appointments.services.video_provider", lambda: provider)
    return provider


def receive(raw: bytes) -> tuple[str, InboundMessage]:
    ack = message_receive(raw, peer=LOCAL_PEER, source=MessageSource.MLLP)
    code, acked = ack_code(ack)
    assert acked == control_id(raw)
    return code, InboundMessage.objects.filter(control_id=control_id(raw)).latest("pk")


def at(hours: float) -> datetime.datetime:
    """A message time, hours after NOW."""
    return NOW + datetime.timedelta(hours=hours)


def test_the_sample_video_booking_is_applied(eleanor, video, django_capture_on_commit_callbacks) -> None:
    team = CareTeamFactory(name="Haematology")
    Clinic.objects.create(code="HAEMFU", name="Haematology follow-up", care_team=team)

    with django_capture_on_commit_callbacks(execute=True):
        code, row = receive((SAMPLES / "siu_s12_video.hl7").read_bytes())

    assert code == "AA"
    assert row.status == MessageStatus.APPLIED
    assert row.patient == eleanor
    appointment = Appointment.objects.get()
    assert (appointment.source_system, appointment.external_id) == ("PAS", "APT-5531")
    assert appointment.status == AppointmentStatus.BOOKED
    assert appointment.kind == AppointmentKind.VIDEO
    assert appointment.start == START
    assert appointment.end == START + datetime.timedelta(minutes=30)
    assert appointment.service_name == "Haematology follow-up"
    assert appointment.location_name == "Video clinic"
    assert appointment.clinician_name == "Dr Chidi Okafor"
    assert appointment.care_team == team
    # The clinic's team may now see the patient and receive their requests
    assert CareRelationship.objects.filter(patient=eleanor, care_team=team, reason="appointment").exists()
    assert team in teams_patient_may_write_to(eleanor)
    # And the meeting was made after commit, with an opaque reference, and kept on the appointment
    appointment.refresh_from_db()
    assert [r.reference for r in video.created] == [str(appointment.public_id)]
    assert appointment.video_meeting_status == MeetingStatus.READY
    assert appointment.video_join_url.startswith("https://video.example.nhs.uk/join/")


def test_the_sample_cancellation_cancels_it_and_tells_the_patient(
    eleanor, video, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        receive((SAMPLES / "siu_s12_video.hl7").read_bytes())
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        code, _ = receive((SAMPLES / "siu_s15_cancel.hl7").read_bytes())

    assert code == "AA"
    appointment = Appointment.objects.get()
    assert appointment.status == AppointmentStatus.CANCELLED
    assert appointment.cancellation_reason == "Clinic cancelled"
    assert appointment.sequence == 1
    # The meeting is cancelled with the provider, and the link forgotten
    assert len(video.cancelled) == 1
    assert appointment.video_join_url == ""
    assert appointment.video_meeting_status == MeetingStatus.CANCELLED
    # The patient is told that something changed, and nothing more
    assert [m.subject for m in mail.outbox] == ["A change to a hospital appointment"]
    body = mail.outbox[0].body
    assert "Eleanor" in body
    for detail in ("Haematology", "video", "Video", "19 November", "join", "http"):
        assert detail not in body.replace("Sign in to CarePortal", "")


def test_a_message_sent_again_is_not_applied_again(eleanor) -> None:
    raw = siu("S12", start=START, sent_at=at(0))
    receive(raw)

    code, row = receive(raw)

    assert code == "AA"
    assert row.status == MessageStatus.DUPLICATE
    assert Appointment.objects.get().sequence == 0


def test_a_move_changes_the_time_and_a_newer_sequence(eleanor) -> None:
    receive(siu("S12", start=START, sent_at=at(0)))

    code, _ = receive(siu("S13", start=START + datetime.timedelta(days=2), sent_at=at(1)))

    assert code == "AA"
    appointment = Appointment.objects.get()
    assert appointment.start == START + datetime.timedelta(days=2)
    assert appointment.status == AppointmentStatus.BOOKED
    assert appointment.sequence == 1
    assert appointment.last_event == "S13"


def test_an_older_message_never_overwrites_newer_data(eleanor) -> None:
    receive(siu("S12", start=START, sent_at=at(0)))
    receive(siu("S13", start=START + datetime.timedelta(days=2), sent_at=at(2)))

    # The move of an hour earlier arrives late
    code, row = receive(siu("S13", start=START + datetime.timedelta(days=1), sent_at=at(1)))

    assert (code, row.status) == ("AA", MessageStatus.APPLIED)
    appointment = Appointment.objects.get()
    assert appointment.start == START + datetime.timedelta(days=2)
    assert appointment.last_message_at == at(2)


def test_a_cancellation_before_the_booking_is_never_shown_as_booked(eleanor) -> None:
    # The cancellation overtakes the booking
    code, _ = receive(siu("S15", start=START, sent_at=at(1), reason="PATCANC^Patient cancelled"))
    assert code == "AA"
    appointment = Appointment.objects.get()
    assert appointment.status == AppointmentStatus.CANCELLED
    assert appointment.booked_at is None

    # Then the booking arrives: older, it changes nothing
    code, row = receive(siu("S12", start=START, sent_at=at(0)))

    assert (code, row.status) == ("AA", MessageStatus.APPLIED)
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED
    assert appointment.booked_at is None
    # And staff see both messages applied to the same appointment, and the appointment itself
    assert InboundMessage.objects.filter(status=MessageStatus.APPLIED, message_type__startswith="SIU").count() == 2


def test_a_booking_newer_than_its_cancellation_books_it_again(eleanor) -> None:
    receive(siu("S15", start=START, sent_at=at(1)))

    receive(siu("S12", start=START, sent_at=at(2)))

    appointment = Appointment.objects.get()
    assert appointment.status == AppointmentStatus.BOOKED
    assert appointment.booked_at is not None


@pytest.mark.parametrize("event", ["S13", "S14", "S26"])
def test_a_change_to_an_unknown_appointment_waits_for_staff(eleanor, event) -> None:
    code, row = receive(siu(event, appointment_id="APT-NEVER", start=START, sent_at=at(0)))

    assert code == "AE"
    assert row.status == MessageStatus.ERROR
    assert row.error_kind == ErrorKind.UNKNOWN_APPOINTMENT
    assert row.error_text.startswith("SCH-2: no appointment with this id")
    assert "APT-NEVER" not in row.error_text
    assert not Appointment.objects.exists()


def test_an_unknown_patient_waits_in_the_unmatched_queue(db) -> None:
    code, row = receive(siu("S12", start=START, sent_at=at(0), hospital_number="49999999", nhs_number=""))

    assert code == "AE"
    assert row.error_kind == ErrorKind.UNKNOWN_PATIENT
    assert not Appointment.objects.exists()


def test_deleted_in_error_and_did_not_attend(eleanor) -> None:
    receive(siu("S12", appointment_id="A1", start=START, sent_at=at(0)))
    receive(siu("S12", appointment_id="A2", start=START, sent_at=at(0)))

    receive(siu("S17", appointment_id="A1", start=START, sent_at=at(1)))
    receive(siu("S26", appointment_id="A2", start=START, sent_at=at(1)))

    statuses = dict(Appointment.objects.values_list("external_id", "status"))
    assert statuses == {"A1": AppointmentStatus.ENTERED_IN_ERROR, "A2": AppointmentStatus.NOSHOW}


def test_a_detail_change_keeps_a_cancelled_appointment_cancelled(eleanor) -> None:
    receive(siu("S12", start=START, sent_at=at(0)))
    receive(siu("S15", start=START, sent_at=at(1)))

    receive(siu("S14", start=START, sent_at=at(2), location="^Room 9^^RRV^^^^^Other room"))

    appointment = Appointment.objects.get()
    assert appointment.status == AppointmentStatus.CANCELLED
    assert appointment.location_name == "Other room"


@pytest.mark.parametrize(
    ("kind_code", "location", "kind"),
    [
        ("TEL^Telephone consultation^LOCAL", "", AppointmentKind.TELEPHONE),
        ("OUTPT^Outpatient^LOCAL", "^^^VIRTUAL^^^^^Video clinic", AppointmentKind.VIDEO),
        ("OUTPT^Outpatient^LOCAL", "^Room 4^^RRV", AppointmentKind.IN_PERSON),
    ],
)
def test_the_kind_comes_from_the_appointment_type_or_the_location(eleanor, kind_code, location, kind) -> None:
    receive(siu("S12", start=START, sent_at=at(0), kind_code=kind_code, location=location))

    assert Appointment.objects.get().kind == kind


def test_an_appointment_id_of_another_patient_is_refused(eleanor) -> None:
    PatientFactory(hospital_number="40077801", nhs_number="9990000026")
    receive(siu("S12", start=START, sent_at=at(0)))

    code, row = receive(siu("S13", start=START, sent_at=at(1), hospital_number="40077801", nhs_number="9990000026"))

    assert code == "AE"
    assert row.error_text.startswith("SCH-2: this appointment id already belongs to another patient")
    assert Appointment.objects.get().patient == eleanor


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"include_pid": False}, "No PID segment: the patient is unknown"),
        ({"appointment_id": ""}, "SCH-2 and SCH-1 are both empty: the appointment has no id"),
        ({"clinic": ""}, "AIS-3: the appointment names no clinic or service"),
        ({"minutes": 60 * 25}, "SCH-11: the appointment lasts longer than 24 hours"),
    ],
)
def test_bad_messages_are_refused_with_the_field_and_nothing_stored(eleanor, change, expected) -> None:
    raw = siu("S12", start=START, sent_at=at(0), control_id="BAD1", **change)
    if "appointment_id" in change:
        raw = raw.replace(b"SCH|^PAS|^PAS|", b"SCH|||")
    if "clinic" in change:
        raw = raw.replace(b"FOLLOWUP^Follow-up^LOCAL", b"")  # nor an appointment reason (SCH-7) to fall back on

    code, row = receive(raw)

    assert code == "AE"
    assert row.status == MessageStatus.ERROR
    assert row.error_text.startswith(expected)
    assert not Appointment.objects.exists()


def test_unreadable_times_are_refused_with_the_field(eleanor) -> None:
    raw = siu("S12", start=START, sent_at=at(0)).replace(b"^^30^202611191400^202611191430", b"^^30^NOTATIME^")

    code, row = receive(raw)

    assert code == "AE"
    assert row.error_text == "SCH-11 (appointment timing start) is not a valid HL7 date and time"
    assert "NOTATIME" not in row.error_text


def test_a_failing_video_service_is_kept_for_staff_and_tried_again(
    eleanor, video, django_capture_on_commit_callbacks
) -> None:
    video.fail = True
    with django_capture_on_commit_callbacks(execute=True):
        receive(siu("S12", start=START, sent_at=at(0), kind_code="VIDEO^Video consultation^LOCAL"))

    appointment = Appointment.objects.get()
    assert appointment.video_meeting_status == MeetingStatus.FAILED
    assert appointment.video_meeting_error == "VideoProviderError: the video service answered HTTP 503"
    assert appointment.video_meeting_attempts == 1
    assert appointment.video_join_url == ""

    # When the service is back and the retry job runs after the retry delay
    from careportal.appointments.services import meetings_due_sync

    video.fail = False
    assert meetings_due_sync(now=NOW + datetime.timedelta(minutes=2)) == 1

    appointment.refresh_from_db()
    assert appointment.video_meeting_status == MeetingStatus.READY
    assert appointment.video_meeting_error == ""
    assert len(video.created) == 1


def test_a_moved_video_appointment_moves_its_meeting(eleanor, video, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        receive(siu("S12", start=START, sent_at=at(0), kind_code="VIDEO^Video consultation^LOCAL"))
    with django_capture_on_commit_callbacks(execute=True):
        receive(siu("S13", start=START + datetime.timedelta(hours=1), sent_at=at(1), kind_code="VIDEO^Video^LOCAL"))

    assert len(video.created) == 1
    assert [request.start for _, request in video.updated] == [START + datetime.timedelta(hours=1)]
    assert Appointment.objects.get().video_meeting_status == MeetingStatus.READY


def test_an_siu_kept_before_appointments_existed_is_applied_once(eleanor) -> None:
    row = kept((SAMPLES / "siu_s12_video.hl7").read_bytes())

    first = stored_messages_apply()
    second = stored_messages_apply()

    assert (first.applied, second.applied) == (1, 0)
    row.refresh_from_db()
    assert row.status == MessageStatus.APPLIED
    assert Appointment.objects.get().external_id == "APT-5531"


def _without_times(raw: bytes) -> bytes:
    """The message with no timing in SCH-11 or AIS-4 (a PAS that sends a cancellation by id only)."""
    segments = []
    for segment in raw.split(b"\r"):
        fields = segment.split(b"|")
        if fields[0] == b"SCH":
            fields[11] = b""
        elif fields[0] in (b"AIS", b"AIP"):
            fields[4 if fields[0] == b"AIS" else 6] = b""
        segments.append(b"|".join(fields))
    return b"\r".join(segments)


def test_a_cancellation_without_times_cancels_a_known_appointment(eleanor) -> None:
    receive(siu("S12", start=START, sent_at=at(0)))

    code, _ = receive(_without_times(siu("S15", start=START, sent_at=at(1))))

    assert code == "AA"
    appointment = Appointment.objects.get()
    assert (appointment.status, appointment.start) == (AppointmentStatus.CANCELLED, START)


def test_a_cancellation_without_times_before_its_booking_is_kept_and_wins(eleanor) -> None:
    code, _ = receive(_without_times(siu("S17", start=START, sent_at=at(1))))
    assert code == "AA"

    receive(siu("S12", start=START, sent_at=at(0)))

    assert Appointment.objects.get().status == AppointmentStatus.ENTERED_IN_ERROR


def test_a_booking_without_times_is_refused(eleanor) -> None:
    code, row = receive(_without_times(siu("S12", start=START, sent_at=at(0))))

    assert code == "AE"
    assert row.error_text.startswith("SCH-11: the appointment has no start time")


def test_a_move_of_an_upcoming_appointment_tells_the_patient(eleanor, django_capture_on_commit_callbacks) -> None:
    receive(siu("S12", start=START, sent_at=at(0)))
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        receive(siu("S13", start=START + datetime.timedelta(days=1), sent_at=at(1)))
        # A detail change that keeps the time tells nobody
        receive(siu("S14", start=START + datetime.timedelta(days=1), sent_at=at(2), location="^Room 9"))

    assert [m.subject for m in mail.outbox] == ["A change to a hospital appointment"]


def test_a_failed_meeting_stops_being_tried_once_the_appointment_is_over(
    eleanor, video, django_capture_on_commit_callbacks
) -> None:
    from careportal.appointments.services import meetings_due_sync

    video.fail = True
    with django_capture_on_commit_callbacks(execute=True):
        receive(siu("S12", start=START, sent_at=at(0), kind_code="VIDEO^Video consultation^LOCAL"))
    for hours in (1, 5, 24):
        meetings_due_sync(now=NOW + datetime.timedelta(hours=hours))
    appointment = Appointment.objects.get()
    assert appointment.video_meeting_status == MeetingStatus.FAILED
    assert appointment.video_meeting_attempts == 4

    # After the appointment's end, nothing is asked of the provider any more
    meetings_due_sync(now=START + datetime.timedelta(hours=1))

    appointment.refresh_from_db()
    assert appointment.video_meeting_status == MeetingStatus.NONE
    assert appointment.video_meeting_next_attempt_at is None
    assert video.created == []
