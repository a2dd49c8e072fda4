"""Keyset paging: `next` links walk the whole set once, in order, even when rows arrive between pages; the cursor
is opaque, signed, and names nothing but a resource id."""

import datetime
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import signing
from django.utils import timezone

from tests.appointments.factories import AppointmentFactory
from tests.fhir.conftest import api_for
from tests.patients.factories import PatientWithAccountFactory
from tests.results.factories import DiagnosticReportFactory, ObservationFactory

pytestmark = pytest.mark.django_db

BASE = datetime.datetime(2026, 3, 1, 9, 0, tzinfo=datetime.UTC)


def add_results(patient, count: int, *, start: int = 0, same_time: bool = False) -> list[str]:
    """`count` released observations; with `same_time`, all taken at the same moment (ties on the sort key)."""
    made = []
    for n in range(start, start + count):
        collected = BASE if same_time else BASE + datetime.timedelta(hours=n)
        report = DiagnosticReportFactory(patient=patient, released=True, collected_at=collected)
        made.append(f"{report.public_id}-1")
        ObservationFactory(report=report, sequence=1)
    return made


def walk(api, params: dict, *, between_pages=None) -> tuple[list[str], list[dict]]:
    found: list[str] = []
    pages: list[dict] = []
    response = api.get("Observation", params)
    while True:
        assert response.status_code == 200, response.content[:300]
        page = json.loads(response.content)
        pages.append(page)
        found += [entry["resource"]["id"] for entry in page.get("entry", [])]
        links = {link["relation"]: link["url"] for link in page["link"]}
        if "next" not in links:
            return found, pages
        if between_pages is not None:
            between_pages(len(pages))
        response = api.get(links["next"])


@pytest.mark.parametrize("same_time", [False, True])
@pytest.mark.parametrize("sort", ["-date", "date"])
def test_next_links_walk_the_whole_set_once_in_order(api, same_time, sort) -> None:
    made = add_results(api.patient, 23, same_time=same_time)

    found, pages = walk(api, {"_count": "5", "_sort": sort})

    assert len(found) == len(set(found)) == 23
    assert set(found) == set(made)
    assert [len(page.get("entry", [])) for page in pages] == [5, 5, 5, 5, 3]
    assert {page["total"] for page in pages} == {23}
    if not same_time:
        assert found == (list(reversed(made)) if sort == "-date" else made)


def test_rows_added_between_pages_cause_no_duplicates_or_gaps(api) -> None:
    made = add_results(api.patient, 12)
    added: list[str] = []

    def add_newer_and_older(page_number: int) -> None:
        # A newer result (before the cursor, newest first) and one at the very same time as an existing one.
        added.extend(add_results(api.patient, 1, start=100 + page_number))
        added.extend(add_results(api.patient, 1, start=0, same_time=True))

    found, _ = walk(api, {"_count": "4"}, between_pages=add_newer_and_older)

    assert len(found) == len(set(found))
    assert set(made) <= set(found)
    assert set(found) <= set(made) | set(added)


def test_the_cursor_names_no_patient_data(api, fhir_patient) -> None:
    add_results(api.patient, 3)

    _, pages = walk(api, {"_count": "1", "code": "HB"})

    for page in pages:
        for link in page["link"]:
            assert "9990000018" not in link["url"] and "40012345" not in link["url"]
            assert "2026" not in link["url"]  # no dates from the record
            query = parse_qs(urlsplit(link["url"]).query)
            assert set(query) <= {"_count", "code", "_cursor"}


def test_a_tampered_or_foreign_cursor_is_400(api) -> None:
    add_results(api.patient, 3)
    _, pages = walk(api, {"_count": "1"})
    next_url = {link["relation"]: link["url"] for link in pages[0]["link"]}["next"]
    cursor = parse_qs(urlsplit(next_url).query)["_cursor"][0]
    forged = signing.dumps({"t": "Observation", "i": "x", "d": True}, salt="another-salt")

    assert api.get("Observation", {"_cursor": cursor[:-2] + "zz"}).status_code == 400
    assert api.get("Observation", {"_cursor": forged}).status_code == 400
    assert api.get("DiagnosticReport", {"_cursor": cursor}).status_code == 400
    assert api.get("Observation", {"_cursor": cursor, "_sort": "date"}).status_code == 400


def test_another_patients_cursor_leads_nowhere(api) -> None:
    other = PatientWithAccountFactory()
    add_results(other, 3)
    add_results(api.patient, 3)
    other_app = api_for(other.user, other)
    _, pages = walk(other_app, {"_count": "1"})
    next_url = {link["relation"]: link["url"] for link in pages[0]["link"]}["next"]

    response = api.get(next_url)

    assert response.status_code == 400
    assert "start the search again" in json.loads(response.content)["issue"][0]["diagnostics"]


def test_appointments_page_by_start(api) -> None:
    now = timezone.now()
    made = [
        str(AppointmentFactory(patient=api.patient, start=now + datetime.timedelta(days=n)).public_id) for n in range(7)
    ]
    found = []
    response = api.get("Appointment", {"_count": "3", "_sort": "date"})
    while response is not None:
        page = json.loads(response.content)
        found += [entry["resource"]["id"] for entry in page.get("entry", [])]
        links = {link["relation"]: link["url"] for link in page["link"]}
        response = api.get(links["next"]) if "next" in links else None

    assert found == made
