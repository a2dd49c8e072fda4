"""The indexes that keep a patient's results list and the FHIR DiagnosticReport search reading one page of rows,
however many reports the patient has (docs/data-at-scale.md)."""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def test_the_results_list_and_fhir_date_indexes_exist():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "results_diagnosticreport")
    # The list's index says NULLS LAST, which SQLite refuses in an index: it is made on PostgreSQL only.
    names = ["report_patient_fhir_date_idx"]
    if connection.vendor == "postgresql":
        names.append("report_patient_list_idx")
    for name in names:
        assert name in constraints and constraints[name]["index"], name
