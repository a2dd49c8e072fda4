"""Reminders: 7 days and 1 day before (APPOINTMENT_REMINDER_DAYS), each sent once, to the patient and to proxies with
the appointments scope, saying the day and time and nothing else; none for cancelled or past appointments."""

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail

from careportal.appointments.models import AppointmentReminder, AppointmentStatus
from careportal.appointments.services import appointment_reminders_send_due
from careportal.core.schedule import schedule
from careportal.notifications.models import Notification
from tests.appointments.factories import AppointmentFactory
from tests.patients.factories import PatientWithAccountFactory
from tests.proxy.factories import ProxyRelationshipFactory

LONDON = ZoneInfo("Europe/London")
# Thursday 19 November 2026, 2pm
START = datetime.datetime(2026, 11, 19, 14, 0, tzinfo=LONDON)


@pytest.fixture
def eleanor(db):
    return PatientWithAccountFactory(user__first_name="Eleanor", user__email="eleanor@example.org")


def run_at(moment: datetime.datetime) -> int:
    with time_machine.travel(moment, tick=False):
        return appointment_reminders_send_due()


def reminders_to(address: str) -> list[Notification]:
    return list(Notification.objects.filter(kind="appointment_reminder", to_address=address).order_by("pk"))


def test_the_job_is_scheduled() -> None:
    schedule.autodiscover()
    assert "appointments.send_reminders" in {job.name for job in schedule.jobs()}


def test_seven_days_and_one_day_before_each_once(eleanor, django_capture_on_commit_callbacks) -> None:
    AppointmentFactory(patient=eleanor, start=START)

    assert run_at(START - datetime.timedelta(days=8)) == 0
    assert run_at(START - datetime.timedelta(days=7)) == 1
    # Run again (a second worker, or the next run): nothing more
    assert run_at(START - datetime.timedelta(days=7) + datetime.timedelta(minutes=15)) == 0
    assert run_at(START - datetime.timedelta(days=3)) == 0
    assert run_at(START - datetime.timedelta(days=1)) == 1
    assert run_at(START - datetime.timedelta(hours=2)) == 0
    assert run_at(START + datetime.timedelta(hours=1)) == 0

    sent = reminders_to("eleanor@example.org")
    assert len(sent) == 2
    assert {n.personalisation["when"] for n in sent} == {"on Thursday 19 November at 2pm"}
    assert set(AppointmentReminder.objects.values_list("days_before", flat=True)) == {7, 1}


def test_booked_late_gets_only_the_closest_reminder(eleanor) -> None:
    AppointmentFactory(patient=eleanor, start=START)

    assert run_at(START - datetime.timedelta(hours=20)) == 1

    assert list(AppointmentReminder.objects.values_list("days_before", flat=True)) == [1]
    assert len(reminders_to("eleanor@example.org")) == 1


def test_a_moved_appointment_is_reminded_for_its_new_time(eleanor) -> None:
    appointment = AppointmentFactory(patient=eleanor, start=START)
    run_at(START - datetime.timedelta(days=1))
    appointment.start = START + datetime.timedelta(days=7)
    appointment.end = appointment.start + datetime.timedelta(minutes=30)
    appointment.save()

    assert run_at(START) == 1

    assert reminders_to("eleanor@example.org")[-1].personalisation["when"] == "on Thursday 26 November at 2pm"


@pytest.mark.parametrize(
    "status", [AppointmentStatus.CANCELLED, AppointmentStatus.ENTERED_IN_ERROR, AppointmentStatus.NOSHOW]
)
def test_no_reminder_for_an_appointment_that_is_not_booked(eleanor, status) -> None:
    AppointmentFactory(patient=eleanor, start=START, status=status)

    assert run_at(START - datetime.timedelta(days=1)) == 0
    assert not Notification.objects.exists()


def test_no_reminder_for_one_never_shown_as_booked_or_already_past(eleanor) -> None:
    AppointmentFactory(patient=eleanor, start=START, booked_at=None)
    AppointmentFactory(patient=eleanor, start=START - datetime.timedelta(days=2))

    assert run_at(START - datetime.timedelta(hours=1)) == 0


def test_proxies_with_the_appointments_scope_are_reminded_too(db) -> None:
    with_scope = ProxyRelationshipFactory(proxy__email="parent@example.org", proxy__first_name="Priya")
    ProxyRelationshipFactory(patient=with_scope.patient, proxy__email="other@example.org", scopes=["results"])
    AppointmentFactory(patient=with_scope.patient, start=START)

    run_at(START - datetime.timedelta(days=1))

    assert [n.personalisation["first_name"] for n in reminders_to("parent@example.org")] == ["Priya"]
    assert reminders_to("other@example.org") == []


def test_the_days_are_a_setting(eleanor, settings) -> None:
    settings.APPOINTMENT_REMINDER_DAYS = "3"
    AppointmentFactory(patient=eleanor, start=START)

    assert run_at(START - datetime.timedelta(days=7)) == 0
    assert run_at(START - datetime.timedelta(days=3)) == 1
    assert run_at(START - datetime.timedelta(hours=2)) == 0


def test_the_batches_cover_every_appointment(db) -> None:
    for _ in range(5):
        AppointmentFactory(patient=PatientWithAccountFactory(), start=START)

    with time_machine.travel(START - datetime.timedelta(days=1), tick=False):
        assert appointment_reminders_send_due(batch_size=2) == 5
        assert appointment_reminders_send_due(batch_size=2) == 0


def test_a_reminder_through_a_real_smtp_server_says_nothing_clinical(
    eleanor, smtp_server, django_capture_on_commit_callbacks
) -> None:
    AppointmentFactory(patient=eleanor, start=START, kind="video", video_join_url="https://video.example/join/secret")
    mail.outbox.clear()

    with (
        time_machine.travel(START - datetime.timedelta(days=1), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        appointment_reminders_send_due()

    message = smtp_server.wait_for_message(to="eleanor@example.org")
    assert message["Subject"] == "Reminder: you have a hospital appointment"
    body = smtp_server.body(message)
    assert "Hello Eleanor," in body
    assert "on Thursday 19 November at 2pm" in body
    for detail in ("Haematology", "Okafor", "video", "Video", "secret", "clinic"):
        assert detail not in body
