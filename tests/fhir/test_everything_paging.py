"""Patient/$everything in pages: `_count`, `total`, signed `next` links that walk the whole record once (no
duplicates, no gaps, the same set as the unpaged Bundle), the same number of queries per page however large the
record, and a 400 OperationOutcome for a bad `_count`, cursor or parameter."""

import datetime
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from careportal.fhir.everything import EVERYTHING_DEFAULT_COUNT, EVERYTHING_MAX_COUNT, everything_bundle
from tests.appointments.factories import AppointmentFactory
from tests.fhir.conftest import api_for
from tests.fhir.test_validation import api_caller
from tests.letters.factories import LetterFactory
from tests.messaging.factories import MessageFactory, ThreadFactory
from tests.patients.factories import PatientWithAccountFactory
from tests.proxy.factories import ProxyRelationshipFactory
from tests.results.factories import DiagnosticReportFactory, ObservationFactory

pytestmark = pytest.mark.django_db

# Everything but the access log, which grows with every read (each page is audited), so that totals hold still.
STABLE_SCOPE = "launch/patient " + " ".join(
    f"patient/{t}.rs"
    for t in ("Patient", "Observation", "DiagnosticReport", "Appointment", "Communication", "DocumentReference")
)


def add_record(patient, *, reports: int = 0, appointments: int = 0, letters: int = 0, threads: int = 0) -> None:
    for _ in range(reports):
        report = DiagnosticReportFactory(patient=patient, released=True)
        ObservationFactory(report=report, sequence=1)
        ObservationFactory(report=report, sequence=2, code="WBC")
    start = timezone.now() + datetime.timedelta(days=1)
    for n in range(appointments):
        # Some share a start time: the row id breaks the tie, so the order stays total.
        AppointmentFactory(patient=patient, start=start + datetime.timedelta(days=n // 2))
    for _ in range(letters):
        LetterFactory(patient=patient)
    for _ in range(threads):
        MessageFactory(thread=ThreadFactory(patient=patient))


def everything_path(api) -> str:
    return f"Patient/{api.patient.public_id}/$everything"


def next_link(bundle: dict) -> str:
    return next((link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), "")


def walk(api, count: int) -> list[dict]:
    """Every page, first to last."""
    pages = []
    response = api.get(everything_path(api), {"_count": str(count)})
    while True:
        assert response.status_code == 200, response.content[:300]
        pages.append(response.json())
        url = next_link(pages[-1])
        if not url:
            return pages
        assert len(pages) < 200
        response = api.get(url)


def keys(bundle: dict) -> list[str]:
    return [entry["fullUrl"] for entry in bundle.get("entry", [])]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    reports=st.integers(0, 3),
    appointments=st.integers(0, 4),
    letters=st.integers(0, 3),
    threads=st.integers(0, 2),
    count=st.integers(1, 7),
)
def test_walking_every_page_gives_the_unpaged_record_once(db, reports, appointments, letters, threads, count) -> None:
    patient = PatientWithAccountFactory()
    add_record(patient, reports=reports, appointments=appointments, letters=letters, threads=threads)
    api = api_for(patient.user, patient, scope=STABLE_SCOPE)
    unpaged = keys(everything_bundle(api_caller(api), base_url="http://testserver/fhir/r4/"))

    pages = walk(api, count)

    walked = [key for page in pages for key in keys(page)]
    assert walked == unpaged  # the same order, so no duplicates and no gaps
    assert all(page["total"] == len(unpaged) for page in pages)
    assert all(len(keys(page)) == count for page in pages[:-1])
    assert 1 <= len(keys(pages[-1])) <= count
    assert all(page["type"] == "searchset" for page in pages)


def test_the_default_page_and_the_links(api) -> None:
    add_record(api.patient, appointments=EVERYTHING_DEFAULT_COUNT + 5)
    api.get("Observation")  # an access log to page through as well

    first = api.get(everything_path(api)).json()

    assert len(first["entry"]) == EVERYTHING_DEFAULT_COUNT
    assert first["total"] > EVERYTHING_DEFAULT_COUNT
    assert first["entry"][0]["resource"]["resourceType"] == "Patient"
    self_url = next(link["url"] for link in first["link"] if link["relation"] == "self")
    assert self_url == f"http://testserver/fhir/r4/{everything_path(api)}"
    url = next_link(first)
    assert url.startswith(f"http://testserver/fhir/r4/{everything_path(api)}?_cursor=")
    # The cursor is opaque: no name, date or value from the record
    cursor = parse_qs(urlsplit(url).query)["_cursor"][0]
    assert str(api.patient.public_id) not in cursor and api.patient.family_name not in cursor


def test_the_access_log_growing_while_paging_gives_no_duplicates(api) -> None:
    add_record(api.patient, reports=2, appointments=3)
    for _ in range(4):
        api.get("Appointment")  # access log entries

    pages = walk(api, 3)

    walked = [key for page in pages for key in keys(page)]
    assert len(walked) == len(set(walked))
    assert any("/AuditEvent/" in key for key in walked)


def test_a_proxys_pages_hold_only_what_the_proxy_may_see(proxy_api) -> None:
    app = proxy_api(["appointments"])
    add_record(app.patient, reports=3, appointments=4, letters=2)

    pages = walk(app, 2)

    walked = [key for page in pages for key in keys(page)]
    assert {key.split("/")[-2] for key in walked} == {"Patient", "Appointment"}
    assert len(walked) == 5 and pages[0]["total"] == 5


def page_queries(api, params: dict) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = api.get(everything_path(api), params)
    assert response.status_code == 200, response.content[:300]
    return len(captured)


def walk_queries(api, count: int) -> list[int]:
    """The queries each page of a walk costs."""
    costs = []
    params = {"_count": str(count)}
    while True:
        with CaptureQueriesContext(connection) as captured:
            response = api.get(everything_path(api), params)
        assert response.status_code == 200, response.content[:300]
        costs.append(len(captured))
        url = next_link(response.json())
        if not url:
            return costs
        params = {"_count": str(count), "_cursor": parse_qs(urlsplit(url).query)["_cursor"][0]}


def test_each_page_costs_the_same_number_of_queries_however_large_the_record(fhir_patient) -> None:
    api = api_for(fhir_patient.user, fhir_patient, scope=STABLE_SCOPE)
    add_record(api.patient, reports=4, appointments=2, letters=2, threads=2)
    api.get(everything_path(api), {"_count": "3"})  # fills per-process caches, writes "last used"
    small = walk_queries(api, 3)

    add_record(api.patient, reports=36, appointments=18, letters=18, threads=18)  # ten times the record
    large = walk_queries(api, 3)

    # The first page (Patient and Observations) and the second (Observations only) cost the same; no page of the
    # large record costs more than the dearest page of the small one (a page reading several resource types).
    assert large[:2] == small[:2]
    assert max(large) <= max(small)
    assert len(large) > 5 * len(small)


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"_count": "0"}, "_count"),
        ({"_count": str(EVERYTHING_MAX_COUNT + 1)}, "_count"),
        ({"_count": "ten"}, "_count"),
        ({"_count": "1.5"}, "_count"),
        ({"_count": "-1"}, "_count"),
        ({"_count": ["2", "3"]}, "_count"),
        ({"_cursor": "not-a-cursor"}, "_cursor"),
        ({"_cursor": ""}, "_cursor"),
        ({"_since": "2024-01-01"}, "_since"),
        ({"start": "2024-01-01"}, "start"),
        ({"_type": "Observation"}, "_type"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(api, params, parameter) -> None:
    response = api.get(everything_path(api), params)

    assert response.status_code == 400
    data = json.loads(response.content)
    assert data["resourceType"] == "OperationOutcome"
    assert f"'{parameter}'" in data["issue"][0]["diagnostics"]


def test_a_tampered_or_foreign_cursor_is_a_400(api) -> None:
    add_record(api.patient, appointments=4)
    url = next_link(api.get(everything_path(api), {"_count": "2"}).json())
    cursor = parse_qs(urlsplit(url).query)["_cursor"][0]
    search_cursor = parse_qs(urlsplit(next_link(api.get("Appointment", {"_count": "1"}).json())).query)["_cursor"][0]

    for bad in (cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB"), search_cursor):
        response = api.get(everything_path(api), {"_count": "2", "_cursor": bad})
        assert response.status_code == 400
        assert json.loads(response.content)["resourceType"] == "OperationOutcome"


def test_another_records_cursor_does_not_page_this_one(api) -> None:
    other = PatientWithAccountFactory()
    add_record(other, appointments=4)
    add_record(api.patient, appointments=4)
    other_api = api_for(other.user, other)
    url = next_link(other_api.get(everything_path(other_api), {"_count": "2"}).json())
    cursor = parse_qs(urlsplit(url).query)["_cursor"][0]

    response = api.get(everything_path(api), {"_count": "2", "_cursor": cursor})

    assert response.status_code == 400
    assert "appointment" not in response.content.decode().lower().replace("this paging link", "")


def test_someone_elses_everything_is_still_not_found_with_paging(api) -> None:
    other = ProxyRelationshipFactory().patient

    response = api.get(f"Patient/{other.public_id}/$everything", {"_count": "2"})

    assert response.status_code == 404


def test_the_capability_statement_documents_the_paging(client) -> None:
    statement = client.get("/fhir/r4/metadata").json()
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")

    (operation,) = patient["operation"]
    assert operation["name"] == "everything"
    assert f"default {EVERYTHING_DEFAULT_COUNT}" in operation["documentation"]
    assert f"at most {EVERYTHING_MAX_COUNT}" in operation["documentation"]
