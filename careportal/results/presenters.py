"""What the test results pages show, in plain English, so that the templates hold no rules.

The wording follows what a patient can act on: whether a result is ready, when to expect it, and where a value
sits against its range, always in words with a symbol (never colour alone). It never says that a report is held,
or why: a held report reads exactly like one waiting for a clinician's review.
"""

import datetime
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.urls import reverse
from django.utils import timezone
from markupsafe import Markup, escape

from careportal.access.layer import Viewer
from careportal.core.formatting import format_date
from careportal.core.table_rows import Cell, format_markup, lines_html
from careportal.patients.models import Patient
from careportal.patients.voice import Voice
from careportal.results.charts import ChartPoint, TrendChart, trend_chart
from careportal.results.models import (
    DiagnosticReport,
    DiagnosticReportVersion,
    Observation,
    ObservationValueType,
    ReleaseMode,
    ReportStatus,
    ResultKind,
)

# Reports that the lab has not finished: what has arrived may still change.
UNFINISHED_STATUSES = frozenset({ReportStatus.REGISTERED, ReportStatus.PARTIAL, ReportStatus.PRELIMINARY})
NUMERIC_TYPES = frozenset({ObservationValueType.NUMERIC, ObservationValueType.STRUCTURED_NUMERIC})


def imaging_notice(voice: Voice) -> str:
    return (
        f"This is a report written for the clinician who referred {voice.subject}, so it may use medical words. "
        f"Please discuss this with the clinician who referred {voice.subject}."
    )


@dataclass(frozen=True)
class Position:
    """Where a value sits against its reference range: a symbol for the eye and words for everyone."""

    symbol: str
    words: str
    out_of_range: bool
    direction: str = ""  # "low", "high" or "" (for the chart's marker shape)


# HL7 table 0078 flags, as the lab sent them. The lab's flag wins over our own comparison with the range.
POSITIONS: dict[str, Position] = {
    "N": Position("✓", "Within range", out_of_range=False),
    "L": Position("↓", "Below range", out_of_range=True, direction="low"),
    "H": Position("↑", "Above range", out_of_range=True, direction="high"),
    "LL": Position("‼", "Far below range", out_of_range=True, direction="low"),
    "HH": Position("‼", "Far above range", out_of_range=True, direction="high"),
    "A": Position("!", "Outside the usual result", out_of_range=True),
    "AA": Position("‼", "Far outside the usual result", out_of_range=True),
}


def observation_position(observation: Observation | Mapping[str, Any]) -> Position | None:
    """The lab's flag in words; without a flag, our own comparison of the number with whichever ends of the range
    the lab gave; None when the range says nothing certain (no range, or a value given as a limit that the range
    does not settle: "<5" against 3 to 10)."""
    get = observation.get if isinstance(observation, Mapping) else lambda name: getattr(observation, name, None)
    flag = get("interpretation") or ""
    if flag in POSITIONS:
        return POSITIONS[flag]
    if get("value_numeric") is None or (get("reference_low") is None and get("reference_high") is None):
        return None
    value = Decimal(str(get("value_numeric")))
    low = Decimal(str(get("reference_low"))) if get("reference_low") is not None else None
    high = Decimal(str(get("reference_high"))) if get("reference_high") is not None else None
    comparator = get("value_comparator") or ""
    if comparator.startswith(">"):
        # At least `value`: certainly above a high end it reaches, certainly within a range with no high end.
        if high is not None:
            return POSITIONS["H"] if value >= high else None
        return POSITIONS["N"] if low is not None and value >= low else None
    if comparator.startswith("<"):
        if low is not None:
            return POSITIONS["L"] if value <= low else None
        return POSITIONS["N"] if high is not None and value <= high else None
    if low is not None and value < low:
        return POSITIONS["L"]
    if high is not None and value > high:
        return POSITIONS["H"]
    return POSITIONS["N"]


def format_long_date(value: datetime.datetime | datetime.date | None) -> str:
    """ "Tuesday 3 November 2026", in the trust's local time."""
    if value is None:
        return ""
    day = timezone.localtime(value).date() if isinstance(value, datetime.datetime) else value
    return f"{day:%A} {format_date(day)}"


def _number(value: Decimal | None) -> str:
    # 135.000000 as stored -> "135"; 1.500000 -> "1.5"; and never "1E+2".
    return "" if value is None else format(Decimal(value).normalize(), "f")


# List ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportSummary:
    test_name: str
    taken: str
    tag_text: str
    tag_colour: str
    sentence: str
    href: str | None


def _taken_at(report: DiagnosticReport) -> datetime.datetime:
    return report.collected_at or report.arrived_at


# Labs write units in plain ASCII ("10*9/L", "umol/L", "mL/min/1.73m2"); people read them with real powers and
# the micro sign.
_UNIT_SPELLINGS = [
    (re.compile(r"10\*(\d+)"), lambda m: "10" + m.group(1).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))),
    (re.compile(r"\bu(mol|g|L|l|IU|U)\b"), lambda m: "µ" + m.group(1)),
    (re.compile(r"(?<=[a-zA-Z])2$"), lambda m: "²"),
]


def unit_for_reading(unit: str) -> str:
    for pattern, replacement in _UNIT_SPELLINGS:
        unit = pattern.sub(replacement, unit)
    return unit


def waiting_sentence(
    report: DiagnosticReport,
    *,
    waiting_kinds: frozenset[str],
    now: datetime.datetime,
    voice: Voice,
    with_date: bool = True,
) -> str:
    """What the patient is told about a report they cannot read yet. Never mentions a hold. The list shows the date
    the test was done beside the sentence, so there the sentence leaves it out (`with_date=False`)."""
    done = f"This test was done on {format_date(_taken_at(report))}. " if with_date else ""
    if report.status in UNFINISHED_STATUSES:
        return f"{done}The lab has not finished this test yet."
    if report.result_kind in waiting_kinds:
        return f"{done}{voice.Subject} asked to see these results only after a clinician has released them."
    if report.is_held or report.release_mode == ReleaseMode.AFTER_REVIEW or report.release_due_at is None:
        return f"{done}A clinician will look at this result and then release it to {voice.subject}."
    if report.release_due_at <= now:
        return f"{done}The result should be ready soon."
    return f"{done}You can expect the result by {format_long_date(report.release_due_at)}."


# Stands for a report's public id in its page's address, drawn once for a whole list (`report_summaries`).
_REPORT_ID_SLOT = uuid.UUID(int=0)


def report_summary(
    report: DiagnosticReport,
    *,
    waiting_kinds: frozenset[str],
    now: datetime.datetime,
    voice: Voice,
    report_href: str = "",
) -> ReportSummary:
    taken = format_date(_taken_at(report))
    href = (
        report_href.replace(str(_REPORT_ID_SLOT), str(report.public_id))
        if report_href
        else reverse("results:report", kwargs={"public_id": report.public_id})
    )
    if report.is_retracted:
        return ReportSummary(report.test_name, taken, "Withdrawn", "grey", "This result has been withdrawn.", href=None)
    if report.is_released:
        released = f"Released on {format_date(report.released_at)}."
        if report.status in UNFINISHED_STATUSES:
            return ReportSummary(
                report.test_name,
                taken,
                "Not finished",
                "yellow",
                f"{released} The lab has not finished this test yet.",
                href,
            )
        if report.is_amended:
            return ReportSummary(
                report.test_name, taken, "Amended", "orange", f"{released} The lab has since corrected it.", href
            )
        return ReportSummary(report.test_name, taken, "Ready", "green", released, href)
    return ReportSummary(
        report.test_name,
        taken,
        "Waiting",
        "blue",
        waiting_sentence(report, waiting_kinds=waiting_kinds, now=now, voice=voice, with_date=False),
        href=None,
    )


def report_summaries(
    reports: Iterable[DiagnosticReport], *, waiting_kinds: frozenset[str], voice: Voice
) -> list[ReportSummary]:
    now = timezone.now()
    report_href = reverse("results:report", kwargs={"public_id": _REPORT_ID_SLOT})  # one `reverse` for the list
    return [
        report_summary(report, waiting_kinds=waiting_kinds, now=now, voice=voice, report_href=report_href)
        for report in reports
    ]


def _kinds_in_words(kinds: frozenset[str]) -> str:
    chosen = [str(label) for value, label in ResultKind.choices if value in kinds]
    chosen = [label[0].lower() + label[1:] for label in chosen]
    return ", ".join(chosen[:-1]) + (" and " if len(chosen) > 1 else "") + chosen[-1]


def preference_sentence(waiting_kinds: frozenset[str], *, voice: Voice) -> str:
    """The patient's "wait for my clinician" choice, in words: what is shown at once and what waits."""
    if not waiting_kinds:
        return (
            f"{voice.Possessive} results are shown as soon as they are ready, which can be before a clinician has "
            f"talked to {voice.subject} about them."
        )
    return (
        f"{voice.has} chosen to wait for a clinician to look at these results first: "
        f"{_kinds_in_words(waiting_kinds)}. Other results are shown as soon as they are ready."
    )


@dataclass(frozen=True)
class PreferenceLink:
    heading: str
    text: str
    hidden: str = ""  # for screen readers, whose choice it is


def preference_link(voice: Voice) -> PreferenceLink:
    """The way to the "wait for my clinician" page: the patient changes their choice, a proxy only reads it."""
    if voice.own:
        return PreferenceLink("Wait for my clinician", "Choose which results wait for a clinician")
    return PreferenceLink("Wait for a clinician", "See which results wait for a clinician", f"for {voice.name}")


def preferences_title(voice: Voice) -> str:
    return preference_link(voice).heading


def waiting_for_clinician_sentence(count: int, *, voice: Voice) -> str:
    """Tells the patient that some of their results are waiting for a clinician, without saying why: a result a
    clinician is holding reads the same as one waiting for review."""
    if not count:
        return ""
    if count == 1:
        waiting = f"1 of {voice.possessive} results is waiting for a clinician to look at it before it is shown here."
    else:
        waiting = (
            f"{count} of {voice.possessive} results are waiting for a clinician to look at them before they are "
            "shown here."
        )
    ready = "it is" if count == 1 else "they are"
    return f"{waiting} You do not need to do anything. We will let you know when {ready} ready."


# Report page -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValueRow:
    name: str
    value_lines: list[str]
    unit: str
    range_text: str
    position: Position | None
    comment_lines: list[str] = field(default_factory=list)
    trend_href: str | None = None
    attachment_href: str | None = None
    attachment_label: str = ""
    # Set when the note is longer than COMMENT_SHOWN_CHARACTERS: comment_lines then hold its start only.
    comment_more_href: str | None = None

    @property
    def is_narrative(self) -> bool:
        """Text with nothing to compare it with (a scan report, a comment): shown as a paragraph, not a table row."""
        return not self.attachment_href and not self.range_text and self.position is None and not self.unit


@dataclass(frozen=True)
class ReportContent:
    """A report's values split the way a patient reads them: measurements in a table, text as paragraphs,
    files as downloads."""

    measurements: list[ValueRow]
    narrative: list[ValueRow]
    attachments: list[ValueRow]
    # The measurements as the rows of their table.
    measurement_rows: list[list[Cell]] = field(default_factory=list)


def report_content(rows: list[ValueRow], *, voice: Voice) -> ReportContent:
    measurements = [r for r in rows if not r.attachment_href and not r.is_narrative]
    return ReportContent(
        measurements=measurements,
        narrative=[r for r in rows if r.is_narrative],
        attachments=[r for r in rows if r.attachment_href],
        measurement_rows=measurement_table_rows(measurements, voice=voice),
    )


def range_cell(range_text: str) -> Markup:
    """A range such as "133-146" kept on one line (word joiners, U+2060, either side of each hyphen): broken at its
    hyphen in a narrow column it reads as two numbers."""
    if not range_text:
        return Markup("Not given")
    return escape(range_text).replace("-", "\u2060-\u2060")


def _not_compared(range_text: str, *, voice: Voice) -> str:
    return f"Not compared: ask {voice.possessive} clinician" if range_text else "No range to compare with"


def measurement_table_rows(rows: list[ValueRow], *, voice: Voice) -> list[list[Cell]]:
    """The table of a report's measurements: name (with a link to the test over time), value with its unit and
    any note from the lab, range, and the position against the range in words with a symbol."""
    table_rows: list[list[Cell]] = []
    for row in rows:
        value_html = lines_html(row.value_lines)
        if row.unit:
            value_html = format_markup("{} {}", value_html, row.unit)
        if row.comment_lines:
            more = (
                format_markup(' <a href="{}">Read the whole note on {}</a>', row.comment_more_href, row.name)
                if row.comment_more_href
                else ""
            )
            value_html = format_markup(
                '{}<span class="nhsuk-body-s nhsuk-u-display-block nhsuk-u-margin-top-1">'
                "Note from the lab: {}{}</span>",
                value_html,
                lines_html(row.comment_lines),
                more,
            )
        if row.position:
            position_html = format_markup(
                '<span aria-hidden="true" class="careportal-result-symbol">{}</span> {}',
                row.position.symbol,
                row.position.words,
            )
        else:
            position_html = escape(_not_compared(row.range_text, voice=voice))
        name_html = escape(row.name)
        if row.trend_href:
            name_html = format_markup(
                '{}<br><a class="nhsuk-body-s" href="{}">See {} over time</a>', row.name, row.trend_href, row.name
            )
        table_rows.append(
            [
                {"header": "Test", "html": name_html},
                {"header": "Result", "html": value_html},
                {"header": "Range", "html": range_cell(row.range_text)},
                {"header": "Compared with the range", "html": position_html},
            ]
        )
    return table_rows


@dataclass(frozen=True)
class EarlierVersion:
    summary: str
    heading: str
    content: ReportContent
    lab_comment_lines: list[str]
    lab_comment_more_href: str | None = None


@dataclass(frozen=True)
class ReportPage:
    test_name: str
    whose: str  # for a proxy: "Amy Smith's result"; empty for the patient
    taken: str
    visible: bool
    withdrawn: bool
    waiting_sentence: str = ""
    released_sentence: str = ""
    unfinished: bool = False
    imaging_notice: str = ""
    amended_sentence: str = ""
    content: ReportContent = field(default_factory=lambda: ReportContent(measurements=[], narrative=[], attachments=[]))
    lab_comment_lines: list[str] = field(default_factory=list)
    lab_comment_more_href: str | None = None
    clinician_comment_lines: list[str] = field(default_factory=list)
    clinician_comment_by: str = ""
    earlier_versions: list[EarlierVersion] = field(default_factory=list)


def _lines(text: str) -> list[str]:
    # Formatted text (FT) and repeated values arrive with one line per "\n": each line is shown on its own, and
    # escaped by the template like any other text.
    return [line.rstrip() for line in (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")]


def _trim_blank_ends(lines: list[str]) -> list[str]:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


# A comment from the lab (NTE) longer than this is shown cut, at a word, with a link to a page that shows it whole:
# a few paragraphs, more than any usual report comment, and far less than the megabyte some systems send.
COMMENT_SHOWN_CHARACTERS = 2000
# How far back from the limit a cut may go to end at a space rather than in the middle of a word.
_CUT_AT_WORD_WITHIN = 200


def comment_is_long(text: str | None) -> bool:
    return len(text or "") > COMMENT_SHOWN_CHARACTERS


def comment_start_lines(text: str) -> list[str]:
    """The first COMMENT_SHOWN_CHARACTERS of a long comment, cut at a word, its last line ending in an ellipsis."""
    cut = text[:COMMENT_SHOWN_CHARACTERS]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space >= COMMENT_SHOWN_CHARACTERS - _CUT_AT_WORD_WITHIN:
        cut = cut[:space]
    lines = _trim_blank_ends(_lines(cut.rstrip()))
    return [*lines[:-1], f"{lines[-1]}…"] if lines else ["…"]


def _comment_lines(text: str | None) -> list[str]:
    """A comment's lines: whole, or its first COMMENT_SHOWN_CHARACTERS (cut at a word) ending in an ellipsis."""
    text = text or ""
    if not comment_is_long(text):
        return _trim_blank_ends(_lines(text))
    return comment_start_lines(text)


def comments_href(report: DiagnosticReport, anchor: str) -> str:
    return reverse("results:comments", kwargs={"public_id": report.public_id}) + f"#{anchor}"


def _value_lines(observation: Observation | Mapping[str, Any]) -> list[str]:
    get = observation.get if isinstance(observation, Mapping) else lambda name: getattr(observation, name, None)
    text = get("value_text") or ""
    if not text and get("value_numeric") is not None:
        text = f"{get('value_comparator') or ''}{_number(Decimal(str(get('value_numeric'))))}"
    if not text and get("value_code"):
        text = str(get("value_code"))
    return _trim_blank_ends(_lines(str(text)))


def _range_text(observation: Observation | Mapping[str, Any]) -> str:
    get = observation.get if isinstance(observation, Mapping) else lambda name: getattr(observation, name, None)
    return str(get("reference_range") or "")


def value_row(observation: Observation, *, report: DiagnosticReport) -> ValueRow:
    attachment_href = None
    attachment_label = ""
    if observation.value_type == ObservationValueType.ENCAPSULATED_DATA and observation.attachment:
        attachment_href = reverse(
            "results:attachment", kwargs={"public_id": report.public_id, "sequence": observation.sequence}
        )
        attachment_label = f"Download {observation.name or 'the attachment'}"
        kind = _attachment_kind(observation.attachment_content_type)
        if kind:
            attachment_label += f" ({kind})"
    trend_href = None
    if observation.value_numeric is not None and observation.value_type in NUMERIC_TYPES:
        trend_href = reverse("results:trend", kwargs={"code": observation.code})
    return ValueRow(
        name=observation.name,
        value_lines=[] if attachment_href else _value_lines(observation),
        unit=unit_for_reading(observation.unit),
        range_text=_range_text(observation),
        position=observation_position(observation),
        comment_lines=_comment_lines(observation.comment),
        trend_href=trend_href,
        attachment_href=attachment_href,
        attachment_label=attachment_label,
        comment_more_href=comments_href(report, f"comment-{observation.sequence}")
        if comment_is_long(observation.comment)
        else None,
    )


def _attachment_kind(content_type: str) -> str:
    return {
        "application/pdf": "PDF",
        "image/png": "image",
        "image/jpeg": "image",
        "text/plain": "text",
    }.get((content_type or "").lower(), "")


def _version_row(data: Mapping[str, Any], *, report: DiagnosticReport, version: int) -> ValueRow:
    comment = str(data.get("comment") or "")
    return ValueRow(
        name=str(data.get("name") or ""),
        value_lines=_value_lines(data),
        unit=unit_for_reading(str(data.get("unit") or "")),
        range_text=_range_text(data),
        position=observation_position(data),
        comment_lines=_comment_lines(comment),
        comment_more_href=comments_href(report, f"version-{version}-comment-{data.get('sequence')}")
        if comment_is_long(comment)
        else None,
    )


def _earlier_version(version: DiagnosticReportVersion, *, report: DiagnosticReport, voice: Voice) -> EarlierVersion:
    when = format_date(version.reported_at or version.replaced_at)
    rows = [
        _version_row(item, report=report, version=version.version)
        for item in version.observations
        if isinstance(item, Mapping)
    ]
    return EarlierVersion(
        summary=f"See the earlier version, reported on {when}",
        heading=f"As reported on {when}",
        content=report_content(rows, voice=voice),
        lab_comment_lines=_comment_lines(version.lab_comment),
        lab_comment_more_href=comments_href(report, f"version-{version.version}-lab-comment")
        if comment_is_long(version.lab_comment)
        else None,
    )


def _whose(viewer: Viewer, patient: Patient) -> str:
    return f"{patient.full_name}'s result" if viewer.is_proxy else ""


def _released_sentence(report: DiagnosticReport, *, voice: Voice) -> str:
    sentence = f"Released to {voice.subject} on {format_date(report.released_at)}"
    if report.released_by is not None:
        return f"{sentence} by {report.released_by.audit_name}."
    return f"{sentence}, automatically after the usual waiting time."


def report_page(
    report: DiagnosticReport, *, viewer: Viewer, patient: Patient, waiting_kinds: frozenset[str], voice: Voice
) -> ReportPage:
    visible = report.is_released and not report.is_retracted
    if not visible:
        # Nothing of the report's content before release or after withdrawal: no values and no comments.
        return ReportPage(
            test_name=report.test_name,
            whose=_whose(viewer, patient),
            taken=format_date(_taken_at(report)),
            visible=False,
            withdrawn=report.is_retracted,
            waiting_sentence=""
            if report.is_retracted
            else waiting_sentence(report, waiting_kinds=waiting_kinds, now=timezone.now(), voice=voice),
        )
    corrected: list[DiagnosticReportVersion] = getattr(report, "corrected_versions", [])
    amended = ""
    if report.is_amended:
        # The lab's own time for the correction (OBR-22), not when the message happened to reach us.
        corrected_on = report.reported_at or max((v.replaced_at for v in corrected), default=None)
        amended = (
            f"The lab corrected this report on {format_date(corrected_on)}."
            if corrected_on
            else "The lab corrected this report."
        )
    comment_by = report.clinician_comment_by
    return ReportPage(
        test_name=report.test_name,
        whose=_whose(viewer, patient),
        taken=format_date(_taken_at(report)),
        visible=True,
        withdrawn=False,
        released_sentence=_released_sentence(report, voice=voice),
        unfinished=report.status in UNFINISHED_STATUSES,
        imaging_notice=imaging_notice(voice) if report.is_imaging else "",
        amended_sentence=amended,
        content=report_content([value_row(o, report=report) for o in report.observations.all()], voice=voice),
        lab_comment_lines=_comment_lines(report.lab_comment),
        lab_comment_more_href=comments_href(report, "lab-comment") if comment_is_long(report.lab_comment) else None,
        clinician_comment_lines=_trim_blank_ends(_lines(report.clinician_comment)),
        clinician_comment_by=comment_by.audit_name if comment_by is not None else "",
        earlier_versions=[_earlier_version(v, report=report, voice=voice) for v in corrected],
    )


# The whole of long comments --------------------------------------------------------------------------------


@dataclass(frozen=True)
class WholeComment:
    anchor: str
    heading: str
    lines: list[str]


@dataclass(frozen=True)
class CommentsPage:
    test_name: str
    whose: str
    taken: str
    report_href: str
    comments: list[WholeComment]


def report_comments_page(report: DiagnosticReport, *, viewer: Viewer, patient: Patient) -> CommentsPage:
    """Every comment of a released report that its page shows cut, in full, each under the anchor its "read the
    whole comment" link points at: the report's own, its values', and those of its earlier corrected versions."""
    comments: list[WholeComment] = []

    def add(anchor: str, heading: str, text: str) -> None:
        if comment_is_long(text):
            comments.append(WholeComment(anchor, heading, _trim_blank_ends(_lines(text))))

    add("lab-comment", "Comment from the lab", report.lab_comment)
    for observation in report.observations.all():
        add(f"comment-{observation.sequence}", f"Note from the lab on {observation.name}", observation.comment)
    corrected: list[DiagnosticReportVersion] = getattr(report, "corrected_versions", [])
    for version in corrected:
        when = format_date(version.reported_at or version.replaced_at)
        add(
            f"version-{version.version}-lab-comment",
            f"Comment from the lab, as reported on {when}",
            version.lab_comment,
        )
        for item in version.observations:
            if isinstance(item, Mapping):
                add(
                    f"version-{version.version}-comment-{item.get('sequence')}",
                    f"Note from the lab on {item.get('name') or 'a result'}, as reported on {when}",
                    str(item.get("comment") or ""),
                )
    return CommentsPage(
        test_name=report.test_name,
        whose=_whose(viewer, patient),
        taken=format_date(_taken_at(report)),
        report_href=reverse("results:report", kwargs={"public_id": report.public_id}),
        comments=comments,
    )


# Trend page ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrendRow:
    date: str
    value: str
    unit: str
    range_text: str
    position: Position | None
    report_href: str


@dataclass(frozen=True)
class TrendPage:
    name: str
    unit: str
    chart: TrendChart | None
    rows: list[TrendRow]
    limit_values_note: str


def _observation_date(observation: Observation) -> datetime.date:
    when = observation.report.collected_at or observation.observed_at or observation.report.arrived_at
    return timezone.localtime(when).date()


def trend_page(observations: list[Observation]) -> TrendPage:
    """The chart and the table of one test over time. Values given as a limit (">90", "<5") are in the table but
    not on the chart: a point drawn at 90 would claim a value the lab did not measure."""
    latest = observations[-1]
    unit = unit_for_reading(latest.unit)
    points = []
    limits = 0
    for observation in observations:
        if observation.value_comparator:
            limits += 1
            continue
        position = observation_position(observation)
        points.append(
            ChartPoint(
                day=_observation_date(observation),
                value=Decimal(observation.value_numeric),  # type: ignore[arg-type]
                label=f"{format_date(_observation_date(observation))}: {_number(observation.value_numeric)} {unit}"
                + (f", {position.words.lower()}" if position else ""),
                direction=position.direction if position and position.out_of_range else "",
                out_of_range=bool(position and position.out_of_range),
            )
        )
    chart = (
        trend_chart(
            points=points,
            low=latest.reference_low,
            high=latest.reference_high,
            unit=unit,
            title=f"{latest.name} over time",
            chart_id=f"trend-{latest.code}".lower(),
        )
        if points
        else None
    )
    note = ""
    if limits:
        note = (
            f"{limits} of these values {'was' if limits == 1 else 'were'} reported as more or less than a limit "
            "(for example “>90”), not as an exact number, so the chart does not show "
            f"{'it' if limits == 1 else 'them'}. The table shows every value."
        )
    rows = [
        TrendRow(
            date=format_date(_observation_date(o)),
            value=f"{o.value_comparator}{_number(o.value_numeric)}",
            unit=unit_for_reading(o.unit),
            range_text=o.reference_range,
            position=observation_position(o),
            report_href=reverse("results:report", kwargs={"public_id": o.report.public_id}),
        )
        for o in reversed(observations)
    ]
    return TrendPage(name=latest.name, unit=unit, chart=chart, rows=rows, limit_values_note=note)


def trend_table_rows(rows: list[TrendRow], *, voice: Voice) -> list[list[Cell]]:
    """The trend page's table, newest first: the date (a link to the report), the value, the range and the position
    against it in words with a symbol."""
    return [
        [
            {"header": "Date", "html": format_markup('<a href="{}">{}</a>', row.report_href, row.date)},
            {"header": "Result", "text": row.value + (f" {row.unit}" if row.unit else "")},
            {"header": "Range", "html": range_cell(row.range_text)},
            {
                "header": "Compared with the range",
                "html": format_markup('<span aria-hidden="true">{}</span> {}', row.position.symbol, row.position.words)
                if row.position
                else escape(_not_compared(row.range_text, voice=voice)),
            },
        ]
        for row in rows
    ]
