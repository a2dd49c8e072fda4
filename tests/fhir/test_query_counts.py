"""A search costs the same number of queries for 2 rows as for 20 (no query per row), for every resource type."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.appointments.factories import AppointmentFactory
from tests.letters.factories import LetterFactory
from tests.messaging.factories import MessageFactory, ThreadFactory
from tests.proxy.factories import ProxyRelationshipFactory
from tests.results.factories import DiagnosticReportFactory, ObservationFactory

pytestmark = pytest.mark.django_db


def add(resource_type: str, patient, count: int) -> None:
    for n in range(count):
        if resource_type in ("Observation", "DiagnosticReport"):
            report = DiagnosticReportFactory(patient=patient, released=True)
            ObservationFactory(report=report, sequence=1)
            ObservationFactory(report=report, sequence=2, code="WBC")
        elif resource_type == "Appointment":
            AppointmentFactory(patient=patient, start=timezone.now() + datetime.timedelta(days=n + 1))
        elif resource_type == "Communication":
            MessageFactory(thread=ThreadFactory(patient=patient))
        elif resource_type == "DocumentReference":
            LetterFactory(patient=patient)
        elif resource_type == "RelatedPerson":
            ProxyRelationshipFactory(patient=patient)


def queries_for(api, path: str, params: dict | None = None) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = api.get(path, params or {})
    assert response.status_code == 200, response.content[:300]
    return len(captured)


@pytest.mark.parametrize(
    "resource_type",
    ["Observation", "DiagnosticReport", "Appointment", "Communication", "DocumentReference", "RelatedPerson"],
)
def test_search_queries_stay_constant_as_data_grows(api, resource_type, django_assert_num_queries) -> None:
    add(resource_type, api.patient, 2)
    api.get(resource_type)  # the first request fills per-process caches (the proxy policy, content types)
    small = queries_for(api, resource_type)
    add(resource_type, api.patient, 18)

    with django_assert_num_queries(small):
        api.get(resource_type)


def test_a_next_page_costs_the_same_as_the_first_plus_one_lookup(api) -> None:
    add("Observation", api.patient, 10)
    first = api.get("Observation", {"_count": "3"})  # also fills per-process caches
    next_url = next(link["url"] for link in first.json()["link"] if link["relation"] == "next")

    first_count = queries_for(api, "Observation", {"_count": "3"})
    next_count = queries_for(api, next_url)

    assert next_count == first_count + 1


def test_everything_queries_stay_constant_as_data_grows(api) -> None:
    path = f"Patient/{api.patient.public_id}/$everything"
    for resource_type in ("Observation", "Appointment", "Communication", "DocumentReference", "RelatedPerson"):
        add(resource_type, api.patient, 2)
    # The largest page, so that the whole record is one page both times (test_everything_paging.py has the pages).
    params = {"_count": "500"}
    api.get(path, params)
    small = queries_for(api, path, params)
    for resource_type in ("Observation", "Appointment", "Communication", "DocumentReference", "RelatedPerson"):
        add(resource_type, api.patient, 18)

    # The access log grows with every call, but it is one query however long.
    assert queries_for(api, path, params) == small


def test_the_bearer_check_is_one_query_for_the_token_its_app_person_and_record(api) -> None:
    add("Observation", api.patient, 2)
    api.get("Observation")  # also records the connection's "last used", which the next minutes' calls skip
    with CaptureQueriesContext(connection) as captured:
        assert api.get("Observation").status_code == 200
    reads = [query["sql"] for query in captured if query["sql"].startswith("SELECT")]
    token_reads = [sql for sql in reads if "oauth2_provider_accesstoken" in sql]
    assert len(token_reads) == 1
    assert all(table in token_reads[0] for table in ("fhir_tokencontext", "fhir_appconnection", "patients_patient"))
    # Then only the search itself: the observations (the audit event is the one write).
    assert len(reads) == 2, reads
