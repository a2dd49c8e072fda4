"""The indexes that keep a patient's results list and the FHIR DiagnosticReport search reading one page of rows,
however many reports the patient has (docs/data-at-scale.md)."""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def test_the_results_list_and_fhir_date_indexes_exist():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "results_diagnosticreport")
    for name in ("report_patient_list_idx", "report_patient_fhir_date_idx"):
        assert name in constraints and constraints[name]["index"], name
