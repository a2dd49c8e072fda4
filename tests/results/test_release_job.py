"""The release job: which reports it releases, whom it tells, and that it does each once, in batches."""

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from careportal.core.schedule import schedule
from careportal.notifications.kinds import Kind
from careportal.notifications.models import Notification
from careportal.results.models import ReleaseRule, ReportAction, ReportActionKind, ReportStatus
from careportal.results.release_job import results_release_due
from careportal.results.release_rules import release_due_at_for
from careportal.results.services import report_release
from careportal.results.tasks import release_due_results
from tests.accounts.factories import UserFactory
from tests.patients.factories import PatientWithAccountFactory
from tests.proxy.factories import ProxyRelationshipFactory
from tests.results.factories import DiagnosticReportFactory, ResultPreferenceFactory

LONDON = ZoneInfo("Europe/London")
pytestmark = pytest.mark.django_db
FRIDAY_5PM = datetime.datetime(2026, 11, 20, 17, 0, tzinfo=LONDON)
MONDAY_7AM = datetime.datetime(2026, 11, 23, 7, 0, tzinfo=LONDON)


def granted_proxy(patient, **kwargs):  # type: ignore[no-untyped-def]
    """A proxy the adult patient granted access themselves (a parent's access would have ended at 18)."""
    return ProxyRelationshipFactory(patient=patient, basis="granted", valid_from=datetime.date(2025, 1, 1), **kwargs)


def due_report(**kwargs):  # type: ignore[no-untyped-def]
    kwargs.setdefault("patient", PatientWithAccountFactory())
    kwargs.setdefault("release_due_at", MONDAY_7AM)
    return DiagnosticReportFactory(**kwargs)


def released_ids() -> set[int]:
    from careportal.results.models import DiagnosticReport

    return set(DiagnosticReport.objects.filter(released_at__isnull=False).values_list("pk", flat=True))


def result_notices() -> list[Notification]:
    return list(Notification.objects.filter(kind=Kind.RESULT_RELEASED))


def test_a_report_final_on_friday_is_released_on_monday_at_7am_and_not_before():
    default = ReleaseRule.objects.get(test_code="", category="")
    report = due_report(release_due_at=release_due_at_for(default, final_at=FRIDAY_5PM))

    with time_machine.travel(MONDAY_7AM - datetime.timedelta(minutes=1), tick=False):
        assert results_release_due() == 0
    with time_machine.travel(MONDAY_7AM, tick=False):
        assert results_release_due() == 1

    report.refresh_from_db()
    assert report.released_at == MONDAY_7AM
    assert report.released_by is None
    assert report.release_notified_at == MONDAY_7AM
    action = ReportAction.objects.get(report=report)
    assert (action.kind, action.actor, action.actor_name) == (ReportActionKind.AUTO_RELEASED, None, "CarePortal")


def test_a_bank_holiday_monday_holds_the_release_until_tuesday():
    default = ReleaseRule.objects.get(test_code="", category="")
    friday = datetime.datetime(2026, 8, 28, 17, 0, tzinfo=LONDON)  # Monday 31 August is a bank holiday
    due_report(release_due_at=release_due_at_for(default, final_at=friday))

    assert results_release_due(now=datetime.datetime(2026, 8, 31, 12, 0, tzinfo=LONDON)) == 0
    assert results_release_due(now=datetime.datetime(2026, 9, 1, 7, 0, tzinfo=LONDON)) == 1


def test_held_reports_are_never_released_automatically():
    held = due_report(held_at=FRIDAY_5PM, hold_reason="Discuss with the patient first")

    assert results_release_due(now=MONDAY_7AM + datetime.timedelta(days=30)) == 0
    held.refresh_from_db()
    assert held.released_at is None
    assert not result_notices()


def test_retracted_reports_are_not_released_again():
    retracted = due_report(retracted_at=FRIDAY_5PM, retraction_reason="Wrong patient sample")

    assert results_release_due(now=MONDAY_7AM) == 0
    retracted.refresh_from_db()
    assert retracted.released_at is None


def test_review_only_reports_have_no_due_date_and_are_left_to_clinicians():
    review_rule = ReleaseRule.objects.get(test_code="PSA")
    report = due_report(
        test_code="PSA",
        release_mode=review_rule.mode,
        release_due_at=release_due_at_for(review_rule, final_at=FRIDAY_5PM),
    )
    assert report.release_due_at is None

    assert results_release_due(now=MONDAY_7AM + datetime.timedelta(days=365)) == 0


@pytest.mark.parametrize(
    "status", [ReportStatus.PRELIMINARY, ReportStatus.PARTIAL, ReportStatus.REGISTERED, ReportStatus.CANCELLED]
)
def test_only_final_and_corrected_reports_are_released(status):
    not_ready = due_report(status=status)
    corrected = due_report(status=ReportStatus.CORRECTED)

    assert results_release_due(now=MONDAY_7AM) == 1
    assert released_ids() == {corrected.pk}
    not_ready.refresh_from_db()
    assert not_ready.released_at is None


def test_wait_for_my_clinician_is_honoured_for_that_kind_of_result_only():
    patient = PatientWithAccountFactory()
    ResultPreferenceFactory(patient=patient, result_kind="imaging")
    ResultPreferenceFactory(patient=patient, result_kind="lab", wait_for_clinician=False)
    scan = due_report(patient=patient, result_kind="imaging", category="RAD")
    blood = due_report(patient=patient, result_kind="lab")
    someone_elses_scan = due_report(result_kind="imaging", category="RAD")

    assert results_release_due(now=MONDAY_7AM) == 2
    assert released_ids() == {blood.pk, someone_elses_scan.pk}
    scan.refresh_from_db()
    assert scan.released_at is None


def test_a_report_due_later_is_left_for_later():
    due_report(release_due_at=MONDAY_7AM + datetime.timedelta(seconds=1))
    assert results_release_due(now=MONDAY_7AM) == 0


def test_running_twice_releases_and_notifies_once(django_capture_on_commit_callbacks, mailoutbox):
    reports = [due_report() for _ in range(3)]

    with django_capture_on_commit_callbacks(execute=True):
        assert results_release_due(now=MONDAY_7AM) == 3
    with django_capture_on_commit_callbacks(execute=True):
        assert results_release_due(now=MONDAY_7AM + datetime.timedelta(minutes=5)) == 0

    assert len(result_notices()) == 3
    assert len(mailoutbox) == 3
    assert ReportAction.objects.filter(report__in=reports).count() == 3
    for report in reports:
        report.refresh_from_db()
        assert report.released_at == MONDAY_7AM


def test_a_report_released_by_a_clinician_first_is_not_released_or_notified_again(django_capture_on_commit_callbacks):
    report = due_report()
    with django_capture_on_commit_callbacks(execute=True):
        assert report_release(report=report, by=UserFactory(), now=FRIDAY_5PM)
    with django_capture_on_commit_callbacks(execute=True):
        assert results_release_due(now=MONDAY_7AM) == 0
    assert len(result_notices()) == 1
    report.refresh_from_db()
    assert report.released_at == FRIDAY_5PM


def test_batches_smaller_than_the_due_set_release_everything():
    reports = [due_report(release_due_at=MONDAY_7AM - datetime.timedelta(minutes=n)) for n in range(7)]
    # Reports the job must skip sort among them: they must not stop or slow the batches.
    due_report(held_at=FRIDAY_5PM, release_due_at=MONDAY_7AM - datetime.timedelta(minutes=10))
    due_report(status=ReportStatus.PRELIMINARY, release_due_at=MONDAY_7AM - datetime.timedelta(minutes=3, seconds=30))

    assert results_release_due(now=MONDAY_7AM, batch_size=2) == 7
    assert released_ids() == {report.pk for report in reports}
    assert len(result_notices()) == 7


def test_a_batch_size_that_divides_the_due_set_exactly_still_finishes():
    for _ in range(4):
        due_report()
    assert results_release_due(now=MONDAY_7AM, batch_size=2) == 4


def test_a_batch_size_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        results_release_due(now=MONDAY_7AM, batch_size=0)


def _queries_for(count: int, django_assert_max_num_queries, batch_size: int) -> None:  # type: ignore[no-untyped-def]
    for _ in range(count):
        report = due_report()
        granted_proxy(report.patient)
    # Per batch: claim, update, two history inserts at most (SQLite caps parameters per insert), patients,
    # proxies, notifications (two inserts at most); plus the final empty claim. Never one query per report.
    with django_assert_max_num_queries(10 * ((count // batch_size) + 1)):
        assert results_release_due(now=MONDAY_7AM, batch_size=batch_size) == count


def test_the_queries_per_batch_do_not_grow_with_the_batch(django_assert_max_num_queries):
    _queries_for(60, django_assert_max_num_queries, batch_size=60)


def test_the_queries_grow_with_batches_not_reports(django_assert_max_num_queries):
    _queries_for(30, django_assert_max_num_queries, batch_size=10)


# Who is told --------------------------------------------------------------------------------------------------


def test_the_patient_and_a_proxy_with_the_results_scope_are_told_without_clinical_detail(
    django_capture_on_commit_callbacks, mailoutbox
):
    patient = PatientWithAccountFactory(user__first_name="Priya")
    with_results = granted_proxy(patient, proxy__first_name="Ann")
    without_results = granted_proxy(patient, scopes=["appointments", "letters"])
    revoked = granted_proxy(patient, status="revoked")
    due_report(patient=patient, test_name="Full blood count")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        results_release_due(now=MONDAY_7AM)

    notices = result_notices()
    assert {n.user_id for n in notices} == {patient.user_id, with_results.proxy_id}
    assert without_results.proxy_id not in {n.user_id for n in notices}
    assert revoked.proxy_id not in {n.user_id for n in notices}
    # Queued with the first name and nothing else; nothing sent until the release has committed.
    assert sorted((n.personalisation for n in notices), key=str) == [{"first_name": "Ann"}, {"first_name": "Priya"}]
    assert mailoutbox == []
    for callback in callbacks:
        callback()
    assert sorted(message.to[0] for message in mailoutbox) == sorted([patient.user.email, with_results.proxy.email])
    for message in mailoutbox:
        assert "blood" not in message.body.lower()
        assert "blood" not in message.subject.lower()


def test_a_sensitive_report_is_notified_only_to_proxies_granted_its_category(django_capture_on_commit_callbacks):
    patient = PatientWithAccountFactory()
    granted = granted_proxy(patient, sensitive_categories_granted=["sexual_health"])
    not_granted = granted_proxy(patient, sensitive_categories_granted=["genetics"])
    due_report(patient=patient, test_code="CTNG", sensitive_category="sexual_health")

    with django_capture_on_commit_callbacks(execute=True):
        results_release_due(now=MONDAY_7AM)

    told = {n.user_id for n in result_notices()}
    assert told == {patient.user_id, granted.proxy_id}
    assert not_granted.proxy_id not in told


def test_a_parent_of_a_16_year_old_is_not_told_about_results():
    sixteen = datetime.date(2010, 11, 1)
    relationship = ProxyRelationshipFactory(patient__birth_date=sixteen, valid_from=sixteen)
    due_report(patient=relationship.patient)

    results_release_due(now=MONDAY_7AM)

    assert not Notification.objects.filter(user=relationship.proxy).exists()


def test_a_patient_without_an_account_or_email_gets_no_notice_but_the_report_is_released():
    from tests.patients.factories import PatientFactory

    no_account = due_report(patient=PatientFactory())
    no_email = due_report(patient=PatientWithAccountFactory(user__email=""))
    inactive = due_report(patient=PatientWithAccountFactory(user__is_active=False))

    assert results_release_due(now=MONDAY_7AM) == 3
    assert released_ids() == {no_account.pk, no_email.pk, inactive.pk}
    assert not result_notices()


def test_nothing_is_sent_or_released_when_a_batch_fails(monkeypatch, django_capture_on_commit_callbacks, mailoutbox):
    from careportal.results import release_job

    due_report()

    def broken(**kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("notifications table unavailable")

    monkeypatch.setattr(release_job, "notifications_queue_many", broken)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        results_release_due(now=MONDAY_7AM)

    assert released_ids() == set()
    assert not ReportAction.objects.exists()
    assert mailoutbox == []


# Schedule -----------------------------------------------------------------------------------------------------


def test_the_release_job_is_scheduled_every_five_minutes():
    schedule.autodiscover()
    job = next(job for job in schedule.jobs() if job.name == "results.release_due")
    assert job.every == datetime.timedelta(minutes=5)
    assert job.task is release_due_results


def test_the_task_releases_what_is_due_now():
    report = due_report(release_due_at=datetime.datetime(2026, 1, 5, 7, 0, tzinfo=LONDON))
    with time_machine.travel(datetime.datetime(2026, 1, 5, 7, 1, tzinfo=LONDON), tick=False):
        result = release_due_results.enqueue()
    assert result.return_value == 1
    report.refresh_from_db()
    assert report.released_at is not None
