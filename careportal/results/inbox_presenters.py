"""What the results inbox pages show, in words: templates only lay these out.

Flags are tags with words ("Critical", "Abnormal"), never colour alone; release states are sentences
("Due for release on 3 December 2026", "Held: awaiting repeat sample").
"""

from dataclasses import dataclass, field
from typing import Any

from django.urls import reverse
from django.utils.html import format_html
from markupsafe import Markup, escape

from careportal.core.formatting import format_date, format_datetime, format_nhs_number
from careportal.core.table_rows import Cell, lines_html, macro
from careportal.core.table_rows import summary_rows as summary_list_rows
from careportal.results.models import (
    DiagnosticReport,
    DiagnosticReportVersion,
    Interpretation,
    Observation,
    ReportAction,
    ReportStatus,
)
from careportal.results.presenters import comment_is_long, comment_start_lines
from careportal.results.services import RELEASABLE_STATUSES

AUTO_RELEASABLE_STATUSES = (ReportStatus.FINAL, ReportStatus.CORRECTED)


@dataclass(frozen=True)
class Tag:
    text: str
    colour: str


@dataclass(frozen=True)
class InboxRow:
    href: str
    patient_name: str
    hospital_number: str
    test_name: str
    collected: str
    status: str
    flags: list[Tag]
    release: str
    reviewed: str
    team: str


@dataclass(frozen=True)
class ValueRow:
    name: str
    value: str
    unit: str
    reference_range: str
    flag: str
    flag_tag: Tag | None
    comment: str  # the lab's note, or its start when it is long (then `comment_whole` holds all of it)
    comment_whole: str = ""


@dataclass(frozen=True)
class LongText:
    """A lab comment as the clinician's page shows it: whole, or its start with the whole text folded away below
    (a <details>, which works without JavaScript)."""

    shown: str
    whole: str = ""  # set only when `shown` is the start of a longer comment


def long_text(text: str | None) -> LongText:
    text = text or ""
    if not comment_is_long(text):
        return LongText(text)
    return LongText("\n".join(comment_start_lines(text)), text)


@dataclass(frozen=True)
class VersionView:
    heading: str
    lines: list[str]
    values: list[ValueRow] = field(default_factory=list)
    lab_comment: LongText | None = None

    @property
    def value_table_rows(self) -> list[list[Cell]]:
        return value_table_rows(self.values)


@dataclass(frozen=True)
class HistoryRow:
    when: str
    what: str
    who: str
    note: str


@dataclass(frozen=True)
class ReportState:
    """Which actions make sense now, so the page offers only those (the services refuse the rest anyway)."""

    can_mark_reviewed: bool
    can_release: bool
    release_blocked_reason: str
    can_hold: bool
    can_unhold: bool
    can_retract: bool
    can_comment: bool


def status_text(report: DiagnosticReport) -> str:
    if report.status == ReportStatus.CORRECTED or report.is_amended:
        return "Amended"
    return ReportStatus(report.status).label


def flag_tags(report: DiagnosticReport) -> list[Tag]:
    if report.is_critical:
        return [Tag("Critical", "red")]
    if report.is_abnormal:
        return [Tag("Abnormal", "orange")]
    return []


def release_text(report: DiagnosticReport) -> str:
    """Where the result stands with the patient, in one sentence."""
    if report.retracted_at is not None:
        return f"Withdrawn on {format_date(report.retracted_at)}"
    if report.released_at is not None:
        return f"Released on {format_date(report.released_at)}"
    if report.status == ReportStatus.CANCELLED:
        return "Cancelled by the lab: not for release"
    if report.held_at is not None:
        return f"Held: {report.hold_reason}" if report.hold_reason else "Held"
    if getattr(report, "patient_waits_for_clinician", False):
        return "Patient asked to wait for a clinician"
    if report.release_due_at is None:
        if report.reviewed_at is not None:
            return "Reviewed: waiting for a clinician to release it"
        return "Waiting for review before release"
    if report.status not in AUTO_RELEASABLE_STATUSES:
        # The release job leaves preliminary reports alone: the final one replaces them (release_job.py).
        return "Not final yet: released automatically only once the final report arrives"
    return f"Due for release on {format_date(report.release_due_at)}"


def reviewed_text(report: DiagnosticReport) -> str:
    return f"Reviewed on {format_date(report.reviewed_at)}" if report.reviewed_at else "Not reviewed"


def inbox_rows(reports: list[DiagnosticReport]) -> list[InboxRow]:
    return [
        InboxRow(
            href=reverse("results:inbox-report", kwargs={"report_id": report.public_id}),
            patient_name=report.patient.full_name,
            hospital_number=report.patient.hospital_number,
            test_name=report.test_name,
            collected=format_date(report.collected_at) or "Not known",
            status=status_text(report),
            flags=flag_tags(report),
            release=release_text(report),
            reviewed=reviewed_text(report),
            team=report.care_team.name if report.care_team else "",
        )
        for report in reports
    ]


def flag_tags_html(flags: list[Tag]) -> Markup:
    """The flags as NHS.UK tags, side by side (what the `flag_tags` macro renders)."""
    return macro("results/inbox/macros.jinja", "flag_tags", flags)


def inbox_table_rows(rows: list[InboxRow]) -> list[list[Cell]]:
    """The inbox table's cells. Every row may name the same patient: the link also says which result it opens."""
    return [
        [
            {
                "html": format_html(
                    '<a href="{}">{}<span class="nhsuk-u-visually-hidden">: {}, collected {}</span></a><br>'
                    '<span class="nhsuk-body-s">Hospital number {}</span>',
                    r.href,
                    r.patient_name,
                    r.test_name,
                    r.collected,
                    r.hospital_number,
                )
            },
            {"html": format_html("{}<br>{}", r.test_name, flag_tags_html(r.flags)) if r.flags else escape(r.test_name)},
            {"text": r.collected},
            {"html": format_html('{}<br><span class="nhsuk-body-s">{}</span>', r.status, r.reviewed)},
            {"text": r.release},
        ]
        for r in rows
    ]


def value_table_rows(values: list[ValueRow]) -> list[list[Cell]]:
    """A report's values as table cells: the lab's note under the value, its whole text folded away if long."""
    table_rows: list[list[Cell]] = []
    for v in values:
        value_html: str = lines_html(v.value.splitlines())
        if v.comment:
            value_html = format_html(
                '{}<br><span class="nhsuk-body-s">Lab note: {}</span>', value_html, lines_html(v.comment.splitlines())
            )
            if v.comment_whole:
                whole = macro(
                    "results/inbox/macros.jinja", "whole_text", v.comment_whole, f"Read the whole note on {v.name}"
                )
                value_html = format_html("{}{}", value_html, whole)
        flag_html = format_html("{} {}", flag_tags_html([v.flag_tag]), v.flag) if v.flag_tag else escape(v.flag)
        table_rows.append(
            [{"text": v.name}, {"html": value_html}, {"text": v.unit}, {"text": v.reference_range}, {"html": flag_html}]
        )
    return table_rows


def history_table_rows(history: list[HistoryRow]) -> list[list[Cell]]:
    return [[{"text": h.when}, {"text": h.what}, {"text": h.who}, {"text": h.note}] for h in history]


def _flag_tag(interpretation: str) -> Tag | None:
    if interpretation in {"LL", "HH", "AA"}:
        return Tag("Critical", "red")
    if interpretation in {"L", "H", "A"}:
        return Tag("Abnormal", "orange")
    return None


def _flag_words(interpretation: str) -> str:
    if not interpretation:
        return ""
    try:
        return Interpretation(interpretation).label
    except ValueError:
        return interpretation


def _value_text(text: str, comparator: str, numeric: object, code: str, value_type: str) -> str:
    # value_text is what the patient reads (a structured number keeps its comparator there, "<5"); the other
    # fields only stand in when the lab sent no text.
    if text:
        return text
    if numeric is not None and numeric != "":
        return f"{comparator}{numeric}"
    if code:
        return code
    return "Attachment" if value_type == "ED" else ""


def value_rows(observations: list[Observation]) -> list[ValueRow]:
    return [
        ValueRow(
            name=o.name,
            value=_value_text(o.value_text, o.value_comparator, o.value_numeric, o.value_code, o.value_type),
            unit=o.unit,
            reference_range=o.reference_range,
            flag=_flag_words(o.interpretation),
            flag_tag=_flag_tag(o.interpretation),
            comment=long_text(o.comment).shown,
            comment_whole=long_text(o.comment).whole,
        )
        for o in observations
    ]


def _stored_value_rows(stored: list[dict[str, Any]]) -> list[ValueRow]:
    # Earlier versions keep their values as JSON (DiagnosticReportVersion.observations), written by the HL7
    # ingestion; any key it did not write is shown as blank rather than failing the page.
    rows = []
    for item in stored if isinstance(stored, list) else []:
        if not isinstance(item, dict):
            continue
        interpretation = str(item.get("interpretation") or "")
        value = _value_text(
            str(item.get("value_text") or ""),
            str(item.get("value_comparator") or ""),
            item.get("value_numeric"),
            str(item.get("value_code") or ""),
            str(item.get("value_type") or ""),
        )
        rows.append(
            ValueRow(
                name=str(item.get("name") or item.get("code") or ""),
                value=value,
                unit=str(item.get("unit") or ""),
                reference_range=str(item.get("reference_range") or ""),
                flag=_flag_words(interpretation),
                flag_tag=_flag_tag(interpretation),
                comment=long_text(str(item.get("comment") or "")).shown,
                comment_whole=long_text(str(item.get("comment") or "")).whole,
            )
        )
    return rows


def version_views(versions: list[DiagnosticReportVersion]) -> list[VersionView]:
    views = []
    for version in versions:
        lines = [
            f"{ReportStatus(version.status).label if version.status in ReportStatus.values else version.status}"
            f" report{', reported ' + format_datetime(version.reported_at) if version.reported_at else ''}",
            f"{version.get_reason_display()} on {format_datetime(version.replaced_at)}",
            "The patient could see this version" if version.was_released else "The patient never saw this version",
        ]
        views.append(
            VersionView(
                heading=f"Version {version.version}",
                lines=lines,
                values=_stored_value_rows(version.observations),
                lab_comment=long_text(version.lab_comment) if version.lab_comment else None,
            )
        )
    return views


def history_rows(actions: list[ReportAction]) -> list[HistoryRow]:
    return [
        HistoryRow(
            when=format_datetime(action.at),
            what=action.get_kind_display(),
            who=action.actor_name or "CarePortal",
            note=action.note,
        )
        for action in actions
    ]


def report_state(report: DiagnosticReport) -> ReportState:
    cancelled = report.status == ReportStatus.CANCELLED
    unfinished = report.status not in RELEASABLE_STATUSES and not cancelled
    released = report.released_at is not None
    blocked = ""
    if report.held_at is not None and not released:
        blocked = "This result is held, so it cannot be released. Remove the hold first."
    elif cancelled and not released:
        blocked = "The lab cancelled this test, so there is no result to release."
    elif unfinished and not released:
        blocked = "The lab has not sent the final report yet. You can release it once the final report arrives."
    return ReportState(
        can_mark_reviewed=report.reviewed_at is None,
        can_release=not released and not cancelled and not unfinished and report.held_at is None,
        release_blocked_reason=blocked,
        can_hold=not released and not cancelled and report.held_at is None,
        can_unhold=report.held_at is not None,
        can_retract=released and report.retracted_at is None,
        can_comment=not cancelled,
    )


def summary_rows(report: DiagnosticReport) -> list[tuple[str, str]]:
    patient = report.patient
    rows = [
        ("Patient", patient.full_name),
        ("Hospital number", patient.hospital_number),
        ("NHS number", format_nhs_number(patient.nhs_number) or "Not known"),
        ("Born", format_date(patient.birth_date)),
        ("Test", f"{report.test_name} ({report.test_code})" if report.test_code else report.test_name),
        ("Status", status_text(report)),
        ("Collected", format_datetime(report.collected_at) or "Not known"),
        ("Reported", format_datetime(report.reported_at) or "Not known"),
        ("Specimen", report.specimen or "Not given"),
        ("Requested by", report.ordering_clinician or "Not given"),
        ("Care team", report.care_team.name if report.care_team else "None"),
        ("Release rule", report.release_rule_description or report.get_release_mode_display()),
        ("With the patient", release_text(report)),
        (
            "Reviewed",
            f"{reviewed_text(report)} by {report.reviewed_by.audit_name}"
            if report.reviewed_by
            else reviewed_text(report),
        ),
    ]
    if report.retracted_at is not None:
        rows.append(("Reason for withdrawing", report.retraction_reason))
    return rows


def summary_list(report: DiagnosticReport) -> list[dict[str, Cell]]:
    """The report's summary as summary-list rows."""
    return summary_list_rows(summary_rows(report))
