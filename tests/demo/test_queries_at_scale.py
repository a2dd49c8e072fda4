"""Pages and searches at scale: the number of SQL queries a page makes does not grow with the patient's records, and
on PostgreSQL the FHIR Observation search reads through indexes, not whole tables (docs/data-at-scale.md).

The patient pages that list things have their own query-count tests beside them (tests/results, messaging,
appointments, letters, audit, fhir/test_query_counts.py); the home page, which summarises all of them, is here.
"""

import datetime
import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application

from careportal.fhir.models import AppConnection, TokenContext
from careportal.patients.models import Patient
from tests.accounts.factories import UserFactory
from tests.appointments.factories import AppointmentFactory
from tests.letters.factories import LetterFactory
from tests.messaging.factories import MessageFactory, ThreadFactory
from tests.patients.factories import CareTeamFactory, CareTeamMembershipFactory
from tests.results.factories import DiagnosticReportFactory, ObservationFactory

pytestmark = pytest.mark.django_db


def _records(patient: Patient, n: int) -> None:
    """n of each thing the home page summarises: released and waiting results, threads, appointments, letters."""
    team = CareTeamFactory()
    for k in range(n):
        report = DiagnosticReportFactory(patient=patient, released=True)
        ObservationFactory(report=report)
        DiagnosticReportFactory(patient=patient)  # not released yet
        thread = ThreadFactory(patient=patient, care_team=team)
        MessageFactory(thread=thread)
        AppointmentFactory(patient=patient, start=timezone.now() + datetime.timedelta(days=k + 1))
        LetterFactory(patient=patient, delivery="portal", stored=False)


def test_the_home_page_takes_the_same_number_of_queries_with_2_or_20_of_everything(
    patient, patient_client, django_assert_num_queries
):
    _records(patient, 2)
    patient_client.get("/home/")  # the session's first request does a little more
    with CaptureQueriesContext(connection) as few:
        assert patient_client.get("/home/").status_code == 200
    _records(patient, 18)
    with django_assert_num_queries(len(few.captured_queries)):
        assert patient_client.get("/home/").status_code == 200


def _token_for(patient: Patient) -> str:
    assert patient.user is not None
    application = Application.objects.create(
        name="Plan test app",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="http://127.0.0.1:8765/callback",
    )
    link = AppConnection.objects.create(
        user=patient.user, application=application, patient=patient, scopes="launch/patient openid patient/*.read"
    )
    token = AccessToken.objects.create(
        user=patient.user,
        application=application,
        token="plan-test-token",
        scope=link.scopes,
        expires=timezone.now() + datetime.timedelta(hours=1),
    )
    TokenContext.objects.create(access_token=token, connection=link)
    return token.token


def _scans(node: dict) -> list[tuple[str, str]]:
    found = [(node["Node Type"], node.get("Relation Name", ""))] if "Relation Name" in node else []
    for child in node.get("Plans", []):
        found += _scans(child)
    return found


@pytest.mark.skipif(connection.vendor != "postgresql", reason="query plans are PostgreSQL's")
def test_the_fhir_observation_search_reads_observations_and_reports_through_indexes(patient):
    from careportal.demo.synthetic import trust_generate

    # A trust around the patient, so that reading whole tables would cost something and the planner knows it.
    trust_generate(patients=400, seed=5)
    for _ in range(30):
        ObservationFactory(report=DiagnosticReportFactory(patient=patient, released=True))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE results_observation")
        cursor.execute("ANALYZE results_diagnosticreport")
    token = _token_for(patient)
    with CaptureQueriesContext(connection) as captured:
        response = Client().get(
            f"/fhir/r4/Observation?patient={patient.public_id}&_sort=-date&_count=10",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
    assert response.status_code == 200
    assert len(json.loads(response.content)["entry"]) == 10
    searched = [q["sql"] for q in captured.captured_queries if 'FROM "results_observation"' in q["sql"]]
    assert searched
    with connection.cursor() as cursor:
        for sql in searched:
            cursor.execute("EXPLAIN (FORMAT JSON) " + sql)
            plan = cursor.fetchone()[0][0]["Plan"]
            scans = _scans(plan)
            big = [s for s in scans if s[1] in {"results_observation", "results_diagnosticreport"}]
            assert big, scans
            assert all(kind != "Seq Scan" for kind, _ in big), scans


def _plan(sql: str) -> list[tuple[str, str, str]]:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql)
        plan = cursor.fetchone()[0][0]["Plan"]

    def walk(node: dict) -> list[tuple[str, str, str]]:
        found = [(node["Node Type"], node.get("Relation Name", ""), node.get("Index Name", ""))]
        for child in node.get("Plans", []):
            found += walk(child)
        return found

    return walk(plan)


def _plan_if_an_index_can(sql: str) -> list[tuple[str, str, str]]:
    """The plan with sorting and whole-table scans forbidden: on so few rows PostgreSQL would rather sort than walk
    an index, so this shows whether an index can give the page in its order at all."""
    with connection.cursor() as cursor:
        cursor.execute("SET enable_sort = off")
        cursor.execute("SET enable_seqscan = off")
        try:
            return _plan(sql)
        finally:
            cursor.execute("RESET enable_sort")
            cursor.execute("RESET enable_seqscan")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="query plans are PostgreSQL's")
def test_a_long_results_list_and_the_fhir_report_search_read_one_page_from_their_index(patient, patient_client):
    from careportal.demo.synthetic import trust_generate

    trust_generate(patients=300, seed=8)
    for _ in range(80):
        DiagnosticReportFactory(patient=patient, released=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE results_diagnosticreport")
    patient_client.get("/test-results/")
    with CaptureQueriesContext(connection) as page:
        assert patient_client.get("/test-results/").status_code == 200
    token = _token_for(patient)
    with CaptureQueriesContext(connection) as search:
        response = Client().get(
            f"/fhir/r4/DiagnosticReport?patient={patient.public_id}&_sort=-date&_count=10",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
    assert response.status_code == 200
    listed = [
        q["sql"] for q in page.captured_queries if "LIMIT" in q["sql"] and 'FROM "results_diagnosticreport"' in q["sql"]
    ]
    searched = [q["sql"] for q in search.captured_queries if "COALESCE" in q["sql"] and "LIMIT" in q["sql"]]
    assert listed and searched
    for sql, index in ((listed[0], "report_patient_list_idx"), (searched[0], "report_patient_fhir_date_idx")):
        plan = _plan(sql)
        assert any(name == index for _, _, name in plan), plan
        assert not any(kind == "Sort" for kind, _, _ in plan), plan  # the index gives the order: no sort of all rows


@pytest.mark.skipif(connection.vendor != "postgresql", reason="query plans are PostgreSQL's")
@pytest.mark.parametrize("show", ["unreviewed", "all", "released", "held"])
@pytest.mark.parametrize("teams", [1, 2])
def test_the_results_inbox_reads_one_page_in_order_from_an_index(clinician_membership, clinician_client, show, teams):
    """On a trust of a million patients a team's inbox holds over a million reports: sorting them for each page
    took 2.3 s (docs/data-at-scale.md). Each filter, for one team and for a clinician of two, must be read in
    order from an index: no Sort node over the team's reports."""
    from careportal.results.models import DiagnosticReport

    team = clinician_membership.care_team
    if teams == 2:
        other = CareTeamFactory(name="Second team")
        CareTeamMembershipFactory(user=clinician_membership.user, care_team=other, role=clinician_membership.role)
    DiagnosticReportFactory.create_batch(30, care_team=team, released=True)
    DiagnosticReportFactory.create_batch(5, care_team=team, held_at=timezone.now(), hold_reason="Wait")
    with CaptureQueriesContext(connection) as page:
        assert clinician_client.get("/staff/results/", {"show": show}).status_code == 200
    listed = [
        q["sql"]
        for q in page.captured_queries
        if f'FROM "{DiagnosticReport._meta.db_table}"' in q["sql"] and "LIMIT" in q["sql"] and "ORDER BY" in q["sql"]
    ]
    assert len(listed) == 1, [q["sql"] for q in page.captured_queries]
    plan = _plan_if_an_index_can(listed[0])
    indexes = {name for _, _, name in plan if name.startswith("report_inbox_")}
    assert indexes, plan
    assert not any(kind in {"Sort", "Incremental Sort"} for kind, _, _ in plan), plan


@pytest.mark.skipif(connection.vendor != "postgresql", reason="query plans are PostgreSQL's")
def test_deleting_a_clinician_or_a_patient_finds_their_reports_through_indexes(patient):
    """The report's foreign keys have no index of their own (results migration 0005): the people's columns have
    partial ones, the patient's and the team's are served by indexes that lead with them. Deleting a user or a
    patient, which looks reports up by those columns, must still not read the whole table."""
    from careportal.demo.synthetic import trust_generate

    trust_generate(patients=300, seed=9)
    clinician = UserFactory()
    DiagnosticReportFactory(patient=patient, released=True, released_by=clinician, reviewed_by=clinician)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE results_diagnosticreport")
    with CaptureQueriesContext(connection) as deleting:
        clinician.delete()
        patient.delete()
    touching = [q["sql"] for q in deleting.captured_queries if '"results_diagnosticreport"' in q["sql"]]
    assert any('"released_by_id" IN' in sql for sql in touching), touching
    assert any('"patient_id" IN' in sql for sql in touching), touching
    for sql in touching:
        scans = [(kind, index) for kind, table, index in _plan(sql) if table == "results_diagnosticreport"]
        assert scans and all(kind != "Seq Scan" for kind, _ in scans), (sql, scans)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="query plans are PostgreSQL's")
@pytest.mark.parametrize("status", ["", "applied"])
def test_the_hl7_journal_overview_reads_a_page_from_an_index_at_any_depth(status):
    """/staff/hl7/messages/ lists a journal of every message received, millions after a backfill. A page after
    another must be read from an index starting at the link's message (keyset): no count, no OFFSET, and no sort of
    all the rows. Every status: by id (the primary key); one status: by time received (hl7_status_idx), the id
    only breaking ties (an incremental sort within one moment)."""
    from careportal.hl7.models import InboundMessage, MessageStatus

    operator = UserFactory(is_superuser=True, is_staff=True)
    client = Client()
    client.force_login(operator)
    moment = timezone.now()
    InboundMessage.objects.bulk_create(
        InboundMessage(
            received_at=moment - datetime.timedelta(seconds=n // 3),
            raw=b"MSH|",
            status=MessageStatus.APPLIED if n % 4 else MessageStatus.REJECTED,
            control_id=f"PLAN{n}",
        )
        for n in range(400)
    )
    anchor = InboundMessage.objects.filter(status=MessageStatus.APPLIED).order_by("-pk")[60]
    with CaptureQueriesContext(connection) as page:
        response = client.get("/staff/hl7/messages/", {"status": status, "older": str(anchor.public_id)})
    assert response.status_code == 200
    listed = [
        q["sql"] for q in page.captured_queries if 'FROM "hl7_inboundmessage"' in q["sql"] and "LIMIT 51" in q["sql"]
    ]
    assert len(listed) == 1, [q["sql"] for q in page.captured_queries]
    assert "OFFSET" not in listed[0]
    assert not any("COUNT(" in q["sql"] for q in page.captured_queries)
    plan = _plan_if_an_index_can(listed[0])
    expected = "hl7_status_idx" if status else "hl7_inboundmessage_pkey"
    assert any(name == expected for _, _, name in plan), plan
    assert not any(kind == "Sort" for kind, _, _ in plan), plan
