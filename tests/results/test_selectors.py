"""Selectors of the patient's results pages, where they write SQL of their own."""

import itertools

import pytest
from django.db.models import BooleanField, ExpressionWrapper
from django.utils import timezone

from careportal.results.models import DiagnosticReport, ReleaseMode, ReportStatus
from careportal.results.selectors import _UNRELEASED_FINISHED, _WAITS_FOR_REVIEW, _report_flags
from tests.patients.factories import PatientFactory
from tests.results.factories import DiagnosticReportFactory

pytestmark = pytest.mark.django_db


def test_the_report_flags_written_as_sql_agree_with_the_orm_conditions_for_every_kind_of_report() -> None:
    patient = PatientFactory()
    now = timezone.now()
    statuses = (ReportStatus.FINAL, ReportStatus.CORRECTED, ReportStatus.PRELIMINARY)
    for status, released, retracted, due, mode, held in itertools.product(
        statuses, (None, now), (None, now), (None, now), tuple(ReleaseMode), (None, now)
    ):
        DiagnosticReportFactory(
            patient=patient,
            status=status,
            released_at=released,
            retracted_at=retracted,
            release_due_at=due,
            release_mode=mode,
            held_at=held,
        )
    reports = DiagnosticReport.objects.filter(patient=patient)

    unreleased_finished_sql, waits_for_review_sql = _report_flags()
    from_sql = {
        pk: (unreleased_finished, waits_for_review)
        for pk, unreleased_finished, waits_for_review in reports.annotate(
            unreleased_finished=unreleased_finished_sql, waits_for_review=waits_for_review_sql
        ).values_list("pk", "unreleased_finished", "waits_for_review")
    }
    from_orm = reports.annotate(
        unreleased_finished=ExpressionWrapper(_UNRELEASED_FINISHED, output_field=BooleanField()),
        waits_for_review=ExpressionWrapper(_WAITS_FOR_REVIEW, output_field=BooleanField()),
    ).values_list("pk", "unreleased_finished", "waits_for_review")

    assert len(from_sql) == 96
    for pk, unreleased_finished, waits_for_review in from_orm:
        assert from_sql[pk] == (unreleased_finished, waits_for_review)
    # Both answers occur, for both flags: the comparison above can tell a wrong condition from a right one.
    assert {flags[0] for flags in from_sql.values()} == {True, False}
    assert {flags[1] for flags in from_sql.values()} == {True, False}
