"""Whatever an app sends as search parameters, to any resource type the API searches (and to some it does not), the
answer is a Bundle or an OperationOutcome with a 4xx status: never a 500."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.results.factories import DiagnosticReportFactory, ObservationFactory

pytestmark = pytest.mark.django_db

NAMES = st.sampled_from(
    [
        "patient",
        "category",
        "code",
        "date",
        "sent",
        "status",
        "identifier",
        "_count",
        "_sort",
        "_cursor",
        "_format",
        "code:text",
        "value",
        "_id",
        "x",
    ]
)
RESOURCE_TYPES = st.sampled_from(
    [
        "Patient",
        "Observation",
        "DiagnosticReport",
        "Appointment",
        "Communication",
        "DocumentReference",
        "RelatedPerson",
        "AuditEvent",
        "Binary",
        "Medication",
        "observation",
    ]
)
VALUES = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"(eq|ne|lt|le|gt|ge|sa|eb|ap)?\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2})?(Z|[+-]\d{2}:\d{2})?)?)?)?"),
    st.from_regex(r"[a-z:/.]{0,20}\|[A-Za-z0-9\-]{0,10}(,[a-z|0-9]{0,8})?"),
    st.sampled_from(["-date", "date", "0", "100", "101", "json", "xml", "Patient/1", "laboratory"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(resource_type=RESOURCE_TYPES, params=st.lists(st.tuples(NAMES, VALUES), max_size=4))
def test_a_search_never_answers_500(api, resource_type, params) -> None:
    if not hasattr(api, "_seeded"):
        report = DiagnosticReportFactory(patient=api.patient, released=True)
        ObservationFactory(report=report, sequence=1)
        api._seeded = True
    query = {}
    for name, value in params:
        query.setdefault(name, []).append(value)

    response = api.get(resource_type, query)

    assert response.status_code in (200, 400, 404, 405, 406), response.content[:300]
    data = json.loads(response.content)
    assert data["resourceType"] == ("Bundle" if response.status_code == 200 else "OperationOutcome")
