"""The Observation search builds each resource's JSON directly, and the searchset Bundle around it, without the R4B
models (careportal/fhir/resources.py says why). Here every shape of Observation the builder writes goes through the
API once and comes back as JSON that the R4B models accept and dump to exactly the same JSON: valid FHIR, and the
same answer the models would give."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation as FhirObservation

from careportal.fhir.resources import to_json
from tests.results.factories import DiagnosticReportFactory, ObservationFactory

pytestmark = pytest.mark.django_db

# (what the report is like, what the observation is like): one of each shape the builder writes.
SHAPES = [
    ({}, {}),  # a whole number with its range and interpretation
    ({}, {"value_numeric": Decimal("1.50"), "value_text": "1.50", "reference_low": Decimal("0.5"), "unit": "mmol/L"}),
    ({}, {"value_numeric": Decimal("0.000001"), "reference_high": None, "reference_range": ""}),
    ({}, {"value_type": "SN", "value_numeric": Decimal("5"), "value_comparator": "<", "interpretation": ""}),
    ({}, {"value_type": "CE", "value_code": "POS", "value_code_system": "LN", "value_text": "Positive"}),
    ({}, {"value_type": "CWE", "value_code": "NEG", "value_text": "", "unit": "", "reference_low": None}),
    ({}, {"value_type": "ED", "value_numeric": None, "value_text": ""}),
    ({}, {"value_type": "TX", "value_numeric": None, "value_text": "See comment", "comment": "Haemolysed sample."}),
    ({}, {"value_type": "TX", "value_numeric": None, "value_text": "", "reference_low": None, "reference_high": None}),
    ({}, {"status": "C", "interpretation": "HH", "observed_at": timezone.now() - datetime.timedelta(minutes=5)}),
    ({"result_kind": "imaging", "collected_at": None}, {"status": ""}),
    ({"status": "cancelled"}, {"status": ""}),
    ({"retracted_at": timezone.now()}, {}),
]


def test_every_observation_shape_is_valid_fhir_and_what_the_model_would_dump(api) -> None:
    for report_fields, observation_fields in SHAPES:
        report = DiagnosticReportFactory(patient=api.patient, released=True, **report_fields)
        ObservationFactory(report=report, sequence=1, **observation_fields)

    response = api.get("Observation", {"_count": "10"})  # fewer than there are: the Bundle has a next link

    assert response.status_code == 200
    bundle = response.json()
    resources = [entry["resource"] for entry in bundle["entry"]]
    resources += [entry["resource"] for entry in api.get(bundle["link"][1]["url"]).json()["entry"]]
    assert len(resources) == len(SHAPES)
    for resource in resources:
        assert to_json(FhirObservation.model_validate(resource)) == resource
    assert to_json(Bundle.model_validate(bundle)) == bundle
    # The shapes did what they meant to: each kind of value, and the withheld one, is there.
    written = {key for resource in resources for key in resource}
    assert {"valueQuantity", "valueCodeableConcept", "valueString", "dataAbsentReason", "note"} <= written
    assert {resource["status"] for resource in resources} >= {"final", "corrected", "cancelled", "entered-in-error"}
