"""Schema-driven tests (schemathesis): every operation in the API's OpenAPI document, called with what the document
allows, by an app with a valid token for a patient with a record and by one without a token. Never a 500; every
answer has a status and content type the document declares; every refusal is an OperationOutcome in FHIR JSON.

The document is the one served at /fhir/r4/openapi.json; requests go through Django's WSGI application, as a
server would send them. The example counts are kept small and derandomised so the file runs in well under a minute.
"""

import json

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from careportal.fhir.api import fhir_api
from tests.appointments.factories import AppointmentFactory
from tests.fhir.conftest import Api, api_for
from tests.letters.factories import LetterFactory
from tests.messaging.factories import MessageFactory, ThreadFactory
from tests.patients.factories import PatientWithAccountFactory
from tests.proxy.factories import ProxyRelationshipFactory
from tests.results.factories import DiagnosticReportFactory, ObservationFactory

# Real transactions: Django's WSGI handler closes the connection after each request, as a server's would, which a
# test wrapped in one transaction would not survive on PostgreSQL.
pytestmark = pytest.mark.django_db(transaction=True)

# Of the methods the document does not list, a few kinds: a write, a removal, and two answered by no view.
CONFIG = schemathesis.Config.from_dict(
    {"phases": {"coverage": {"unexpected-methods": ["post", "delete", "trace", "query"]}}}
)
schema = schemathesis.openapi.from_dict(fhir_api.get_openapi_schema(path_prefix="/fhir/r4/"), config=CONFIG)
DJANGO = get_wsgi_application()


def WSGI(environ, start_response):
    """Django's WSGI application, its response closed at once: closing sends `request_finished`, which must
    happen while the test has `close_old_connections` disconnected (below), not whenever the response is
    collected, when it would close the connection of whatever test then runs."""
    response = DJANGO(environ, start_response)
    try:
        return [b"".join(response)]
    finally:
        response.close()


CALLS = {"with a token": 0, "without a token": 0}


def outcome_for_every_refusal(ctx, response, case) -> bool:
    """Every answer is FHIR JSON (or Binary's PDF), and every non-2xx an OperationOutcome."""
    media = response.headers.get("content-type", [""])[0]
    if 200 <= response.status_code < 300:
        assert media.startswith(("application/fhir+json", "application/pdf")), media
    else:
        assert media.startswith("application/fhir+json"), media
        assert json.loads(response.content)["resourceType"] == "OperationOutcome"
    return True


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    outcome_for_every_refusal,
]
EXAMPLES = settings(
    max_examples=4,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture(scope="module", autouse=True)
def _count_calls():
    """How many requests the file sent (shown with `pytest -s`)."""
    yield
    print(f"\nschema-driven FHIR requests: {CALLS}")


@pytest.fixture(autouse=True)
def _wsgi_inside_the_test_transaction(settings):
    """Django's WSGI handler closes the database connection after each request, which would end the test's
    transaction: Django's test client turns that off the same way."""
    settings.ALLOWED_HOSTS = ["localhost"]
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def app_with_record() -> tuple[Api, dict[str, str]]:
    """An app connected to a patient with one of everything, and the ids of those resources."""
    patient = PatientWithAccountFactory()
    app = api_for(patient.user, patient)
    report = DiagnosticReportFactory(patient=patient, released=True)
    observation = ObservationFactory(report=report, sequence=1, code="718-7", coding_system="LN")
    letter = LetterFactory(patient=patient)
    app.get("Appointment")  # an access event of its own, for AuditEvent
    from careportal.audit.models import AccessEvent

    ids = {
        "Patient": str(patient.public_id),
        "Observation": f"{report.public_id}-{observation.sequence}",
        "DiagnosticReport": str(report.public_id),
        "Appointment": str(AppointmentFactory(patient=patient).public_id),
        "Communication": str(MessageFactory(thread=ThreadFactory(patient=patient)).public_id),
        "DocumentReference": str(letter.public_id),
        "Binary": str(letter.public_id),
        "RelatedPerson": str(ProxyRelationshipFactory(patient=patient).public_id),
        "AuditEvent": str(AccessEvent.objects.filter(patient=patient).values_list("pk", flat=True).first()),
    }
    return app, ids


@schema.parametrize()
@EXAMPLES
def test_every_operation_with_a_token(case, app_with_record) -> None:
    """Schemathesis's explicit cases (boundary values, values that break the declared schemas, methods the
    document does not list), then generated ones."""
    app, ids = app_with_record
    if "resource_id" in (case.path_parameters or {}) and CALLS["with a token"] % 2 == 0:
        # Every other read asks for a resource of the record (a 200), the rest for the generated id (a 404).
        case.path_parameters["resource_id"] = ids[case.path.removeprefix("/fhir/r4/").split("/")[0]]

    case.call_and_validate(app=WSGI, headers={"Authorization": f"Bearer {app.token}"}, checks=CHECKS)
    CALLS["with a token"] += 1


@schema.parametrize()
@settings(EXAMPLES, max_examples=3, phases=[Phase.generate])
def test_every_operation_without_a_token(case) -> None:
    response = case.call_and_validate(app=WSGI, checks=CHECKS)

    CALLS["without a token"] += 1
    if case.method.upper() not in ("GET", "HEAD"):
        # Schemathesis also tries the methods the document does not list (POST, TRACE, QUERY...).
        assert response.status_code == 405
        assert response.headers["allow"] == ["GET, HEAD"]
    elif case.path != "/fhir/r4/metadata":
        # A request for a format other than JSON is refused before the token is looked at.
        assert response.status_code in (401, 406)
        if response.status_code == 401:
            assert response.headers["www-authenticate"][0].startswith("Bearer ")
