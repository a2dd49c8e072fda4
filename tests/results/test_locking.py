"""Races between the people and jobs that change a report: a clinician's hold and a release batch, a message from
the lab and a release batch. Each writer locks the report's row and decides on what the locked row says, so that
no change is lost and nothing held reaches a patient.

The thread tests need row locks, which only PostgreSQL has (SQLite serialises writers with BEGIN IMMEDIATE, so
the interleavings below cannot happen there); the rest run on both databases.
"""

import datetime
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from careportal.access.layer import Viewer
from careportal.access.scopes import CLINICIAN_SCOPES
from careportal.audit.models import ActorRole
from careportal.hl7.services import message_receive
from careportal.notifications.models import Notification
from careportal.results import ingest, release_job
from careportal.results import review_services as services
from careportal.results.models import (
    DiagnosticReport,
    DiagnosticReportVersion,
    ReleaseRule,
    ReportAction,
    ReportStatus,
)
from careportal.results.release_job import results_release_due
from careportal.results.services import ReportNotReleasable, report_release
from tests.accounts.factories import UserFactory
from tests.hl7.interfaces import LOCAL_PEER
from tests.patients.factories import CareTeamMembershipFactory, PatientFactory, PatientWithAccountFactory
from tests.results.factories import DiagnosticReportFactory

LONDON = ZoneInfo("Europe/London")
# Well after the sample's release date (its report time is 2 November 2026; one working day).
LATER = datetime.datetime(2026, 12, 1, 9, 0, tzinfo=LONDON)
SAMPLE = (Path(__file__).parents[1] / "hl7" / "samples" / "oru_r01_fbc_final.hl7").read_bytes()

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="row locks (SELECT ... FOR UPDATE, SKIP LOCKED) need PostgreSQL; SQLite serialises writers instead",
)


def fbc(control_id: str, *, status: str = "F", reported: str = "202611020930", haemoglobin: str = "98") -> bytes:
    """The FBC sample with its own control id, result status, report time (OBR-22) and haemoglobin value."""
    out = []
    for segment in SAMPLE.rstrip(b"\r").split(b"\r"):
        fields = segment.split(b"|")
        if fields[0] == b"MSH":
            fields[9] = control_id.encode()
        elif fields[0] == b"OBR":
            fields[22], fields[25] = reported.encode(), status.encode()
        elif fields[0] == b"OBX" and fields[3].startswith(b"HB^"):
            fields[5] = haemoglobin.encode()
        out.append(b"|".join(fields))
    return b"\r".join(out) + b"\r"


def correction(control_id: str = "C2") -> bytes:
    return fbc(control_id, status="C", reported="202611021130", haemoglobin="101")


@pytest.fixture
def membership(db):
    return CareTeamMembershipFactory(user__display_name="Dr A Okafor", care_team__name="Haematology")


@pytest.fixture
def viewer(membership):
    return Viewer(user=membership.user, role=ActorRole.CLINICIAN, scopes=CLINICIAN_SCOPES)


def _lab_report_due_for_release() -> DiagnosticReport:
    """The FBC sample applied for a patient with an account, due for release before LATER. (A transaction=True test
    starts from an empty database, without the default release rules the migrations add.)"""
    ReleaseRule.objects.get_or_create(
        test_code="", category="", defaults={"description": "Every other result", "working_days": 1}
    )
    PatientWithAccountFactory(hospital_number="40012345", nhs_number="9990000018")
    assert b"MSA|AA|" in message_receive(fbc("C1"), peer=LOCAL_PEER)
    report = DiagnosticReport.objects.get()
    assert report.release_due_at is not None and report.release_due_at < LATER
    return report


def _fresh(report: DiagnosticReport) -> DiagnosticReport:
    return DiagnosticReport.objects.get(pk=report.pk)


def _haemoglobin(report: DiagnosticReport) -> str:
    return _fresh(report).observations.get(code="HB").value_text


# ---------------------------------------------------------------------------------------------------------------
# report_release refuses what must not reach a patient, whoever calls it (both databases)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("state", "words"),
    [
        ({"held_at": LATER, "hold_reason": "Repeat sample"}, "held"),
        ({"released": True, "retracted_at": LATER, "retraction_reason": "Wrong patient"}, "withdrawn"),
        ({"status": ReportStatus.CANCELLED}, "cancelled"),
        ({"status": ReportStatus.PRELIMINARY}, "final report"),
        ({"status": ReportStatus.PARTIAL}, "final report"),
        ({"status": ReportStatus.REGISTERED}, "final report"),
    ],
)
def test_report_release_itself_refuses_held_withdrawn_cancelled_and_unfinished_reports(state, words):
    report = DiagnosticReportFactory(patient=PatientWithAccountFactory(), **state)
    before = (_fresh(report).released_at, _fresh(report).release_notified_at)

    if state.get("released"):
        # Already released (then withdrawn): "already released" wins, and nothing changes either.
        assert report_release(report=report, by=None, now=LATER) is False
    else:
        with pytest.raises(ReportNotReleasable, match=words):
            report_release(report=report, by=UserFactory(), now=LATER)

    assert (_fresh(report).released_at, _fresh(report).release_notified_at) == before
    assert not ReportAction.objects.filter(report=report).exists()
    assert not Notification.objects.exists()


@pytest.mark.django_db
def test_report_release_still_releases_a_final_or_corrected_report_once():
    final = DiagnosticReportFactory(patient=PatientWithAccountFactory())
    corrected = DiagnosticReportFactory(patient=PatientWithAccountFactory(), status=ReportStatus.CORRECTED)

    assert report_release(report=final, by=None, now=LATER)
    assert report_release(report=corrected, by=None, now=LATER)
    assert not report_release(report=final, by=None, now=LATER)
    assert Notification.objects.count() == 2


@pytest.mark.django_db
def test_release_now_of_a_preliminary_report_is_refused_in_words(viewer, membership):
    report = DiagnosticReportFactory(care_team=membership.care_team, status=ReportStatus.PRELIMINARY)

    with pytest.raises(services.ReportActionRefused, match="has not sent the final report"):
        services.report_release_now(viewer=viewer, report=report, now=LATER)

    assert _fresh(report).released_at is None
    assert not ReportAction.objects.filter(report=report).exists()


@pytest.mark.django_db
def test_release_now_of_a_withdrawn_report_says_it_was_withdrawn(viewer, membership):
    report = DiagnosticReportFactory(
        care_team=membership.care_team, released=True, retracted_at=LATER, retraction_reason="Wrong sample"
    )

    with pytest.raises(services.ReportActionRefused, match="withdrawn"):
        services.report_release_now(viewer=viewer, report=report, now=LATER)


# ---------------------------------------------------------------------------------------------------------------
# A message from the lab writes only what the lab owns (both databases)


@pytest.mark.django_db
def test_an_update_from_the_lab_never_writes_back_the_clinicians_or_the_release_jobs_fields(monkeypatch, viewer):
    patient = PatientFactory(hospital_number="40012345", nhs_number="9990000018")
    assert b"MSA|AA|" in message_receive(fbc("C1"), peer=LOCAL_PEER)
    report = DiagnosticReport.objects.get(patient=patient)
    clinician = viewer.user

    # While the correction is being applied (after the report was read), the release job and a clinician change
    # the row: on PostgreSQL the row lock keeps anyone else out; here the same effect is forced from inside.
    real_version_add = ingest._version_add

    def change_meanwhile(**kwargs: Any) -> None:
        DiagnosticReport.objects.filter(pk=report.pk).update(
            released_at=LATER,
            release_notified_at=LATER,
            clinician_comment="Discussed with the patient",
            clinician_comment_by=clinician,
            clinician_comment_at=LATER,
        )
        real_version_add(**kwargs)

    monkeypatch.setattr(ingest, "_version_add", change_meanwhile)
    assert b"MSA|AA|" in message_receive(correction(), peer=LOCAL_PEER)

    fresh = _fresh(report)
    assert fresh.version == 2 and fresh.status == ReportStatus.CORRECTED and fresh.is_amended
    assert _haemoglobin(report) == "101"
    assert (fresh.released_at, fresh.release_notified_at) == (LATER, LATER)
    assert fresh.clinician_comment == "Discussed with the patient"
    assert fresh.clinician_comment_by == clinician


@pytest.mark.django_db
def test_the_report_is_read_for_update_when_a_message_updates_it():
    PatientFactory(hospital_number="40012345", nhs_number="9990000018")
    message_receive(fbc("C1"), peer=LOCAL_PEER)

    with CaptureQueriesContext(connection) as ctx:
        assert b"MSA|AA|" in message_receive(correction(), peer=LOCAL_PEER)

    reads = [q["sql"] for q in ctx.captured_queries if 'FROM "results_diagnosticreport"' in q["sql"]]
    assert reads, "the report was not read"
    if connection.features.has_select_for_update:
        assert all("FOR UPDATE" in sql for sql in reads), reads


# ---------------------------------------------------------------------------------------------------------------
# Threads on PostgreSQL


def _in_thread(target: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = target()
        except BaseException as error:  # reported by the test after join()
            outcome["error"] = error
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _release_batch_held_open(claimed: threading.Event, finish: threading.Event) -> Callable[[], int]:
    """A release batch that has claimed and released its reports but not committed yet: the moment a clinician's
    hold or a lab message may arrive."""

    def run() -> int:
        with transaction.atomic():
            rows = release_job._release_batch(now=LATER, batch_size=10, after=None)
            claimed.set()
            assert finish.wait(timeout=30)
        return len(rows)

    return run


def _still_waiting(thread: threading.Thread, seconds: float = 0.5) -> bool:
    thread.join(timeout=seconds)
    return thread.is_alive()


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_hold_takes_the_row_lock():
    report = DiagnosticReportFactory(release_due_at=LATER)
    viewer = Viewer(user=UserFactory(), role=ActorRole.CLINICIAN, scopes=CLINICIAN_SCOPES)

    with CaptureQueriesContext(connection) as ctx:
        services.report_hold(viewer=viewer, report=report, reason="Repeat sample", now=LATER)

    reads = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith('SELECT "results_diagnosticreport"')]
    assert reads and "FOR UPDATE" in reads[0]


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_hold_during_a_release_batch_waits_for_it_and_is_then_refused():
    report = DiagnosticReportFactory(patient=PatientWithAccountFactory(), release_due_at=LATER)
    viewer = Viewer(user=UserFactory(), role=ActorRole.CLINICIAN, scopes=CLINICIAN_SCOPES)
    claimed, finish = threading.Event(), threading.Event()
    batch, batch_outcome = _in_thread(_release_batch_held_open(claimed, finish))
    try:
        assert claimed.wait(timeout=30)
        hold, hold_outcome = _in_thread(
            lambda: services.report_hold(viewer=viewer, report=report, reason="Repeat sample", now=LATER)
        )
        # The batch holds the row: the hold cannot decide on a copy read before the batch commits.
        assert _still_waiting(hold)
    finally:
        finish.set()
        batch.join(timeout=30)
    hold.join(timeout=30)

    assert batch_outcome == {"result": 1}
    assert isinstance(hold_outcome.get("error"), services.ReportActionRefused)
    assert "already been released" in str(hold_outcome["error"])
    fresh = _fresh(report)
    assert fresh.released_at == LATER and fresh.held_at is None
    assert list(ReportAction.objects.filter(report=report).values_list("kind", flat=True)) == ["auto_released"]


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_report_being_held_is_skipped_by_the_release_job_and_never_released():
    report = DiagnosticReportFactory(patient=PatientWithAccountFactory(), release_due_at=LATER)
    other = DiagnosticReportFactory(patient=PatientWithAccountFactory(), release_due_at=LATER)
    viewer = Viewer(user=UserFactory(), role=ActorRole.CLINICIAN, scopes=CLINICIAN_SCOPES)
    locked, finish = threading.Event(), threading.Event()

    def hold_in_open_transaction() -> None:
        with transaction.atomic():
            services.report_hold(viewer=viewer, report=report, reason="Repeat sample", now=LATER)
            locked.set()
            assert finish.wait(timeout=30)

    holder, hold_outcome = _in_thread(hold_in_open_transaction)
    try:
        assert locked.wait(timeout=30)
        job, job_outcome = _in_thread(lambda: results_release_due(now=LATER))
        # The job does not wait for the clinician: it skips the locked report and releases the others.
        job.join(timeout=30)
        assert job_outcome == {"result": 1}
    finally:
        finish.set()
        holder.join(timeout=30)

    assert "error" not in hold_outcome
    assert results_release_due(now=LATER) == 0  # now committed as held
    assert _fresh(report).released_at is None and _fresh(report).held_at == LATER
    assert _fresh(other).released_at == LATER
    assert not ReportAction.objects.filter(report=report, kind="auto_released").exists()


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_correction_during_a_release_batch_waits_and_keeps_the_release():
    report = _lab_report_due_for_release()
    claimed, finish = threading.Event(), threading.Event()
    batch, batch_outcome = _in_thread(_release_batch_held_open(claimed, finish))
    try:
        assert claimed.wait(timeout=30)
        receiver, receive_outcome = _in_thread(lambda: message_receive(correction(), peer=LOCAL_PEER))
        assert _still_waiting(receiver)
    finally:
        finish.set()
        batch.join(timeout=30)
    receiver.join(timeout=30)

    assert batch_outcome == {"result": 1}
    assert b"MSA|AA|" in receive_outcome["result"]
    fresh = _fresh(report)
    # Both changes are there: released by the job, corrected by the lab; the earlier version was seen by the patient.
    assert fresh.released_at == LATER
    assert fresh.version == 2 and fresh.is_amended and fresh.status == ReportStatus.CORRECTED
    assert _haemoglobin(report) == "101"
    assert DiagnosticReportVersion.objects.get(report=report).was_released


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_release_batch_during_a_correction_skips_the_report_and_releases_it_next_time(monkeypatch):
    report = _lab_report_due_for_release()
    inside, finish = threading.Event(), threading.Event()
    real_new_observations = ingest._new_observations

    def pause_while_applying(*args: Any, **kwargs: Any) -> None:
        real_new_observations(*args, **kwargs)
        if threading.current_thread() is not threading.main_thread():
            inside.set()
            assert finish.wait(timeout=30)

    monkeypatch.setattr(ingest, "_new_observations", pause_while_applying)
    receiver, receive_outcome = _in_thread(lambda: message_receive(correction(), peer=LOCAL_PEER))
    try:
        assert inside.wait(timeout=30)
        job, job_outcome = _in_thread(lambda: results_release_due(now=LATER))
        job.join(timeout=30)
        assert job_outcome == {"result": 0}  # skipped, not waited for, not released from a stale copy
    finally:
        finish.set()
        receiver.join(timeout=30)

    assert b"MSA|AA|" in receive_outcome["result"]
    assert results_release_due(now=LATER) == 1
    fresh = _fresh(report)
    assert fresh.released_at == LATER
    assert fresh.version == 2 and fresh.status == ReportStatus.CORRECTED
    assert _haemoglobin(report) == "101"
    assert not DiagnosticReportVersion.objects.get(report=report).was_released
    assert ReportAction.objects.filter(report=report, kind="auto_released").count() == 1
