"""Appointments with a clinic or team in a sensitive category (sexual health, HIV, genetics, mental health,
safeguarding): a proxy without the grant neither sees them, nor reaches them by id (page, calendar file, joining,
request to change), nor is reminded or told of changes; the patient always sees them."""

import datetime
import html
import importlib
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.apps import apps
from django.contrib.admin.sites import AdminSite
from django.core import mail
from django.test import Client, RequestFactory
from django.urls import reverse

from careportal.appointments.admin import ClinicAdmin
from careportal.appointments.models import Appointment, Clinic
from careportal.appointments.services import appointment_reminders_send_due
from careportal.audit.models import AccessEvent
from careportal.hl7.models import MessageSource
from careportal.hl7.services import message_receive
from careportal.messaging.models import Thread
from careportal.notifications.models import Notification
from careportal.patients.models import CareRelationship, SensitiveCategory
from tests.appointments.factories import AppointmentFactory, ClinicFactory
from tests.appointments.messages import siu
from tests.hl7.interfaces import LOCAL_PEER
from tests.patients.factories import CareTeamFactory, PatientWithAccountFactory
from tests.proxy.factories import ProxyRelationshipFactory

pytestmark = pytest.mark.django_db

LONDON = ZoneInfo("Europe/London")
NOW = datetime.datetime(2026, 11, 2, 9, 0, tzinfo=LONDON)
START = datetime.datetime(2026, 11, 19, 14, 0, tzinfo=LONDON)
ID_URLS = ("appointments:detail", "appointments:calendar", "appointments:join", "appointments:change")


@pytest.fixture(autouse=True)
def _now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def sexual_health_clinic(db) -> Clinic:
    team = CareTeamFactory(name="Sexual health", sensitive_category=SensitiveCategory.SEXUAL_HEALTH)
    return ClinicFactory(code="GUM", name="Sexual health clinic", care_team=team)


def client_for(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def page(client: Client, name: str) -> str:
    return html.unescape(client.get(reverse(name)).content.decode())


def sensitive_appointment(patient, clinic: Clinic, **kwargs: object) -> Appointment:  # type: ignore[no-untyped-def]
    appointment = AppointmentFactory(
        patient=patient,
        clinic=clinic,
        start=START,
        kind="video",
        video_join_url="https://video.example.nhs.uk/join/secret-token",
        service_name="Sexual health clinic",
        sensitive_category="sexual_health",
        **kwargs,
    )
    CareRelationship.objects.get_or_create(patient=patient, care_team=clinic.care_team, reason="appointment")
    return appointment


def test_a_proxy_without_the_grant_sees_nothing_of_the_appointment(
    proxy_relationship, proxy_client, sexual_health_clinic
) -> None:
    child = proxy_relationship.patient
    hidden = sensitive_appointment(child, sexual_health_clinic)
    AppointmentFactory(patient=child, start=START + datetime.timedelta(days=1))

    listing = page(proxy_client, "appointments:list")

    assert "Haematology follow-up" in listing
    assert "Sexual health" not in listing and str(hidden.public_id) not in listing
    for name in ID_URLS:
        assert proxy_client.get(reverse(name, kwargs={"public_id": hidden.public_id})).status_code == 404, name
    response = proxy_client.post(
        reverse("appointments:change", kwargs={"public_id": hidden.public_id}), {"action": "cancel", "reason": "No"}
    )
    assert response.status_code == 404
    assert not Thread.objects.exists()
    refused = AccessEvent.objects.filter(action="denied", patient=None, object_id=str(hidden.public_id))
    assert refused.count() == len(ID_URLS) + 1
    assert f"{child.given_name} has 1 upcoming appointment." in page(proxy_client, "home:home")


def test_a_proxy_granted_the_category_sees_it(sexual_health_clinic) -> None:
    relationship = ProxyRelationshipFactory(sensitive_categories_granted=["sexual_health"])
    appointment = sensitive_appointment(relationship.patient, sexual_health_clinic)
    client = client_for(relationship.proxy)

    assert "Sexual health clinic" in page(client, "appointments:list")
    for name in ("appointments:detail", "appointments:calendar", "appointments:join", "appointments:change"):
        assert client.get(reverse(name, kwargs={"public_id": appointment.public_id})).status_code == 200, name
    assert "has 1 upcoming appointment." in page(client, "home:home")


def test_a_proxy_granted_another_category_does_not(sexual_health_clinic) -> None:
    relationship = ProxyRelationshipFactory(sensitive_categories_granted=["hiv", "genetics"])
    appointment = sensitive_appointment(relationship.patient, sexual_health_clinic)
    client = client_for(relationship.proxy)

    assert "Sexual health" not in page(client, "appointments:list")
    assert client.get(reverse("appointments:detail", kwargs={"public_id": appointment.public_id})).status_code == 404


def test_the_patient_always_sees_their_own(patient, patient_client, sexual_health_clinic) -> None:
    appointment = sensitive_appointment(patient, sexual_health_clinic)

    assert "Sexual health clinic" in page(patient_client, "appointments:list")
    for name in ("appointments:detail", "appointments:calendar", "appointments:join", "appointments:change"):
        assert patient_client.get(reverse(name, kwargs={"public_id": appointment.public_id})).status_code == 200
    assert "You have 1 upcoming appointment." in page(patient_client, "home:home")


def test_the_list_makes_the_same_queries_with_hidden_appointments(
    proxy_relationship, proxy_client, sexual_health_clinic, django_assert_max_num_queries
) -> None:
    child = proxy_relationship.patient
    AppointmentFactory(patient=child, start=START)
    sensitive_appointment(child, sexual_health_clinic)
    proxy_client.get(reverse("appointments:list"))  # the session's first request does a little more
    with django_assert_max_num_queries(40) as one:
        proxy_client.get(reverse("appointments:list"))
    for n in range(8):
        AppointmentFactory(patient=child, start=START + datetime.timedelta(days=n + 1), clinic=ClinicFactory())
        sensitive_appointment(child, sexual_health_clinic)

    with django_assert_max_num_queries(len(one.captured_queries)):
        response = proxy_client.get(reverse("appointments:list"))
    assert "Sexual health" not in response.content.decode()


# Telling people --------------------------------------------------------------------------------------------------


@pytest.fixture
def eleanor(db):
    return PatientWithAccountFactory(
        hospital_number="40012345", nhs_number="9990000018", given_name="Eleanor", user__email="eleanor@example.org"
    )


def proxies_of(patient):  # type: ignore[no-untyped-def]
    since = datetime.date(2025, 1, 1)
    granted = ProxyRelationshipFactory(
        patient=patient,
        basis="granted",
        valid_from=since,
        proxy__email="granted@example.org",
        sensitive_categories_granted=["sexual_health"],
    )
    not_granted = ProxyRelationshipFactory(
        patient=patient, basis="granted", valid_from=since, proxy__email="not-granted@example.org"
    )
    return granted, not_granted


def addresses(kind: str) -> set[str]:
    return set(Notification.objects.filter(kind=kind).values_list("user__email", flat=True))


def test_reminders_skip_proxies_without_the_grant(eleanor, sexual_health_clinic) -> None:
    proxies_of(eleanor)
    sensitive_appointment(eleanor, sexual_health_clinic)
    ordinary_patient = PatientWithAccountFactory(user__email="sam@example.org")
    ordinary_proxy = ProxyRelationshipFactory(
        patient=ordinary_patient, basis="granted", valid_from=datetime.date(2025, 1, 1), proxy__email="p@example.org"
    )
    AppointmentFactory(patient=ordinary_proxy.patient, start=START)

    with time_machine.travel(START - datetime.timedelta(days=1), tick=False):
        assert appointment_reminders_send_due() == 2

    assert addresses("appointment_reminder") == {
        "eleanor@example.org",
        "granted@example.org",
        "sam@example.org",
        "p@example.org",
    }


def receive(raw: bytes) -> None:
    message_receive(raw, peer=LOCAL_PEER, source=MessageSource.MLLP)


def test_a_booking_takes_the_teams_category_and_a_change_tells_only_granted_proxies(
    eleanor, sexual_health_clinic, django_capture_on_commit_callbacks
) -> None:
    proxies_of(eleanor)
    clinic = "GUM^Sexual health clinic^LOCAL"
    receive(siu("S12", start=START, sent_at=NOW, clinic=clinic))
    appointment = Appointment.objects.get()
    assert (appointment.care_team, appointment.sensitive_category) == (sexual_health_clinic.care_team, "sexual_health")
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        receive(siu("S15", start=START, sent_at=NOW + datetime.timedelta(hours=1), clinic=clinic))

    assert addresses("appointment_changed") == {"eleanor@example.org", "granted@example.org"}
    assert sorted(m.to[0] for m in mail.outbox) == ["eleanor@example.org", "granted@example.org"]


def test_a_change_to_an_ordinary_appointment_tells_every_proxy_with_the_scope(
    eleanor, django_capture_on_commit_callbacks
) -> None:
    proxies_of(eleanor)
    receive(siu("S12", start=START, sent_at=NOW))
    assert Appointment.objects.get().sensitive_category == ""

    with django_capture_on_commit_callbacks(execute=True):
        receive(siu("S13", start=START + datetime.timedelta(days=1), sent_at=NOW + datetime.timedelta(hours=1)))

    assert addresses("appointment_changed") == {
        "eleanor@example.org",
        "granted@example.org",
        "not-granted@example.org",
    }


def test_a_clinic_may_be_sensitive_when_its_team_is_not(eleanor) -> None:
    ClinicFactory(code="HIVCL", name="HIV clinic", sensitive_category=SensitiveCategory.HIV)

    receive(siu("S12", start=START, sent_at=NOW, clinic="HIVCL^HIV clinic^LOCAL"))

    appointment = Appointment.objects.get()
    assert appointment.care_team.sensitive_category == ""
    assert appointment.sensitive_category == "hiv"


# Existing appointments -----------------------------------------------------------------------------------------


def test_the_migration_fills_existing_appointments_from_clinic_then_team(sexual_health_clinic) -> None:
    from_team = AppointmentFactory(clinic=sexual_health_clinic)
    from_clinic = AppointmentFactory(clinic=ClinicFactory(code="PSY", sensitive_category="mental_health"))
    ordinary = AppointmentFactory()
    no_clinic = AppointmentFactory(clinic=None, care_team=None)
    assert Appointment.objects.exclude(sensitive_category="").count() == 0
    migration = importlib.import_module("careportal.appointments.migrations.0002_sensitive_category")

    migration.appointments_fill(apps, None)

    categories = dict(Appointment.objects.values_list("pk", "sensitive_category"))
    assert categories == {
        from_team.pk: "sexual_health",
        from_clinic.pk: "mental_health",
        ordinary.pk: "",
        no_clinic.pk: "",
    }


def test_changing_a_clinics_category_in_the_admin_hides_its_appointments(proxy_relationship, proxy_client) -> None:
    clinic = ClinicFactory(code="ADOL")
    appointment = AppointmentFactory(patient=proxy_relationship.patient, clinic=clinic, start=START)
    url = reverse("appointments:detail", kwargs={"public_id": appointment.public_id})
    assert proxy_client.get(url).status_code == 200

    clinic.sensitive_category = SensitiveCategory.SAFEGUARDING
    ClinicAdmin(Clinic, AdminSite()).save_model(
        RequestFactory().post("/admin/"), clinic, SimpleNamespace(changed_data=["sensitive_category"]), change=True
    )

    assert Appointment.objects.get().sensitive_category == "safeguarding"
    assert proxy_client.get(url).status_code == 404
