"""A patient's own first page of an Observation search comes from SQL written once (careportal/fhir/reads.py
`_own_first_page`): the same Bundle as the ORM's, one query for the rows, and the ORM for everyone and everything
else (proxies, filters, later pages)."""

import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from careportal.fhir import reads
from tests.fhir.conftest import Api, api_for
from tests.patients.factories import PatientWithAccountFactory
from tests.results.factories import DiagnosticReportFactory, ObservationFactory

pytestmark = pytest.mark.django_db


def _record(api: Api) -> None:
    """Released results of every shape, with ties on the sort key, and what must never be shown."""
    now = timezone.now()
    same_day = now - datetime.timedelta(days=3)
    for n, kind in enumerate(("lab", "lab", "imaging", "histology")):
        report = DiagnosticReportFactory(patient=api.patient, released=True, collected_at=same_day, result_kind=kind)
        ObservationFactory(report=report, sequence=1, value_numeric=Decimal(n))
        ObservationFactory(report=report, sequence=2, observed_at=now - datetime.timedelta(days=n), code="WBC")
    withdrawn = DiagnosticReportFactory(patient=api.patient, released=True, retracted_at=now)
    ObservationFactory(report=withdrawn, sequence=1)
    no_dates = DiagnosticReportFactory(patient=api.patient, released=True, collected_at=None, reported_at=None)
    ObservationFactory(report=no_dates, sequence=1, value_type="ST", value_numeric=None, value_text="Positive")
    ObservationFactory(report=DiagnosticReportFactory(patient=api.patient), sequence=1)  # not released yet
    ObservationFactory(report=DiagnosticReportFactory(released=True), sequence=1)  # someone else's


def _bundles(api: Api, monkeypatch: pytest.MonkeyPatch, params: dict[str, str]) -> tuple[Any, Any]:
    used: list[tuple[Any, ...]] = []
    original = reads._own_first_page
    with monkeypatch.context() as patched:
        patched.setattr(reads, "_own_first_page", lambda *args: used.append(args) or original(*args))
        compiled = api.get("Observation", params).json()
    assert used, "the compiled first page was not used"
    with monkeypatch.context() as patched:
        patched.setattr(reads, "_COMPILED_FIRST_PAGE_KINDS", frozenset())
        orm = api.get("Observation", params).json()
    return compiled, orm


def _without_meta(bundle: dict[str, Any]) -> dict[str, Any]:
    # Each Bundle has its own id and timestamp, and a cursor's signature carries the second it was signed in (two
    # requests can straddle a second); what the next link points at must be the same either way.
    kept = {key: value for key, value in bundle.items() if key not in ("id", "meta", "timestamp", "link")}
    kept["link"] = [{**link, "url": _with_cursor_unsigned(link["url"])} for link in bundle["link"]]
    return kept


def _with_cursor_unsigned(url: str) -> str:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if "_cursor" in query:
        query["_cursor"] = [repr(signing.loads(query["_cursor"][0], salt=reads._CURSOR_SALT))]
    return urlunsplit(parts._replace(query=urlencode(query, doseq=True)))


@pytest.mark.parametrize(
    "params",
    [{}, {"_sort": "date"}, {"_sort": "-date"}, {"_count": "3"}, {"_count": "3", "_sort": "date"}, {"_count": "100"}],
)
def test_the_compiled_first_page_is_the_orms(api: Api, monkeypatch: pytest.MonkeyPatch, params: dict) -> None:
    _record(api)
    compiled, orm = _bundles(api, monkeypatch, params)
    assert compiled["entry"]
    assert _without_meta(compiled) == _without_meta(orm)
    assert compiled["total"] == 10
    assert {entry["resource"]["subject"]["reference"] for entry in compiled["entry"]} == {
        f"Patient/{api.patient.public_id}"
    }


def test_the_next_page_follows_from_the_compiled_first_page(api: Api) -> None:
    _record(api)
    seen: list[str] = []
    response = api.get("Observation", {"_count": "4"}).json()
    while True:
        seen += [entry["resource"]["id"] for entry in response["entry"]]
        following = [link["url"] for link in response["link"] if link["relation"] == "next"]
        if not following:
            break
        response = api.get(following[0]).json()
    everything = api.get("Observation", {"_count": "100"}).json()
    assert seen == [entry["resource"]["id"] for entry in everything["entry"]]
    assert len(seen) == len(set(seen)) == 10


def test_a_patients_first_page_is_one_query_for_the_rows_whoever_they_are(api: Api) -> None:
    _record(api)
    api.get("Observation")  # compiles, and records the app's "last used"
    with CaptureQueriesContext(connection) as captured:
        assert api.get("Observation").status_code == 200
    assert len([query for query in captured if "results_observation" in query["sql"]]) == 1
    # Another patient's app gets its own rows from the same statement.
    other = PatientWithAccountFactory()
    ObservationFactory(report=DiagnosticReportFactory(patient=other, released=True), sequence=1)
    theirs = api_for(other.user, other).get("Observation").json()
    assert [entry["resource"]["subject"]["reference"] for entry in theirs["entry"]] == [f"Patient/{other.public_id}"]


def test_a_proxy_and_a_filtered_search_are_built_by_the_orm(
    api: Api, proxy_api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _record(api)

    def must_not_be_used(*args: Any) -> Any:
        raise AssertionError("compiled first page used")

    monkeypatch.setattr(reads, "_own_first_page", must_not_be_used)
    assert proxy_api(["results"]).get("Observation").status_code == 200
    assert api.get("Observation", {"code": "WBC"}).json()["total"] == 4
    assert api.get("Observation", {"date": "ge2020-01-01"}).status_code == 200
    assert api.get("DiagnosticReport").status_code == 200


def test_a_search_naming_another_patient_finds_nothing(api: Api) -> None:
    _record(api)
    other = DiagnosticReportFactory(released=True).patient
    for params in ({"patient": str(other.public_id)}, {"patient": str(other.public_id), "_count": "3"}):
        response = api.get("Observation", params)
        assert response.status_code == 200
        assert response.json()["total"] == 0
        assert "entry" not in response.json()
