"""The API's OpenAPI document: served, built from the same table as the CapabilityStatement, and every read
operation it lists refuses another patient's resource with the audited 404."""

import json
import uuid

import pytest
from django.test import Client, RequestFactory
from ninja.errors import AuthenticationError, ValidationError

from careportal.audit.models import AccessEvent
from careportal.fhir.api import fhir_api
from tests.appointments.factories import AppointmentFactory
from tests.fhir.conftest import api_for
from tests.letters.factories import LetterFactory
from tests.messaging.factories import MessageFactory, ThreadFactory
from tests.patients.factories import PatientWithAccountFactory
from tests.proxy.factories import ProxyRelationshipFactory
from tests.results.factories import DiagnosticReportFactory, ObservationFactory

pytestmark = pytest.mark.django_db

BASE = "/fhir/r4/"


@pytest.fixture
def openapi(client: Client) -> dict:
    response = client.get(f"{BASE}openapi.json")
    assert response.status_code == 200
    return json.loads(response.content)


@pytest.fixture
def capability(client: Client) -> dict:
    return json.loads(client.get(f"{BASE}metadata").content)


def test_the_openapi_document_is_served_without_a_token_and_the_docs_page_is_not(client: Client, openapi) -> None:
    docs = client.get(f"{BASE}docs")

    assert openapi["openapi"].startswith("3.")
    assert openapi["components"]["securitySchemes"] == {"SmartBearer": {"type": "http", "scheme": "bearer"}}
    assert docs.status_code == 404 and docs["Content-Type"].startswith("application/fhir+json")


def test_the_operations_are_exactly_the_capability_statements_interactions(openapi, capability) -> None:
    served = {(path.removeprefix(BASE), method) for path, methods in openapi["paths"].items() for method in methods}

    expected = {("metadata", "get")}
    for resource in capability["rest"][0]["resource"]:
        codes = {interaction["code"] for interaction in resource["interaction"]}
        if "search-type" in codes:
            expected.add((resource["type"], "get"))
        if "read" in codes:
            expected.add((f"{resource['type']}/{{resource_id}}", "get"))
        for operation in resource.get("operation", []):
            expected.add((f"{resource['type']}/{{resource_id}}/${operation['name']}", "get"))
    assert served == expected


def test_search_parameters_in_the_openapi_document_are_the_capability_statements(openapi, capability) -> None:
    for resource in capability["rest"][0]["resource"]:
        if "searchParam" not in resource:
            continue
        declared = openapi["paths"][f"{BASE}{resource['type']}"]["get"]["parameters"]

        assert {(p["name"], p["x-fhir-type"]) for p in declared} == {
            (p["name"], p["type"]) for p in resource["searchParam"]
        }, resource["type"]
        assert all(p["in"] == "query" and not p["required"] for p in declared)


def test_reads_declare_only_format_and_everything_its_paging(openapi) -> None:
    for path, methods in openapi["paths"].items():
        if "{resource_id}" in path and not path.endswith("Binary/{resource_id}"):
            query = [p["name"] for p in methods["get"]["parameters"] if p["in"] == "query"]
            expected = ["_format", "_count", "_cursor"] if path.endswith("/$everything") else ["_format"]
            assert query == expected, path


def _other_patients_ids(other) -> dict[str, str]:
    """One resource of each type the API reads, all another patient's."""
    report = DiagnosticReportFactory(patient=other, released=True)
    observation = ObservationFactory(report=report, sequence=1)
    letter = LetterFactory(patient=other)
    api_for(other.user, other, app_name="Their own app").get("Appointment")
    return {
        "Patient": str(other.public_id),
        "Observation": f"{report.public_id}-{observation.sequence}",
        "DiagnosticReport": str(report.public_id),
        "Appointment": str(AppointmentFactory(patient=other).public_id),
        "Communication": str(MessageFactory(thread=ThreadFactory(patient=other)).public_id),
        "DocumentReference": str(letter.public_id),
        "RelatedPerson": str(ProxyRelationshipFactory(patient=other).public_id),
        "AuditEvent": str(AccessEvent.objects.get(patient=other).pk),
        "Binary": str(letter.public_id),
    }


def test_every_read_operation_answers_another_patients_id_with_the_audited_404(api, openapi) -> None:
    other = PatientWithAccountFactory(given_name="Ottoline")  # a name no answer has in its own words
    ids = _other_patients_ids(other)
    reads = [path.removeprefix(BASE) for path in openapi["paths"] if "{resource_id}" in path]
    assert len(reads) == len(ids) + 1  # each type's read, and Patient's $everything

    for template in reads:
        resource_type = template.split("/")[0]
        since = AccessEvent.objects.order_by("pk").last().pk
        before = AccessEvent.objects.filter(patient=other).count()

        foreign = api.get(template.format(resource_id=ids[resource_type]))
        unknown = api.get(template.format(resource_id=str(uuid.uuid4()) if resource_type != "AuditEvent" else "9" * 9))

        assert foreign.status_code == 404, template
        assert foreign.content == unknown.content, template
        assert foreign["Content-Type"].startswith("application/fhir+json")
        assert other.given_name not in foreign.content.decode()
        denied = AccessEvent.objects.filter(pk__gt=since, succeeded=False, action="denied")
        assert denied.count() == 2, template  # the foreign id and the unknown one
        assert AccessEvent.objects.filter(pk__gt=since).count() == 2, template  # and nothing read
        assert {event.patient_id for event in denied} == {None}
        assert {event.app_name for event in denied} == {"My Health Diary"}
        assert AccessEvent.objects.filter(patient=other).count() == before, template


def test_ninjas_own_parameter_check_is_a_400_operation_outcome_naming_the_parameter() -> None:
    request = RequestFactory().get(f"{BASE}Observation")
    error = ValidationError([{"loc": ("query", "_count"), "msg": "Input should be a valid integer", "type": "int"}])

    response = fhir_api.on_exception(request, error)

    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/fhir+json")
    issue = json.loads(response.content)["issue"][0]
    assert issue["code"] == "invalid" and "'_count'" in issue["diagnostics"]


def test_ninjas_own_refusal_of_a_missing_caller_is_the_401_with_a_bearer_challenge() -> None:
    response = fhir_api.on_exception(RequestFactory().get(f"{BASE}Observation"), AuthenticationError())

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer ")
    assert json.loads(response.content)["issue"][0]["code"] == "login"


@pytest.mark.parametrize("method", ["TRACE", "QUERY", "PROPFIND", "OPTIONS"])
@pytest.mark.parametrize("path", ["metadata", "Observation", "Observation/x", "Binary/x", "openapi.json", "nothing"])
def test_any_method_but_get_and_head_is_405_whatever_it_is(client: Client, method, path) -> None:
    response = client.generic(method, f"{BASE}{path}")

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert json.loads(response.content)["resourceType"] == "OperationOutcome"


def test_head_and_a_trailing_slash_are_served_as_before(api) -> None:
    head = api.client.head(f"{BASE}Patient", HTTP_AUTHORIZATION=f"Bearer {api.token}")
    slash = api.get("Patient/")

    assert head.status_code == 200 and head["Content-Type"].startswith("application/fhir+json")
    assert slash.status_code == 200
    assert json.loads(slash.content)["entry"][0]["resource"]["id"] == str(api.patient.public_id)
