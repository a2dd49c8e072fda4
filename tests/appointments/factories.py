import datetime

import factory
from django.utils import timezone

from careportal.appointments.models import Appointment, Clinic
from tests.patients.factories import CareTeamFactory, PatientFactory


class ClinicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clinic
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"CLIN{n}")
    name = "Haematology follow-up"
    care_team = factory.SubFactory(CareTeamFactory, name="Haematology")
    site_name = "Royal Riverside Hospital"
    site_address = "1 River Road\nLondon\nN1 1AA"
    directions = "Follow the signs to Outpatients B, on level 2."
    what_to_bring = "A list of the medicines you take\nYour glasses, if you wear them"
    preparation = "You can eat and drink as normal."
    phone = "020 7946 0100"


class AppointmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Appointment

    patient = factory.SubFactory(PatientFactory)
    clinic = factory.SubFactory(ClinicFactory)
    care_team = factory.LazyAttribute(lambda o: o.clinic.care_team if o.clinic else None)
    source_system = "PAS"
    external_id = factory.Sequence(lambda n: f"APT-{n}")
    status = "booked"
    kind = "in_person"
    start = factory.LazyFunction(lambda: timezone.now() + datetime.timedelta(days=10))
    end = factory.LazyAttribute(lambda o: o.start + datetime.timedelta(minutes=30))
    service_name = "Haematology follow-up"
    location_name = "Haematology clinic"
    clinician_name = "Dr Chidi Okafor"
    booked_at = factory.LazyFunction(timezone.now)
    last_message_at = factory.LazyFunction(timezone.now)
    last_event = "S12"
