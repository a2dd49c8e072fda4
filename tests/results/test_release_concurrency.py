"""Several release workers at once on PostgreSQL: each report released, recorded and notified exactly once."""

import datetime
import threading
from collections import Counter
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, connections, transaction

from careportal.notifications.kinds import Kind
from careportal.notifications.models import Notification
from careportal.results.models import DiagnosticReport, ReportAction
from careportal.results.release_job import results_release_due
from tests.patients.factories import PatientWithAccountFactory
from tests.proxy.factories import ProxyRelationshipFactory
from tests.results.factories import DiagnosticReportFactory

NOW = datetime.datetime(2026, 11, 23, 7, 0, tzinfo=ZoneInfo("Europe/London"))
REPORTS = 300

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="SKIP LOCKED needs PostgreSQL; SQLite has one writer and serialises the batches (BEGIN IMMEDIATE)",
    ),
]


def _due_reports() -> dict[int, set[int]]:
    """300 due reports over 100 patients, a third of whom have a proxy; returns the expected recipients per report."""
    expected: dict[int, set[int]] = {}
    patients = [PatientWithAccountFactory() for _ in range(100)]
    proxies = {
        patient.pk: ProxyRelationshipFactory(patient=patient, basis="granted", valid_from=datetime.date(2025, 1, 1))
        for patient in patients[::3]
    }
    for n in range(REPORTS):
        patient = patients[n % len(patients)]
        report = DiagnosticReportFactory(patient=patient, release_due_at=NOW - datetime.timedelta(seconds=n % 17))
        expected[report.pk] = {patient.user_id} | ({proxies[patient.pk].proxy_id} if patient.pk in proxies else set())
    return expected


def _run_in_threads(workers: int, target) -> list:  # type: ignore[no-untyped-def]
    start = threading.Barrier(workers)
    results: list = [None] * workers
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            start.wait()
            results[index] = target()
        except BaseException as error:  # reported by the assertion after join()
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


def test_two_workers_release_and_notify_each_report_exactly_once():
    expected = _due_reports()

    counts = _run_in_threads(2, lambda: results_release_due(now=NOW, batch_size=7))

    assert sum(counts) == REPORTS
    assert not DiagnosticReport.objects.filter(released_at__isnull=True).exists()
    actions = Counter(ReportAction.objects.values_list("report_id", flat=True))
    assert set(actions) == set(expected)
    assert set(actions.values()) == {1}
    # One notice per recipient per report: a patient with three reports gets three, never six.
    wanted = Counter(user_id for recipients in expected.values() for user_id in recipients)
    got = Counter(Notification.objects.filter(kind=Kind.RESULT_RELEASED).values_list("user_id", flat=True))
    assert got == wanted


def test_four_workers_at_once_with_tiny_batches():
    expected = _due_reports()

    counts = _run_in_threads(4, lambda: results_release_due(now=NOW, batch_size=3))

    assert sum(counts) == REPORTS
    assert ReportAction.objects.count() == REPORTS
    wanted = sum(len(recipients) for recipients in expected.values())
    assert Notification.objects.filter(kind=Kind.RESULT_RELEASED).count() == wanted


def test_a_worker_skips_reports_another_holds_instead_of_waiting_or_releasing_them():
    held_elsewhere = [DiagnosticReportFactory(release_due_at=NOW) for _ in range(3)]
    free = [DiagnosticReportFactory(release_due_at=NOW) for _ in range(4)]
    locked = threading.Event()
    release_lock = threading.Event()

    def hold_rows() -> None:
        try:
            with transaction.atomic():
                list(DiagnosticReport.objects.select_for_update().filter(pk__in=[r.pk for r in held_elsewhere]))
                locked.set()
                release_lock.wait(timeout=30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_rows)
    holder.start()
    try:
        assert locked.wait(timeout=30)
        released_now = _run_in_threads(1, lambda: results_release_due(now=NOW, batch_size=2))[0]
    finally:
        release_lock.set()
        holder.join(timeout=30)

    assert released_now == len(free)
    assert set(DiagnosticReport.objects.filter(released_at__isnull=False).values_list("pk", flat=True)) == {
        r.pk for r in free
    }
    # Once the other transaction ends, the next run picks the skipped reports up.
    assert results_release_due(now=NOW) == len(held_elsewhere)
