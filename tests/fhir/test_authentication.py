"""The bearer token decides who is reading which record, through which app, with which resource types."""

import datetime

import pytest
from django.test import RequestFactory
from django.utils import timezone

from careportal.audit.models import ActorRole
from careportal.fhir.authentication import FhirUnauthorized, caller_for_request, resource_grants
from tests.fhir.factories import AppConnectionFactory, bearer_token
from tests.patients.factories import PatientWithAccountFactory
from tests.proxy.factories import ProxyRelationshipFactory

pytestmark = pytest.mark.django_db


def request_with(token: str = ""):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return RequestFactory().get("/fhir/r4/Patient", **headers)


def test_a_patients_token_reads_their_own_record_through_the_app() -> None:
    patient = PatientWithAccountFactory()
    connection = AppConnectionFactory(user=patient.user, patient=patient, application__name="My Health Diary")

    caller = caller_for_request(request_with(bearer_token(connection)))

    assert caller.viewer.patient == patient
    assert caller.viewer.role == ActorRole.PATIENT
    assert caller.app_name == "My Health Diary"
    assert caller.may("Observation", "search") and caller.may("Patient", "read")


PROXY_GRANT = "launch/patient patient/Patient.read patient/Observation.read patient/Appointment.read"


def proxy_connection(relationship, scopes: str = PROXY_GRANT):
    """What the consent page grants a proxy (never `patient/*`: that needs the patient's own access log)."""
    return AppConnectionFactory(user=relationship.proxy, patient=relationship.patient, scopes=scopes)


def test_a_proxys_token_reads_within_the_relationships_scopes() -> None:
    relationship = ProxyRelationshipFactory(scopes=["appointments"])
    connection = proxy_connection(relationship, "launch/patient patient/Appointment.read")

    caller = caller_for_request(request_with(bearer_token(connection)))

    assert caller.viewer.role == ActorRole.PROXY
    assert caller.viewer.scopes == frozenset({"appointments"})


@pytest.mark.parametrize(
    "change",
    [
        "no token",
        "unknown token",
        "expired",
        "connection revoked",
        "relationship revoked",
        "relationship ended by the proxy",
        "relationship past its end date",
        "proxy account deactivated",
        "scope the app was given taken away",
        "child turned 16",
    ],
)
def test_a_token_that_gives_nothing_is_refused(change: str) -> None:
    relationship = ProxyRelationshipFactory()
    connection = proxy_connection(relationship)
    assert caller_for_request(request_with(bearer_token(connection))).viewer.is_proxy  # it worked before the change
    token = bearer_token(connection, expires_in=-60 if change == "expired" else 3600)
    if change == "no token":
        token = ""
    elif change == "unknown token":
        token = "not-a-token"
    elif change == "connection revoked":
        connection.revoked_at = timezone.now()
        connection.save()
    elif change == "relationship revoked":
        relationship.status = "revoked"
        relationship.save()
    elif change == "relationship ended by the proxy":
        relationship.status = "ended"
        relationship.save()
    elif change == "relationship past its end date":
        relationship.valid_until = timezone.localdate() - datetime.timedelta(days=1)
        relationship.save()
    elif change == "proxy account deactivated":
        relationship.proxy.is_active = False
        relationship.proxy.save()
    elif change == "scope the app was given taken away":
        relationship.scopes = ["appointments", "details", "messages", "letters"]  # results gone: Observation was given
        relationship.save()
    elif change == "child turned 16":
        patient = relationship.patient
        patient.birth_date = timezone.localdate().replace(year=timezone.localdate().year - 16) - datetime.timedelta(
            days=1
        )
        patient.save()

    with pytest.raises(FhirUnauthorized):
        caller_for_request(request_with(token))


def test_a_proxys_app_keeps_working_when_a_scope_it_was_not_given_goes() -> None:
    relationship = ProxyRelationshipFactory()
    connection = proxy_connection(relationship, "launch/patient patient/Appointment.read")
    token = bearer_token(connection)
    relationship.scopes = ["appointments"]
    relationship.save()

    assert caller_for_request(request_with(token)).viewer.scopes == frozenset({"appointments"})


def test_a_proxys_app_given_everything_is_refused_since_a_proxy_never_sees_the_access_log() -> None:
    relationship = ProxyRelationshipFactory()
    token = bearer_token(proxy_connection(relationship, "launch/patient patient/*.read"))

    with pytest.raises(FhirUnauthorized):
        caller_for_request(request_with(token))


@pytest.mark.parametrize(
    ("scope", "resource_type", "read", "search"),
    [
        ("patient/*.read", "Observation", True, True),
        ("patient/*.rs", "Appointment", True, True),
        ("patient/Observation.rs", "Observation", True, True),
        ("patient/Observation.rs", "Appointment", False, False),
        ("patient/Observation.r", "Observation", True, False),
        ("patient/Observation.s", "Observation", False, True),
        ("openid fhirUser launch/patient", "Patient", False, False),
        ("user/*.read", "Observation", False, False),
    ],
)
def test_smart_scopes_decide_which_resource_types_are_read_and_searched(scope, resource_type, read, search) -> None:
    grants = resource_grants(scope)
    assert any(g.resource_type in ("*", resource_type) and g.read for g in grants) is read
    assert any(g.resource_type in ("*", resource_type) and g.search for g in grants) is search


def test_last_used_is_written_at_most_every_few_minutes() -> None:
    patient = PatientWithAccountFactory()
    connection = AppConnectionFactory(user=patient.user, patient=patient)
    token = bearer_token(connection)

    caller_for_request(request_with(token))
    connection.refresh_from_db()
    first = connection.last_used_at
    assert first is not None

    caller_for_request(request_with(token))  # a moment later: not written again
    connection.refresh_from_db()
    assert connection.last_used_at == first

    connection.last_used_at = first - datetime.timedelta(minutes=6)
    connection.save(update_fields=["last_used_at"])
    caller_for_request(request_with(token))
    connection.refresh_from_db()
    assert connection.last_used_at > first
