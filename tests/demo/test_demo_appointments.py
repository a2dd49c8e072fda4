"""The demo appointments arrive from the demo PAS through the HL7 interface, dated from today, and load once."""

import datetime

import pytest
from django.utils import timezone

from careportal.appointments.models import Appointment, AppointmentKind, AppointmentStatus
from careportal.demo.appointments import demo_appointments_load
from careportal.demo.services import demo_trust_load
from careportal.hl7.models import InboundMessage, MessageStatus
from careportal.messaging.services import teams_patient_may_write_to
from careportal.patients.models import Patient

pytestmark = pytest.mark.django_db


def test_the_demo_appointments_arrive_through_the_hl7_interface_once():
    demo_trust_load()

    assert demo_appointments_load() == {"appointments": 5}
    assert demo_appointments_load() == {"appointments": 0}

    siu = InboundMessage.objects.filter(message_type__startswith="SIU")
    assert siu.count() == 6
    assert set(siu.values_list("status", flat=True)) == {MessageStatus.APPLIED}
    now = timezone.now()
    eleanor = Patient.objects.get(hospital_number="40012345")
    mine = Appointment.objects.filter(patient=eleanor)
    assert mine.filter(status=AppointmentStatus.BOOKED, end__gt=now, kind=AppointmentKind.IN_PERSON).count() == 1
    video = mine.get(kind=AppointmentKind.VIDEO)
    assert now < video.start < now + datetime.timedelta(days=3)
    assert mine.filter(status=AppointmentStatus.BOOKED, end__lt=now).count() == 1
    assert mine.filter(status=AppointmentStatus.CANCELLED, booked_at__isnull=False).count() == 1
    arjun = Patient.objects.get(hospital_number="40055512")
    appointment = Appointment.objects.get(patient=arjun)
    assert appointment.care_team.name == "Children's Urology"
    assert appointment.care_team in teams_patient_may_write_to(arjun)
