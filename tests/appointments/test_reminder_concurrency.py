"""Two reminder workers at once on PostgreSQL: each reminder recorded and sent exactly once."""

import datetime
from collections import Counter
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from careportal.appointments.models import AppointmentReminder
from careportal.appointments.services import appointment_reminders_send_due
from careportal.notifications.models import Notification
from tests.appointments.factories import AppointmentFactory, ClinicFactory
from tests.patients.factories import PatientWithAccountFactory
from tests.results.test_release_concurrency import _run_in_threads

NOW = datetime.datetime(2026, 11, 18, 9, 0, tzinfo=ZoneInfo("Europe/London"))
APPOINTMENTS = 120

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="SKIP LOCKED needs PostgreSQL; SQLite has one writer and serialises the batches (BEGIN IMMEDIATE)",
    ),
]


def test_two_workers_send_each_reminder_exactly_once():
    clinic = ClinicFactory()
    patients = [PatientWithAccountFactory() for _ in range(40)]
    for n in range(APPOINTMENTS):
        AppointmentFactory(
            patient=patients[n % len(patients)],
            clinic=clinic,
            start=NOW + datetime.timedelta(hours=2 + n % 20),
            booked_at=NOW - datetime.timedelta(days=30),
        )

    counts = _run_in_threads(2, lambda: appointment_reminders_send_due(now=NOW, batch_size=7))

    assert sum(counts) == APPOINTMENTS
    reminders = Counter(AppointmentReminder.objects.values_list("appointment_id", flat=True))
    assert len(reminders) == APPOINTMENTS
    assert set(reminders.values()) == {1}
    assert Notification.objects.filter(kind="appointment_reminder").count() == APPOINTMENTS
