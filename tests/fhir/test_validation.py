"""Every resource type the API serves, built from realistic data, is valid FHIR: it parses back into the
fhir.resources R4B model it was built with, and into fhirclient's R4 models (an independent implementation)."""

import datetime
import json
from decimal import Decimal

import pytest
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class
from fhirclient.models import fhirelementfactory

from careportal.fhir.capability import capability_statement
from careportal.fhir.errors import operation_outcome
from careportal.fhir.everything import everything_bundle
from careportal.fhir.resources import binary_resource, to_json
from tests.appointments.factories import AppointmentFactory
from tests.letters.factories import LetterFactory
from tests.messaging.factories import MessageFactory, ThreadFactory
from tests.proxy.factories import ProxyRelationshipFactory
from tests.results.factories import DiagnosticReportFactory, ObservationFactory

pytestmark = pytest.mark.django_db


def valid(resource: dict) -> dict:
    """Parse `resource` with both libraries; they raise on anything invalid."""
    model = get_fhir_model_class(resource["resourceType"])
    assert to_json(model.model_validate(resource)) == resource
    fhirelementfactory.FHIRElementFactory.instantiate(resource["resourceType"], resource)
    return resource


@pytest.fixture
def full_record(api):
    """A realistic record: numeric, structured, coded, text and attachment values, a corrected and a withdrawn
    report, an imaging report, past, video and cancelled appointments, messages both ways, a letter, proxies."""
    patient = api.patient
    patient.address_line_1 = "12 Elm Court"
    patient.town = "London"
    patient.postcode = "N8 7QE"
    patient.mobile_phone = "07700900123"
    patient.email = "eleanor@example.com"
    patient.save()
    fbc = DiagnosticReportFactory(patient=patient, released=True, lab_comment="Sample slightly haemolysed")
    ObservationFactory(report=fbc, sequence=1, coding_system="LN", code="718-7", interpretation="L")
    ObservationFactory(
        report=fbc,
        sequence=2,
        code="PLT",
        value_type="SN",
        value_text=">1000",
        value_numeric=Decimal("1000"),
        value_comparator=">",
        interpretation="HH",
        comment="Confirmed on a repeat sample.",
    )
    ObservationFactory(
        report=fbc,
        sequence=3,
        code="BG",
        value_type="CWE",
        value_code="278149003",
        value_code_system="SCT",
        value_text="Blood group A Rh(D) positive",
        value_numeric=None,
        unit="",
        reference_range="",
        reference_low=None,
        reference_high=None,
        interpretation="",
    )
    ObservationFactory(
        report=fbc, sequence=4, code="FILM", value_type="TX", value_text="Normal red cells.", value_numeric=None
    )
    ObservationFactory(report=fbc, sequence=5, code="PDF", value_type="ED", value_text="", value_numeric=None)
    corrected = DiagnosticReportFactory(patient=patient, released=True, status="corrected", is_amended=True)
    ObservationFactory(report=corrected, sequence=1, status="C")
    withdrawn = DiagnosticReportFactory(patient=patient, released=True, retracted_at=timezone.now())
    ObservationFactory(report=withdrawn, sequence=1)
    DiagnosticReportFactory(
        patient=patient, released=True, result_kind="imaging", category="RAD", clinician_comment="Nothing to worry."
    )
    now = timezone.now()
    AppointmentFactory(patient=patient, kind="video", video_join_url="https://teams.example/join/secret")
    AppointmentFactory(patient=patient, start=now - datetime.timedelta(days=30))
    AppointmentFactory(patient=patient, status="cancelled", clinician_name="", location_name="")
    thread = ThreadFactory(patient=patient)
    MessageFactory(thread=thread)
    MessageFactory(thread=thread, author_role="staff", author_display="Dr C Okafor, Haematology", body="Yes, do.")
    LetterFactory(patient=patient)
    ProxyRelationshipFactory(patient=patient, proxy__first_name="Tom", proxy__last_name="Hargreaves")
    ProxyRelationshipFactory(patient=patient, status="revoked", valid_until=datetime.date(2026, 1, 1))
    return api


SERVED = {
    "Patient",
    "Observation",
    "DiagnosticReport",
    "Appointment",
    "Communication",
    "DocumentReference",
    "RelatedPerson",
    "AuditEvent",
}


def test_every_resource_type_served_is_valid_fhir(full_record) -> None:
    api = full_record
    api.get("Observation")  # something in the access log
    bundle = everything_bundle(api_caller(api))

    resources = [valid(entry["resource"]) for entry in valid(bundle)["entry"]]

    assert {r["resourceType"] for r in resources} == SERVED
    assert len([r for r in resources if r["resourceType"] == "Observation"]) == 7
    assert "secret" not in json.dumps(bundle)  # a video join link is a credential


def test_each_served_response_is_valid_fhir(full_record) -> None:
    api = full_record
    for resource_type in sorted(SERVED):
        bundle = valid(api.get(resource_type).json())
        for entry in bundle.get("entry", []):
            valid(api.get(f"{resource_type}/{entry['resource']['id']}").json())


def test_binary_capability_statement_and_operation_outcome_are_valid(full_record) -> None:
    letter = LetterFactory(patient=full_record.patient)
    valid(to_json(binary_resource(letter, b"%PDF-1.4")))
    valid(capability_statement(base_url="https://portal.example/fhir/r4/"))
    valid(operation_outcome(code="invalid", diagnostics="Search parameter 'date': ..."))


def api_caller(api):
    from django.test import RequestFactory

    from careportal.fhir.authentication import caller_for_request

    return caller_for_request(RequestFactory().get("/fhir/r4/", HTTP_AUTHORIZATION=f"Bearer {api.token}"))
