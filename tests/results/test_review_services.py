"""The clinician's review actions on a report: each changes the report, appends to its history and audits the change
in one transaction; an action that makes no sense in the report's state is refused and changes nothing."""

import dataclasses
import datetime

import pytest
from django.utils import timezone

from careportal.access.layer import Viewer
from careportal.access.scopes import CLINICIAN_SCOPES
from careportal.audit.models import AccessAction, AccessEvent, ActorRole
from careportal.notifications.models import Notification
from careportal.results import review_services as services
from careportal.results.models import DiagnosticReport, ReleaseMode, ReportAction, ReportStatus
from tests.patients.factories import CareTeamMembershipFactory, PatientWithAccountFactory
from tests.results.factories import DiagnosticReportFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def membership():
    return CareTeamMembershipFactory(user__display_name="Dr A Okafor", care_team__name="Haematology")


@pytest.fixture
def viewer(membership):
    return Viewer(user=membership.user, role=ActorRole.CLINICIAN, scopes=CLINICIAN_SCOPES)


@pytest.fixture
def report(membership):
    return DiagnosticReportFactory(care_team=membership.care_team, patient=PatientWithAccountFactory())


def _snapshot(report: DiagnosticReport) -> dict:
    fresh = DiagnosticReport.objects.get(pk=report.pk)
    return {
        name: getattr(fresh, name)
        for name in (
            "reviewed_at",
            "released_at",
            "held_at",
            "hold_reason",
            "retracted_at",
            "retraction_reason",
            "clinician_comment",
        )
    }


def _assert_refused(call, report: DiagnosticReport, message_part: str) -> None:  # type: ignore[no-untyped-def]
    before = _snapshot(report)
    actions, events = ReportAction.objects.count(), AccessEvent.objects.count()
    with pytest.raises(services.ReportActionRefused, match=message_part):
        call()
    assert _snapshot(report) == before
    assert ReportAction.objects.count() == actions
    assert AccessEvent.objects.count() == events


def _audited_change(report: DiagnosticReport) -> AccessEvent:
    event = AccessEvent.objects.get(action=AccessAction.UPDATE)
    assert event.patient == report.patient
    assert event.object_type == "results.diagnosticreport"
    assert event.object_id == str(report.public_id)
    assert event.object_label == "test result"
    return event


def test_mark_reviewed_records_who_and_when(viewer, report):
    services.report_mark_reviewed(viewer=viewer, report=report)

    report.refresh_from_db()
    assert report.reviewed_by == viewer.user
    assert report.reviewed_at is not None
    action = ReportAction.objects.get(report=report)
    assert (action.kind, action.actor_name) == ("reviewed", "Dr A Okafor")
    _audited_change(report)


def test_marking_twice_is_refused(viewer, report):
    services.report_mark_reviewed(viewer=viewer, report=report)
    _assert_refused(
        lambda: services.report_mark_reviewed(viewer=viewer, report=report), report, "already marked as reviewed"
    )


def test_comment_is_saved_for_the_patient_and_can_be_replaced(viewer, report):
    services.report_comment_set(viewer=viewer, report=report, comment="  Normal, no action needed.  ")
    services.report_comment_set(viewer=viewer, report=report, comment="Slightly low iron: see your GP.")

    report.refresh_from_db()
    assert report.clinician_comment == "Slightly low iron: see your GP."
    assert report.clinician_comment_by == viewer.user
    notes = list(ReportAction.objects.filter(report=report, kind="commented").values_list("note", flat=True))
    assert notes == ["", "Replaced the earlier comment"]
    assert AccessEvent.objects.filter(action=AccessAction.UPDATE, patient=report.patient).count() == 2


@pytest.mark.parametrize(
    ("comment", "message"),
    [("", "Enter a comment"), ("   \n ", "Enter a comment"), ("x" * 2001, "2000 characters or fewer")],
)
def test_an_empty_or_too_long_comment_is_refused(viewer, report, comment, message):
    _assert_refused(lambda: services.report_comment_set(viewer=viewer, report=report, comment=comment), report, message)


def test_a_comment_of_exactly_the_limit_is_accepted(viewer, report):
    services.report_comment_set(viewer=viewer, report=report, comment="x" * 2000)
    report.refresh_from_db()
    assert len(report.clinician_comment) == 2000


def test_release_now_releases_marks_reviewed_and_notifies_once(viewer, report):
    services.report_release_now(viewer=viewer, report=report)

    report.refresh_from_db()
    assert report.released_by == viewer.user
    assert report.released_at is not None
    assert report.reviewed_by == viewer.user
    kinds = list(ReportAction.objects.filter(report=report).values_list("kind", flat=True))
    assert kinds == ["released", "reviewed"]
    assert Notification.objects.filter(user=report.patient.user).count() == 1
    _audited_change(report)


def test_release_now_of_a_review_only_report(viewer, membership):
    report = DiagnosticReportFactory(
        care_team=membership.care_team, release_mode=ReleaseMode.AFTER_REVIEW, release_due_at=None
    )
    services.report_release_now(viewer=viewer, report=report)
    report.refresh_from_db()
    assert report.released_at is not None


def test_release_while_held_is_refused(viewer, report):
    services.report_hold(viewer=viewer, report=report, reason="Repeat sample requested")
    _assert_refused(lambda: services.report_release_now(viewer=viewer, report=report), report, "Remove the hold")


def test_release_of_a_cancelled_report_is_refused(viewer, membership):
    report = DiagnosticReportFactory(care_team=membership.care_team, status=ReportStatus.CANCELLED)
    _assert_refused(lambda: services.report_release_now(viewer=viewer, report=report), report, "cancelled")


def test_release_twice_is_refused(viewer, report):
    services.report_release_now(viewer=viewer, report=report)
    _assert_refused(lambda: services.report_release_now(viewer=viewer, report=report), report, "already released")


def test_a_held_report_is_kept_with_its_reason(viewer, report):
    services.report_hold(viewer=viewer, report=report, reason="  Tell the patient in clinic first ")

    report.refresh_from_db()
    assert report.held_by == viewer.user
    assert report.hold_reason == "Tell the patient in clinic first"
    action = ReportAction.objects.get(report=report)
    assert (action.kind, action.note) == ("held", "Tell the patient in clinic first")
    _audited_change(report)


def test_a_held_report_is_not_in_the_release_jobs_claim(viewer, report):
    """The release job claims due reports that are neither released nor held (the partial index on the model)."""
    report.release_due_at = timezone.now() - datetime.timedelta(days=1)
    report.save()
    services.report_hold(viewer=viewer, report=report, reason="Repeat sample requested")
    due = DiagnosticReport.objects.filter(
        released_at__isnull=True, held_at__isnull=True, release_due_at__lte=timezone.now()
    )
    assert report not in due


@pytest.mark.parametrize(("reason", "message"), [("", "Enter why"), (" ", "Enter why"), ("x" * 501, "500 characters")])
def test_hold_needs_a_reason_of_at_most_500_characters(viewer, report, reason, message):
    _assert_refused(lambda: services.report_hold(viewer=viewer, report=report, reason=reason), report, message)


def test_hold_of_a_released_report_is_refused_with_the_way_out(viewer, report):
    services.report_release_now(viewer=viewer, report=report)
    _assert_refused(
        lambda: services.report_hold(viewer=viewer, report=report, reason="Too late"), report, "withdraw it"
    )


def test_hold_twice_is_refused(viewer, report):
    services.report_hold(viewer=viewer, report=report, reason="First")
    _assert_refused(lambda: services.report_hold(viewer=viewer, report=report, reason="Second"), report, "already held")


def test_removing_the_hold_keeps_the_reason_in_the_history(viewer, report):
    services.report_hold(viewer=viewer, report=report, reason="Repeat sample requested")
    services.report_unhold(viewer=viewer, report=report)

    report.refresh_from_db()
    assert (report.held_at, report.held_by, report.hold_reason) == (None, None, "")
    action = ReportAction.objects.get(report=report, kind="unheld")
    assert action.note == "Held because: Repeat sample requested"
    assert AccessEvent.objects.filter(action=AccessAction.UPDATE).count() == 2


def test_removing_a_hold_that_is_not_there_is_refused(viewer, report):
    _assert_refused(lambda: services.report_unhold(viewer=viewer, report=report), report, "not held")


def test_retract_withdraws_a_released_report(viewer, report):
    services.report_release_now(viewer=viewer, report=report)
    services.report_retract(viewer=viewer, report=report, reason="Sample haemolysed")

    report.refresh_from_db()
    assert report.retracted_by == viewer.user
    assert report.retraction_reason == "Sample haemolysed"
    assert report.released_at is not None, "withdrawn is a state of a released report: the patient sees it happened"
    assert ReportAction.objects.filter(report=report, kind="retracted", note="Sample haemolysed").exists()


def test_retract_of_an_unreleased_report_is_refused(viewer, report):
    _assert_refused(
        lambda: services.report_retract(viewer=viewer, report=report, reason="Wrong patient"), report, "hold it instead"
    )


def test_retract_twice_and_release_after_retract_are_refused(viewer, report):
    services.report_release_now(viewer=viewer, report=report)
    services.report_retract(viewer=viewer, report=report, reason="Sample haemolysed")
    _assert_refused(
        lambda: services.report_retract(viewer=viewer, report=report, reason="Again"), report, "already withdrawn"
    )
    _assert_refused(lambda: services.report_release_now(viewer=viewer, report=report), report, "withdrawn")


def test_retract_needs_a_reason(viewer, report):
    services.report_release_now(viewer=viewer, report=report)
    _assert_refused(lambda: services.report_retract(viewer=viewer, report=report, reason=""), report, "Enter why")


def test_the_change_is_audited_under_the_reports_team(viewer, report, membership):
    in_team = dataclasses.replace(viewer, care_team=membership.care_team)
    services.report_mark_reviewed(viewer=in_team, report=report)
    assert _audited_change(report).care_team == membership.care_team
