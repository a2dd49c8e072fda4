"""/your-apps/ with proxies: the patient sees and disconnects every app reading their record, including those a proxy
connected on their behalf; a proxy sees and disconnects only the apps they connected to a record they act for now;
a proxy's apps stop (401) when their access ends or no longer covers what the app was given."""

import datetime

import pytest
import time_machine
from django.db import connection as db_connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from oauth2_provider.models import AccessToken

from careportal.audit.models import AccessEvent
from careportal.audit.presenters import access_log_entry
from careportal.fhir.authentication import FhirUnauthorized, caller_for_request
from tests.accounts.factories import UserFactory
from tests.fhir.factories import AppConnectionFactory, bearer_token
from tests.patients.factories import PatientWithAccountFactory
from tests.proxy.factories import ProxyRelationshipFactory

pytestmark = pytest.mark.django_db

ONE_DAY = datetime.timedelta(days=1)
PROXY_GRANT = "launch/patient patient/Patient.read patient/Observation.read patient/Appointment.read"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def works(token: str) -> bool:
    try:
        caller_for_request(RequestFactory().get("/fhir/r4/Patient", HTTP_AUTHORIZATION=f"Bearer {token}"))
    except FhirUnauthorized:
        return False
    return True


def disconnect_url(connection) -> str:
    return f"/your-apps/{connection.public_id}/disconnect/"


@pytest.fixture
def family():
    """An adult patient with an account, their mother acting for them (they granted it), and an app each of them
    connected."""
    patient = PatientWithAccountFactory(given_name="Arjun", family_name="Patel", birth_date=datetime.date(1990, 5, 1))
    mother = UserFactory(first_name="Priya", last_name="Patel")
    relationship = ProxyRelationshipFactory(proxy=mother, patient=patient, basis="granted")
    own = AppConnectionFactory(user=patient.user, patient=patient, application__name="Own Diary")
    by_mother = AppConnectionFactory(
        user=mother, patient=patient, application__name="Family Organiser", scopes=PROXY_GRANT
    )
    return patient, mother, relationship, own, by_mother


def test_the_patient_sees_an_app_a_proxy_connected_on_their_behalf(family) -> None:
    patient, _mother, _relationship, _own, _by_mother = family

    text = signed_in(patient.user).get("/your-apps/").content.decode()

    assert "Own Diary" in text and "Family Organiser" in text
    assert "Priya Patel, on your behalf" in text
    assert "This app has stopped" not in text


def test_the_patient_disconnects_a_proxys_app_and_it_is_in_their_access_log(family) -> None:
    patient, _mother, _relationship, _own, by_mother = family
    token = bearer_token(by_mother)
    client = signed_in(patient.user)

    assert client.get(disconnect_url(by_mother)).status_code == 200
    response = client.post(disconnect_url(by_mother))

    assert response.status_code == 302
    by_mother.refresh_from_db()
    assert by_mother.revoked_at is not None
    assert not works(token)
    assert not AccessToken.objects.filter(token=token).exists()
    event = AccessEvent.objects.filter(patient=patient, object_type="fhir.appconnection", action="delete").get()
    assert event.actor_id == patient.user.pk and event.actor_role == "patient"
    assert access_log_entry(event, patient=patient).sentence.startswith(
        "You removed the app Family Organiser's access to your record on "
    )
    assert "Family Organiser</h2>" not in client.get("/your-apps/").content.decode()


def test_a_proxy_sees_only_the_apps_they_connected_for_the_record(family) -> None:
    patient, mother, _relationship, _own, _by_mother = family
    other_proxy = ProxyRelationshipFactory(patient=patient, relationship="father").proxy
    AppConnectionFactory(user=other_proxy, patient=patient, application__name="Dads App", scopes=PROXY_GRANT)
    elsewhere = ProxyRelationshipFactory(proxy=mother)  # another child: its apps are listed under its name
    AppConnectionFactory(
        user=mother, patient=elsewhere.patient, application__name="Second Child App", scopes=PROXY_GRANT
    )
    AppConnectionFactory(  # connected by someone else for that other child
        user=ProxyRelationshipFactory(patient=elsewhere.patient).proxy,
        patient=elsewhere.patient,
        application__name="Not Hers",
        scopes=PROXY_GRANT,
    )

    text = signed_in(mother).get("/your-apps/").content.decode()

    assert "Family Organiser" in text and "Arjun Patel&#39;s record" in text
    assert "Second Child App" in text
    assert "Own Diary" not in text and "Dads App" not in text and "Not Hers" not in text


def test_a_proxy_disconnects_their_own_app_for_the_record(family) -> None:
    patient, mother, _relationship, _own, by_mother = family
    token = bearer_token(by_mother)

    response = signed_in(mother).post(disconnect_url(by_mother))

    assert response.status_code == 302
    assert not works(token)
    event = AccessEvent.objects.filter(patient=patient, object_type="fhir.appconnection", action="delete").get()
    assert event.actor_id == mother.pk and event.actor_role == "proxy"
    assert event.on_behalf_of_id == patient.pk
    assert access_log_entry(event, patient=patient).sentence.startswith(
        "Priya Patel, on your behalf, removed the app Family Organiser's access to your record on "
    )


def test_a_proxy_cannot_disconnect_the_patients_own_app_or_another_proxys(family) -> None:
    patient, mother, _relationship, own, _by_mother = family
    father = ProxyRelationshipFactory(patient=patient, relationship="father").proxy
    fathers = AppConnectionFactory(user=father, patient=patient, scopes=PROXY_GRANT)
    client = signed_in(mother)

    for connection in (own, fathers):
        assert client.get(disconnect_url(connection)).status_code == 404
        assert client.post(disconnect_url(connection)).status_code == 404
        connection.refresh_from_db()
        assert connection.revoked_at is None
    refusals = AccessEvent.objects.filter(actor=mother, action="denied", object_type="fhir.appconnection")
    assert refusals.count() == 4 and not refusals.filter(patient__isnull=False).exists()


def test_a_patient_asking_to_disconnect_another_patients_connection_gets_404(family) -> None:
    _patient, _mother, _relationship, own, by_mother = family
    stranger = signed_in(PatientWithAccountFactory().user)

    for connection in (own, by_mother):
        assert stranger.get(disconnect_url(connection)).status_code == 404
        assert stranger.post(disconnect_url(connection)).status_code == 404
        connection.refresh_from_db()
        assert connection.revoked_at is None
    text = stranger.get("/your-apps/").content.decode()
    assert "Own Diary" not in text and "Family Organiser" not in text


def test_when_the_patient_revokes_the_proxy_the_proxys_app_stops_at_once(family) -> None:
    patient, mother, relationship, own, by_mother = family
    token, own_token = bearer_token(by_mother), bearer_token(own)
    client = signed_in(patient.user)
    assert works(token)

    response = client.post(f"/access-for-others/people/{relationship.public_id}/take-away-access/")
    assert response.status_code == 302
    relationship.refresh_from_db()
    assert relationship.status == "revoked"

    assert not works(token)
    assert works(own_token)
    text = client.get("/your-apps/").content.decode()
    assert "This app has stopped" in text and "Priya Patel can no longer see everything" in text
    # The proxy no longer sees the record's apps, nor may disconnect (the patient can)
    mothers = signed_in(mother)
    assert "Family Organiser" not in mothers.get("/your-apps/").content.decode()
    assert mothers.post(disconnect_url(by_mother)).status_code == 404
    assert client.post(disconnect_url(by_mother)).status_code == 302


def test_when_a_proxy_loses_a_scope_the_app_was_given_it_stops_and_says_so(family) -> None:
    _patient, mother, relationship, _own, by_mother = family
    token = bearer_token(by_mother)
    relationship.scopes = ["appointments", "details", "messages", "letters"]
    relationship.save()

    assert not works(token)
    text = signed_in(mother).get("/your-apps/").content.decode()
    assert "Stopped: you can no longer see everything this app was allowed to read." in text


def test_when_the_child_turns_16_the_parents_app_for_results_stops() -> None:
    today = timezone.localdate()
    relationship = ProxyRelationshipFactory(patient__birth_date=today.replace(year=today.year - 16) + ONE_DAY)
    results = bearer_token(
        AppConnectionFactory(user=relationship.proxy, patient=relationship.patient, scopes=PROXY_GRANT),
        expires_in=2 * 86400,
    )
    diary = bearer_token(
        AppConnectionFactory(
            user=relationship.proxy, patient=relationship.patient, scopes="launch/patient patient/Appointment.read"
        ),
        expires_in=2 * 86400,
    )
    assert works(results) and works(diary)

    with time_machine.travel(today + ONE_DAY):
        # From the 16th birthday a parent keeps appointments only (ProxyPolicy's default)
        assert not works(results)
        assert works(diary)


def test_listing_the_apps_is_in_the_access_log_of_each_record_shown(family) -> None:
    patient, mother, _relationship, _own, _by_mother = family

    signed_in(patient.user).get("/your-apps/")
    signed_in(mother).get("/your-apps/")

    events = AccessEvent.objects.filter(patient=patient, object_label="the apps connected to your record")
    assert sorted((e.actor_id, e.actor_role) for e in events) == sorted(
        [(patient.user.pk, "patient"), (mother.pk, "proxy")]
    )


def test_the_page_makes_the_same_number_of_queries_however_many_apps(family) -> None:
    patient, _mother, _relationship, _own, _by_mother = family
    client = signed_in(patient.user)
    client.get("/your-apps/")

    def count() -> int:
        with CaptureQueriesContext(db_connection) as queries:
            assert client.get("/your-apps/").status_code == 200
        return len(queries)

    before = count()
    for _ in range(5):
        AppConnectionFactory(user=patient.user, patient=patient)
        proxy = ProxyRelationshipFactory(patient=patient, relationship="guardian").proxy
        AppConnectionFactory(user=proxy, patient=patient, scopes=PROXY_GRANT)
    assert count() == before
