"""Every endpoint of the FHIR R4 API: what a patient's app reads, and every refusal as an OperationOutcome."""

import base64
import datetime
import json

import pytest
from django.test import Client
from django.utils import timezone

from careportal.audit.models import AccessEvent
from careportal.fhir import reads
from careportal.fhir.coding import LOINC, NHS_NUMBER_SYSTEM
from tests.appointments.factories import AppointmentFactory
from tests.fhir.conftest import api_for
from tests.letters.factories import LetterFactory
from tests.letters.helpers import make_pdf
from tests.messaging.factories import MessageFactory, ThreadFactory
from tests.patients.factories import PatientWithAccountFactory
from tests.proxy.factories import ProxyRelationshipFactory
from tests.results.factories import DiagnosticReportFactory, ObservationFactory

pytestmark = pytest.mark.django_db

UNKNOWN = "0b8f3c52-6a55-4b8e-9a43-2f1d0c7e9a11"

SEARCHABLE = [
    "Patient",
    "Observation",
    "DiagnosticReport",
    "Appointment",
    "Communication",
    "DocumentReference",
    "RelatedPerson",
    "AuditEvent",
]


def body(response) -> dict:
    assert response["Content-Type"].startswith("application/fhir+json"), response["Content-Type"]
    return json.loads(response.content)


def outcome(response, status: int) -> dict:
    assert response.status_code == status, response.content[:500]
    data = body(response)
    assert data["resourceType"] == "OperationOutcome"
    return data["issue"][0]


def entries(response) -> list[dict]:
    assert response.status_code == 200, response.content[:500]
    data = body(response)
    assert data["resourceType"] == "Bundle" and data["type"] == "searchset"
    return [entry["resource"] for entry in data.get("entry", [])]


@pytest.fixture
def record(fhir_patient):
    """One of everything for the patient, and the same again for someone else."""
    made = {}
    for patient, key in ((fhir_patient, "own"), (PatientWithAccountFactory(), "other")):
        report = DiagnosticReportFactory(patient=patient, released=True)
        observation = ObservationFactory(report=report, sequence=1, code="718-7", coding_system="LN")
        thread = ThreadFactory(patient=patient)
        made[key] = {
            "Patient": patient,
            "DiagnosticReport": report,
            "Observation": observation,
            "Appointment": AppointmentFactory(patient=patient),
            "Communication": MessageFactory(thread=thread),
            "DocumentReference": LetterFactory(patient=patient),
            "RelatedPerson": ProxyRelationshipFactory(patient=patient),
        }
    return made


def fhir_id(obj) -> str:
    if hasattr(obj, "report"):
        return f"{obj.report.public_id}-{obj.sequence}"
    return str(obj.public_id)


# The capability statement ------------------------------------------------------------------------------------


def test_metadata_lists_exactly_what_is_implemented_without_a_token(client: Client) -> None:
    response = client.get("/fhir/r4/metadata")

    statement = body(response)
    assert response.status_code == 200
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    rest = statement["rest"][0]
    served = {r["type"]: r for r in rest["resource"]}
    assert set(served) == {*SEARCHABLE, "Binary"}
    assert {p["name"] for p in served["Observation"]["searchParam"]} == {
        "patient",
        "category",
        "code",
        "date",
        "_count",
        "_sort",
        "_cursor",
        "_format",
    }
    assert [i["code"] for i in served["Binary"]["interaction"]] == ["read"]
    assert served["Patient"]["operation"][0]["name"] == "everything"
    oauth = rest["security"]["extension"][0]
    uris = {e["url"]: e["valueUri"] for e in oauth["extension"]}
    assert uris == {
        "authorize": "http://testserver/fhir/r4/auth/authorize/",
        "token": "http://testserver/fhir/r4/auth/token/",
        "revoke": "http://testserver/fhir/r4/auth/revoke/",
    }
    assert rest["security"]["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"


def test_the_authorisation_servers_addresses_are_left_to_it(client: Client) -> None:
    """The catch-all 404 never answers for auth/ or .well-known/ (the SMART authorisation server's), whichever
    order the URL patterns are merged in."""
    from django.urls import Resolver404, resolve

    for path in ("/fhir/r4/auth/authorize/", "/fhir/r4/.well-known/smart-configuration"):
        try:
            match = resolve(path)
        except Resolver404:
            continue
        assert match.url_name != "unknown"


def test_metadata_search_parameters_match_what_searches_accept() -> None:
    """The statement is built from the table the searches use: every parameter listed is one a search takes."""
    for kind in reads.KINDS.values():
        assert kind.params  # something to search by


# Reads and searches --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("resource_type", SEARCHABLE[:-1])
def test_a_patients_app_searches_and_reads_their_own_record_only(api, record, resource_type: str) -> None:
    own, other = record["own"][resource_type], record["other"][resource_type]

    found = entries(api.get(resource_type))
    read = api.get(f"{resource_type}/{fhir_id(own)}")

    assert [r["id"] for r in found] == [fhir_id(own)]
    assert read.status_code == 200 and body(read)["id"] == fhir_id(own)
    assert body(read)["resourceType"] == resource_type
    outcome(api.get(f"{resource_type}/{fhir_id(other)}"), 404)


def test_patient_resource_carries_uk_core_identifiers(api, settings) -> None:
    settings.CAREPORTAL_FHIR_HOSPITAL_NUMBER_SYSTEM = "https://fhir.trust.example/Id/mrn"

    patient = entries(api.get("Patient"))[0]

    assert patient["identifier"] == [
        {"system": NHS_NUMBER_SYSTEM, "value": "9990000018"},
        {"system": "https://fhir.trust.example/Id/mrn", "value": "40012345"},
    ]
    assert patient["name"][0]["family"] == "Hargreaves"


def test_observation_keeps_its_source_code_system(api, record) -> None:
    observation = body(api.get(f"Observation/{fhir_id(record['own']['Observation'])}"))

    assert observation["code"]["coding"][0] == {"system": LOINC, "code": "718-7", "display": "Haemoglobin"}
    assert observation["valueQuantity"] == {"value": 135, "unit": "g/L"}
    assert observation["referenceRange"][0]["text"] == "115-165"
    assert observation["subject"]["reference"] == f"Patient/{api.patient.public_id}"


def test_local_codes_keep_a_local_system(api, settings) -> None:
    settings.CAREPORTAL_FHIR_LOCAL_CODE_SYSTEM_BASE = "https://fhir.trust.example/CodeSystem"
    ObservationFactory(report=DiagnosticReportFactory(patient=api.patient, released=True), coding_system="WINPATH")

    observation = entries(api.get("Observation"))[0]

    assert observation["code"]["coding"][0]["system"] == "https://fhir.trust.example/CodeSystem/winpath"


def test_unreleased_results_are_not_served(api) -> None:
    report = DiagnosticReportFactory(patient=api.patient)
    observation = ObservationFactory(report=report, sequence=1)

    assert entries(api.get("DiagnosticReport")) == []
    assert entries(api.get("Observation")) == []
    outcome(api.get(f"DiagnosticReport/{report.public_id}"), 404)
    outcome(api.get(f"Observation/{fhir_id(observation)}"), 404)


def test_a_withdrawn_result_says_so_and_carries_no_values(api) -> None:
    report = DiagnosticReportFactory(
        patient=api.patient, released=True, retracted_at=timezone.now(), lab_comment="Haemolysed sample"
    )
    observation = ObservationFactory(report=report, sequence=1, comment="Repeat in a week")

    read = body(api.get(f"Observation/{fhir_id(observation)}"))
    diagnostic = body(api.get(f"DiagnosticReport/{report.public_id}"))

    assert read["status"] == "entered-in-error"
    for key in ("valueQuantity", "valueString", "referenceRange", "interpretation", "note"):
        assert key not in read
    assert diagnostic["status"] == "entered-in-error"
    assert "result" not in diagnostic and "conclusion" not in diagnostic
    assert "Haemolysed" not in json.dumps(diagnostic)


def test_internal_notes_are_never_communications(api) -> None:
    thread = ThreadFactory(patient=api.patient)
    MessageFactory(thread=thread, body="What the patient wrote")
    note = MessageFactory(thread=thread, author_role="staff", body="Internal: chase the lab", is_internal_note=True)

    found = entries(api.get("Communication"))

    assert [c["payload"][0]["contentString"] for c in found] == ["What the patient wrote"]
    outcome(api.get(f"Communication/{note.public_id}"), 404)


def test_a_letter_reads_as_a_document_reference_with_its_pdf_as_binary(api) -> None:
    letter = LetterFactory(patient=api.patient)

    document = body(api.get(f"DocumentReference/{letter.public_id}"))
    url = document["content"][0]["attachment"]["url"]
    pdf = api.get(url, HTTP_ACCEPT="application/pdf")
    as_json = api.get(url)

    assert url == f"http://testserver/fhir/r4/Binary/{letter.public_id}"
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    binary = body(as_json)
    assert binary["resourceType"] == "Binary" and binary["contentType"] == "application/pdf"
    assert base64.b64decode(binary["data"]) == pdf.content
    assert make_pdf()[:4] == b"%PDF"


def test_a_letter_whose_file_is_missing_is_a_503_outcome_that_names_nothing_of_the_patient(api, caplog) -> None:
    from careportal.letters.storage import letter_file_name, letter_storage

    letter = LetterFactory(patient=api.patient)
    letter_storage().delete(letter_file_name(letter.stored_name))

    for accept in ("application/pdf", "application/fhir+json"):
        response = api.get(f"Binary/{letter.public_id}", HTTP_ACCEPT=accept)
        issue = outcome(response, 503)
        assert issue["code"] == "transient"
        assert response["Retry-After"] == "3600"
        assert api.patient.family_name not in response.content.decode()
    assert "letter_file_unavailable" in caplog.text
    assert api.patient.family_name not in caplog.text


def test_binary_of_another_patients_letter_is_not_found(api) -> None:
    letter = LetterFactory()

    outcome(api.get(f"Binary/{letter.public_id}", HTTP_ACCEPT="application/pdf"), 404)
    outcome(api.get("Binary/not-an-id"), 404)


def test_related_people_are_the_patients_proxies_as_the_patient_sees_them(api) -> None:
    active = ProxyRelationshipFactory(patient=api.patient, relationship="daughter")
    ProxyRelationshipFactory(patient=api.patient, status="requested")

    found = entries(api.get("RelatedPerson"))

    assert [r["id"] for r in found] == [str(active.public_id)]
    assert found[0]["relationship"][0]["text"] == "daughter"
    assert found[0]["active"] is True


def test_the_access_log_is_the_patients_own_and_names_the_app(api) -> None:
    api.get("Observation")

    found = entries(api.get("AuditEvent"))

    assert found, "the search itself is in the log"
    displays = [agent["who"]["display"] for event in found for agent in event["agent"]]
    assert "My Health Diary" in displays
    read = api.get(f"AuditEvent/{found[0]['id']}")
    assert body(read)["id"] == found[0]["id"]


def test_every_read_is_audited_with_the_apps_name(api, record) -> None:
    before = AccessEvent.objects.count()

    api.get(f"Observation/{fhir_id(record['own']['Observation'])}")
    api.get("Appointment")
    api.get(f"DocumentReference/{record['own']['DocumentReference'].public_id}")

    events = list(AccessEvent.objects.order_by("pk")[before:])
    assert len(events) == 3
    assert {e.app_name for e in events} == {"My Health Diary"}
    assert all(e.patient_id == api.patient.pk for e in events)


def test_everything_returns_the_whole_record(api, record) -> None:
    found = entries(api.get(f"Patient/{api.patient.public_id}/$everything"))

    types = {r["resourceType"] for r in found}
    assert types == set(SEARCHABLE)
    own_ids = {fhir_id(obj) for obj in record["own"].values()}
    other_ids = {fhir_id(obj) for obj in record["other"].values()}
    ids = {r["id"] for r in found}
    assert own_ids <= ids and not (other_ids & ids)
    assert found[0]["resourceType"] == "Patient"


def test_everything_for_another_patient_is_not_found(api, record) -> None:
    outcome(api.get(f"Patient/{record['other']['Patient'].public_id}/$everything"), 404)


def test_everything_keeps_to_the_apps_scopes(fhir_patient, record) -> None:
    narrow = api_for(fhir_patient.user, fhir_patient, scope="launch/patient patient/Patient.rs patient/Observation.rs")

    found = entries(narrow.get(f"Patient/{fhir_patient.public_id}/$everything"))

    assert {r["resourceType"] for r in found} == {"Patient", "Observation"}


# Formats -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "accept", "status"),
    [
        ({}, "", 200),
        ({}, "application/fhir+json", 200),
        ({}, "application/json", 200),
        ({}, "*/*", 200),
        ({}, "text/html,application/xhtml+xml,*/*;q=0.8", 200),
        ({"_format": "json"}, "", 200),
        ({"_format": "application/fhir+json"}, "application/xml", 200),
        ({"_format": "xml"}, "", 406),
        ({}, "application/fhir+xml", 406),
    ],
)
def test_json_is_served_to_anyone_who_accepts_it(api, params, accept, status) -> None:
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = api.get("Patient", params, **headers)

    assert response.status_code == status
    assert response["Content-Type"].startswith("application/fhir+json")


# Refusals ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["Patient", "Observation", "Observation/x", "Binary/x", f"Patient/{UNKNOWN}/$everything"]
)
@pytest.mark.parametrize("token", ["", "not-a-token"])
def test_without_a_valid_token_the_answer_is_401_with_a_bearer_challenge(client: Client, path, token) -> None:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    response = client.get(f"/fhir/r4/{path}", **headers)

    issue = outcome(response, 401)
    assert issue["code"] == "login"
    assert response["WWW-Authenticate"].startswith("Bearer ")


def test_a_token_whose_connection_was_revoked_is_refused(api) -> None:
    from careportal.fhir.models import AppConnection

    AppConnection.objects.update(revoked_at=timezone.now())

    outcome(api.get("Patient"), 401)


@pytest.mark.parametrize(
    ("scope", "path", "status"),
    [
        ("patient/Observation.rs", "Appointment", 403),
        ("patient/Observation.rs", "Observation", 200),
        ("patient/Observation.r", "Observation", 403),
        ("patient/Observation.s", "Observation", 200),
        ("patient/Observation.rs", "Patient/{patient}", 403),
        ("patient/Observation.rs", "Patient/{patient}/$everything", 403),
        ("patient/Observation.rs", "Binary/{letter}", 403),
        ("patient/DocumentReference.r", "Binary/{letter}", 200),
        ("patient/Binary.r", "Binary/{letter}", 200),
        ("openid fhirUser", "Patient", 403),
    ],
)
def test_smart_scopes_not_granted_are_403(fhir_patient, scope, path, status) -> None:
    letter = LetterFactory(patient=fhir_patient)
    app = api_for(fhir_patient.user, fhir_patient, scope=scope)

    response = app.get(path.format(patient=fhir_patient.public_id, letter=letter.public_id))

    assert response.status_code == status
    if status == 403:
        assert outcome(response, 403)["code"] == "forbidden"


@pytest.mark.parametrize(
    "path",
    [
        "Observation/not-an-id",
        f"Observation/{UNKNOWN}-1",
        f"Observation/{UNKNOWN}-x",
        f"DiagnosticReport/{UNKNOWN}",
        "DiagnosticReport/123",
        f"Appointment/{UNKNOWN}",
        f"Communication/{UNKNOWN}",
        f"DocumentReference/{UNKNOWN}",
        f"RelatedPerson/{UNKNOWN}",
        "AuditEvent/99999999",
        "AuditEvent/abc",
        f"Patient/{UNKNOWN}",
        "Patient/x",
        f"Binary/{UNKNOWN}",
        "Medication",
        "Medication/1",
        "Observation/1/_history/2",
        "$export",
        "metadata/extra",
        "observation",
        "something/else",
        "/fhir/r4/",
    ],
)
def test_unknown_ids_types_and_paths_are_404_operation_outcomes(api, path) -> None:
    assert outcome(api.get(path), 404)["code"] == "not-found"


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("path", ["Observation", "Patient/x", "metadata", "Binary/x"])
def test_the_api_is_read_only(api, method, path) -> None:
    call = getattr(api.client, method)
    response = call(
        f"/fhir/r4/{path}", data="{}", content_type="application/fhir+json", HTTP_AUTHORIZATION=f"Bearer {api.token}"
    )

    outcome(response, 405)
    assert response["Allow"] == "GET, HEAD"


def test_a_read_takes_no_search_parameters(api) -> None:
    issue = outcome(api.get(f"Patient/{api.patient.public_id}", {"code": "x"}), 400)

    assert "code" in issue["diagnostics"]


def test_something_unforeseen_is_a_500_operation_outcome_without_details(api, monkeypatch) -> None:
    def broken(**kwargs):
        raise RuntimeError("Eleanor Hargreaves 9990000018")

    monkeypatch.setattr(reads, "search", broken)

    issue = outcome(api.get("Observation"), 500)

    assert "9990000018" not in json.dumps(issue)
    assert issue["code"] == "exception"


# Proxies -------------------------------------------------------------------------------------------------------


def test_a_proxys_app_sees_only_what_the_proxy_may(proxy_api) -> None:
    app = proxy_api(["appointments"])
    report = DiagnosticReportFactory(patient=app.patient, released=True)
    observation = ObservationFactory(report=report, sequence=1)
    appointment = AppointmentFactory(patient=app.patient)

    assert [a["id"] for a in entries(app.get("Appointment"))] == [str(appointment.public_id)]
    assert outcome(app.get("Observation"), 403)["code"] == "forbidden"
    outcome(app.get("DiagnosticReport"), 403)
    outcome(app.get(f"Observation/{fhir_id(observation)}"), 404)
    outcome(app.get(f"DiagnosticReport/{report.public_id}"), 404)
    everything = entries(app.get(f"Patient/{app.patient.public_id}/$everything"))
    assert {r["resourceType"] for r in everything} == {"Patient", "Appointment"}


def test_a_proxys_app_never_sees_an_ungranted_sensitive_result(proxy_api) -> None:
    app = proxy_api(["results"])
    open_report = DiagnosticReportFactory(patient=app.patient, released=True)
    sensitive = DiagnosticReportFactory(patient=app.patient, released=True, sensitive_category="sexual_health")
    observation = ObservationFactory(report=sensitive, sequence=1)

    assert [r["id"] for r in entries(app.get("DiagnosticReport"))] == [str(open_report.public_id)]
    outcome(app.get(f"DiagnosticReport/{sensitive.public_id}"), 404)
    outcome(app.get(f"Observation/{fhir_id(observation)}"), 404)


def test_a_proxy_with_the_sensitive_category_granted_sees_it(proxy_api) -> None:
    app = proxy_api(["results"], sensitive=["sexual_health"])
    sensitive = DiagnosticReportFactory(patient=app.patient, released=True, sensitive_category="sexual_health")

    assert [r["id"] for r in entries(app.get("DiagnosticReport"))] == [str(sensitive.public_id)]


def test_the_patients_own_lists_are_not_for_proxies(proxy_api) -> None:
    app = proxy_api(["appointments", "results", "messages", "letters", "details"])
    relationship = ProxyRelationshipFactory(patient=app.patient)

    outcome(app.get("RelatedPerson"), 403)
    outcome(app.get("AuditEvent"), 403)
    outcome(app.get(f"RelatedPerson/{relationship.public_id}"), 404)


def test_a_proxys_reads_are_audited_on_behalf_of_the_patient_with_the_apps_name(proxy_api) -> None:
    app = proxy_api(["appointments"])
    AppointmentFactory(patient=app.patient)
    before = AccessEvent.objects.count()

    app.get("Appointment")

    event = AccessEvent.objects.order_by("pk")[before:].get()
    assert event.app_name == "My Health Diary"
    assert event.actor_role == "proxy"
    assert event.patient_id == app.patient.pk


def test_a_proxys_patient_resource_leaves_out_contact_details_without_that_scope(proxy_api) -> None:
    app = proxy_api(["appointments"])
    app.patient.mobile_phone = "07700900123"
    app.patient.save()

    patient = body(app.get(f"Patient/{app.patient.public_id}"))

    assert "telecom" not in patient and "address" not in patient
    assert patient["birthDate"] == app.patient.birth_date.isoformat()


def test_a_refused_search_is_audited_as_a_refusal(proxy_api) -> None:
    app = proxy_api(["appointments"])
    before = AccessEvent.objects.count()

    app.get("Observation")

    event = AccessEvent.objects.order_by("pk")[before:].get()
    assert event.action == "denied" and event.app_name == "My Health Diary"


def test_dates_are_instants_with_time_zones(api) -> None:
    AppointmentFactory(patient=api.patient, start=timezone.now() + datetime.timedelta(days=3))

    appointment = entries(api.get("Appointment"))[0]

    assert appointment["start"].endswith(("Z", "+00:00"))
