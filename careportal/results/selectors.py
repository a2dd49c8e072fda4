"""Reads for the patient's (and proxy's) test results pages. Every function starts from the access layer's
`visible_reports`, so a proxy never sees a report in a sensitive category staff have not granted."""

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from django.db import connections
from django.db.models import BooleanField, F, Prefetch, Q, QuerySet
from django.db.models.expressions import RawSQL

from careportal.access.layer import Viewer, access_object, own_record_stand_in
from careportal.access.scopes import Scope
from careportal.audit.models import AccessAction, ActorRole
from careportal.core.compiled_queries import CompiledQuery
from careportal.patients.models import Patient
from careportal.results.access import access_results, visible_reports
from careportal.results.models import (
    DiagnosticReport,
    DiagnosticReportVersion,
    Observation,
    ReleaseMode,
    ReportStatus,
    ReportVersionReason,
    ResultKind,
    ResultPreference,
)
from careportal.results.services import RELEASABLE_STATUSES

# What the patient may read the values of: released by the job or a clinician, and not withdrawn since.
RELEASED = Q(released_at__isnull=False, retracted_at__isnull=True)


def _shown_reports(*, viewer: Viewer) -> QuerySet[DiagnosticReport]:
    # A cancelled test that never reached the patient is not worth a line on their page ("a test was done" would
    # be untrue); one cancelled after release stays, like any released report.
    return visible_reports(viewer=viewer, queryset=DiagnosticReport.objects.all()).exclude(
        status=ReportStatus.CANCELLED, released_at__isnull=True
    )


# What the list's rows show (careportal/results/presenters.py `report_summary`): the page reads these columns only.
LIST_COLUMNS = (
    "public_id",
    "test_name",
    "collected_at",
    "arrived_at",
    "released_at",
    "retracted_at",
    "held_at",
    "status",
    "is_amended",
    "result_kind",
    "release_mode",
    "release_due_at",
)


def reports_for_list(*, viewer: Viewer, test_code: str = "") -> QuerySet[DiagnosticReport]:
    """The results list, newest test first (by when the sample was taken, then when the report arrived), with the
    columns the list shows (LIST_COLUMNS) only."""
    reports = _shown_reports(viewer=viewer)
    if test_code:
        reports = reports.filter(test_code=test_code)
    return reports.order_by(F("collected_at").desc(nulls_last=True), "-arrived_at", "-pk").only(*LIST_COLUMNS)


class _OwnReportList:
    """`reports_for_list` for a patient reading their own record, for the paginator: the page it slices comes from
    SQL written once per page position (careportal/core/compiled_queries.py). The paginator is told the count."""

    def __init__(self, patient_id: int, test_code: str) -> None:
        self.patient_id = patient_id
        self.test_code = test_code

    def __getitem__(self, page: slice) -> list[DiagnosticReport]:
        if page.stop <= page.start:  # the empty first page of an empty list: no SQL to write
            return []
        if self.test_code:
            return _own_report_page(True, page.start, page.stop).instances(self.patient_id, self.test_code)
        return _own_report_page(False, page.start, page.stop).instances(self.patient_id)


@functools.lru_cache(maxsize=64)  # by page position: the first pages are the ones read
def _own_report_page(by_test: bool, start: int, stop: int) -> CompiledQuery:
    def build(patient_id: int, test_code: str = "") -> QuerySet[DiagnosticReport]:
        return reports_for_list(viewer=own_record_stand_in(patient_id), test_code=test_code)[start:stop]

    build.__qualname__ = f"_own_report_page(by_test={by_test}, start={start}, stop={stop})"
    return CompiledQuery(build, takes=(int, str) if by_test else (int,))


def reports_for_paging(*, viewer: Viewer, test_code: str = "") -> QuerySet[DiagnosticReport] | _OwnReportList:
    """`reports_for_list`, for a paginator that is told the count: for a patient reading their own record, from SQL
    written once; for a proxy (whose list depends on what staff granted them), built by the ORM."""
    if viewer.role == ActorRole.PATIENT and viewer.patient is not None and viewer.can(Scope.RESULTS):
        return _OwnReportList(viewer.patient.pk, test_code)
    return reports_for_list(viewer=viewer, test_code=test_code)


# Finished, not released nor withdrawn, and waiting for a clinician whatever the patient chose: review-only, held,
# or with no release date. (A report of a kind the patient chose to wait for also waits: see `test_choices`.)
_UNRELEASED_FINISHED = Q(released_at__isnull=True, retracted_at__isnull=True, status__in=RELEASABLE_STATUSES)
_WAITS_FOR_REVIEW = Q(release_due_at__isnull=True) | Q(release_mode=ReleaseMode.AFTER_REVIEW) | Q(held_at__isnull=False)
_RELEASABLE = sorted(RELEASABLE_STATUSES)
_report_flags_sql: dict[str, tuple[str, str]] = {}


def _report_flags() -> tuple[RawSQL, RawSQL]:
    """_UNRELEASED_FINISHED and _WAITS_FOR_REVIEW as the two boolean columns `test_choices` reads, in the SQL the ORM
    writes for them (tests/results/test_selectors.py compares the two). Written out once per database: the ORM
    resolved the two conditions' six lookups again for every page, a third of the CPU of the page's busiest query.
    Columns are named with the report table's name, as in a query on that table alone (no join, no subquery)."""
    connection = connections[DiagnosticReport.objects.db]
    sql = _report_flags_sql.get(connection.vendor)
    if sql is None:
        quote = connection.ops.quote_name
        table = quote(DiagnosticReport._meta.db_table)

        def column(name: str) -> str:
            return f"{table}.{quote(str(DiagnosticReport._meta.get_field(name).column))}"  # type: ignore[union-attr]

        statuses = ", ".join(["%s"] * len(_RELEASABLE))
        sql = (
            f"({column('released_at')} IS NULL AND {column('retracted_at')} IS NULL"
            f" AND {column('status')} IN ({statuses}))",
            f"({column('release_due_at')} IS NULL OR {column('release_mode')} = %s OR {column('held_at')} IS NOT NULL)",
        )
        _report_flags_sql[connection.vendor] = sql
    unreleased_finished, waits_for_review = sql
    return (
        RawSQL(unreleased_finished, _RELEASABLE, output_field=BooleanField()),  # noqa: S611 - our own SQL  # nosec B611
        RawSQL(waits_for_review, (ReleaseMode.AFTER_REVIEW,), output_field=BooleanField()),  # noqa: S611 - our own SQL  # nosec B611
    )


@dataclass(frozen=True)
class TestChoices:
    choices: list[tuple[str, str]]  # (test code, test name), by name
    report_counts: dict[str, int]  # test code → how many reports of it the list shows
    waiting_for_clinician: int = 0  # finished reports that wait for a clinician before the patient may read them

    def list_length(self, test_code: str = "") -> int:
        """How many reports the list shows, for every test or for one: what its pages count, without counting
        them again in the database."""
        return self.report_counts.get(test_code, 0) if test_code else sum(self.report_counts.values())


def _test_choice_rows(viewer: Viewer) -> QuerySet[DiagnosticReport, tuple[str, str, str, bool, bool]]:
    unreleased_finished, waits_for_review = _report_flags()
    return (
        _shown_reports(viewer=viewer)
        .annotate(unreleased_finished=unreleased_finished, waits_for_review=waits_for_review)
        .order_by("test_code", F("collected_at").desc(nulls_last=True), "-arrived_at")
        .values_list("test_code", "test_name", "result_kind", "unreleased_finished", "waits_for_review")
    )


def _own_test_choice_rows(patient_id: int) -> QuerySet[DiagnosticReport, tuple[str, str, str, bool, bool]]:
    """`_test_choice_rows` for a patient reading their own record: the same selectors, with a stand-in viewer."""
    return _test_choice_rows(own_record_stand_in(patient_id))


# The results page's busiest query, compiled once (careportal/core/compiled_queries.py) for a patient's own record.
# A proxy's depends on the categories staff granted them, so theirs is built by the ORM each time.
_OWN_TEST_CHOICE_ROWS = CompiledQuery(_own_test_choice_rows)


def test_choices(*, viewer: Viewer, waiting_kinds: frozenset[str] = frozenset()) -> TestChoices:
    """The tests the viewer can filter the list by, by name (when a test's name changed over time, the most recent
    name is used), how many reports of each the list shows, and how many of them wait for a clinician
    (review-only, held, or of a kind in the patient's `waiting_kinds`; a held report is counted like any report
    waiting for review, so the page never shows that a clinician is holding it): one query for all three."""
    rows: Iterable[tuple[str, str, str, bool, bool]]
    if viewer.role == ActorRole.PATIENT and viewer.patient is not None and viewer.can(Scope.RESULTS):
        rows = _OWN_TEST_CHOICE_ROWS.rows(viewer.patient.pk)
    else:
        rows = _test_choice_rows(viewer)
    names: dict[str, str] = {}
    counts: dict[str, int] = {}
    waiting = 0
    for code, name, kind, unreleased_finished, waits_for_review in rows:
        names.setdefault(code, name)
        counts[code] = counts.get(code, 0) + 1
        if unreleased_finished and (waits_for_review or kind in waiting_kinds):
            waiting += 1
    return TestChoices(
        choices=sorted(names.items(), key=lambda item: (item[1].lower(), item[0])),
        report_counts=counts,
        waiting_for_clinician=waiting,
    )


def results_ready_count(*, viewer: Viewer) -> int:
    """How many results the viewer can read now (for the home page card: a count, never what they are)."""
    return _shown_reports(viewer=viewer).filter(RELEASED).count()


def _waiting_kinds_query(patient_id: int) -> QuerySet[ResultPreference, str]:
    return ResultPreference.objects.filter(patient_id=patient_id, wait_for_clinician=True).values_list(
        "result_kind", flat=True
    )


# Asked by every results page: compiled once (careportal/core/compiled_queries.py).
_WAITING_KINDS = CompiledQuery(_waiting_kinds_query)


def waiting_kinds(*, patient: Patient) -> frozenset[str]:
    """The kinds of result the patient chose to see only after a clinician has released them."""
    return frozenset(kind for (kind,) in _WAITING_KINDS.rows(patient.pk))


def report_for_page(*, viewer: Viewer, public_id: UUID) -> DiagnosticReport:
    """One report for its page, with everything the page shows fetched up front; Http404 (audited) otherwise."""
    return access_object(
        viewer=viewer,
        queryset=_with_content(_shown_reports(viewer=viewer)),
        public_id=public_id,
        scope=Scope.RESULTS,
        object_label="test result",
    )


def report_for_comments(*, viewer: Viewer, public_id: UUID) -> DiagnosticReport:
    """A released, not withdrawn report for the page of its long comments in full; Http404 (audited) otherwise
    (before release, or after withdrawal, nothing of a report's content is shown)."""
    return access_object(
        viewer=viewer,
        queryset=_with_content(_shown_reports(viewer=viewer).filter(RELEASED)),
        public_id=public_id,
        scope=Scope.RESULTS,
        object_label="test result comments",
    )


def _with_content(reports: QuerySet[DiagnosticReport]) -> QuerySet[DiagnosticReport]:
    return reports.select_related("patient", "released_by", "clinician_comment_by").prefetch_related(
        Prefetch("observations", queryset=Observation.objects.order_by("sequence")),
        Prefetch(
            "earlier_versions",
            queryset=DiagnosticReportVersion.objects.filter(reason=ReportVersionReason.CORRECTED).order_by("-version"),
            to_attr="corrected_versions",
        ),
    )


def attachment_for_download(*, viewer: Viewer, public_id: UUID, sequence: int) -> Observation:
    """An attachment (an ED value) of a released, not withdrawn report; Http404 (audited) otherwise.

    The report is resolved with the attachment's existence in the same query, so that asking for a sequence
    number that has no attachment is refused and audited like any other object that is not there.
    """
    queryset = (
        _shown_reports(viewer=viewer)
        .filter(RELEASED)
        .filter(observations__sequence=sequence, observations__attachment__gt="")
        .distinct()
    )
    report = access_object(
        viewer=viewer,
        queryset=queryset,
        public_id=public_id,
        scope=Scope.RESULTS,
        object_label="test result attachment",
        action=AccessAction.DOWNLOAD,
    )
    return report.observations.filter(sequence=sequence).exclude(attachment="").select_related("report").get()


def trend_observations(*, viewer: Viewer, code: str) -> list[Observation]:
    """Every numeric value of one test (by its observation code) in the viewer's released reports, oldest first;
    Http404 (audited) when there is none. Values given as a limit (">90") are included: the page decides how
    to show them."""
    queryset = (
        Observation.objects.filter(code=code, value_numeric__isnull=False)
        .filter(report__released_at__isnull=False, report__retracted_at__isnull=True)
        .select_related("report")
        .order_by(
            F("report__collected_at").asc(nulls_last=True), F("observed_at").asc(nulls_last=True), "report_id", "pk"
        )
    )
    rows = access_results(
        viewer=viewer,
        queryset=queryset,
        object_label="test results over time",
        object_id=code,
        report_path="report",
    )
    return list(rows)


def result_kind_choices() -> list[tuple[str, str]]:
    return [(str(value), str(label)) for value, label in ResultKind.choices]
