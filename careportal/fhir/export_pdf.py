"""The readable part of "download my record": a plain-English PDF summary, made with pikepdf (already used for
letters; no PDF-drawing library is installed). Text only, in the standard Helvetica fonts every PDF reader has,
A4 pages: headings, short paragraphs and lines, each wrapped by its printed width (Helvetica's metrics) so that
nothing runs off the page, flowing onto as many pages as the record needs, with "Page N of M" at the foot and no
heading left alone at the bottom of a page. Every section the copy holds is there even when empty ("None.").
No active content of any kind.
"""

from __future__ import annotations

import datetime
import io
from dataclasses import dataclass
from typing import Any

import pikepdf

from careportal.access.scopes import Scope
from careportal.core.formatting import format_date, format_datetime, format_nhs_number
from careportal.fhir.export_selectors import RecordContents, is_withdrawn

PAGE_WIDTH, PAGE_HEIGHT = 595, 842  # A4 in points
MARGIN = 56
COLUMN = PAGE_WIDTH - 2 * MARGIN  # the width every line must fit in, so nothing runs off the page
BODY_SIZE, HEADING_SIZE, TITLE_SIZE = 10, 13, 18
INDENT = 12  # points per indent step
WITHDRAWN_TEXT = "Withdrawn: the hospital withdrew this result after it was released. Its values are not shown."
NONE_TEXT = "None."

# Helvetica's advance widths (thousandths of an em, from Adobe's Helvetica AFM) for printable ASCII, so that lines
# are wrapped by how wide they print, not by how many characters they have ("WWW" is four times "iii").
_HELVETICA = dict(
    zip(
        " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~",
        [
            278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
            556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
            1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
            667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
            333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
            556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
        ],
        strict=True,
    )
)  # fmt: skip
_OTHER = 1000  # an accented or other Latin-1 letter: never wider than an em
_BOLD = 1.25  # Helvetica-Bold is at most a quarter wider than Helvetica, character for character


def text_width(text: str, *, size: int, bold: bool = False) -> float:
    """How wide `text` prints in Helvetica (or, at most, Helvetica-Bold) at `size` points."""
    em = sum(_HELVETICA.get(c, _OTHER) for c in text) / 1000 * size
    return em * _BOLD if bold else em


def wrap(text: str, *, width: float, size: int, bold: bool = False) -> list[str]:
    """`text` in lines that each print within `width` points, broken between words (a word too long for a line
    on its own, such as a long web address, is broken between characters). Never loses a character."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if text_width(candidate, size=size, bold=bold) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
            current = ""
        while text_width(word, size=size, bold=bold) > width:
            cut = len(word) - 1
            while cut > 1 and text_width(word[:cut], size=size, bold=bold) > width:
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
        current = word
    if current or not lines:
        lines.append(current)
    return lines


@dataclass(frozen=True)
class Line:
    text: str
    size: int = BODY_SIZE
    bold: bool = False
    space_before: int = 0
    indent: int = 0  # points from the left margin
    keep_with_next: bool = False  # a heading: never the last line of a page


def _latin1(text: str) -> bytes:
    # The standard fonts with WinAnsi encoding cover Latin-1: names with accents (Siobhán) print; anything else
    # becomes "?" rather than breaking the file.
    cleaned = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    cleaned = cleaned.replace("\u2013", "-").replace("\u2014", "-").replace("\u00b7", "-")
    return cleaned.encode("latin-1", errors="replace")


class Writer:
    def __init__(self) -> None:
        self.lines: list[Line] = []

    def _add(self, text: str, *, size: int = BODY_SIZE, bold: bool = False, space_before: int = 0, indent: int = 0,
             keep_with_next: bool = False) -> None:  # fmt: skip
        printable = _latin1(text).decode("latin-1")
        for number, line in enumerate(wrap(printable, width=COLUMN - indent, size=size, bold=bold)):
            self.lines.append(
                Line(
                    line,
                    size=size,
                    bold=bold,
                    space_before=space_before if number == 0 else 0,
                    indent=indent,
                    keep_with_next=keep_with_next,
                )
            )

    def title(self, text: str) -> None:
        self._add(text, size=TITLE_SIZE, bold=True)

    def heading(self, text: str) -> None:
        self._add(text, size=HEADING_SIZE, bold=True, space_before=14, keep_with_next=True)

    def subheading(self, text: str) -> None:
        self._add(text, bold=True, space_before=6, keep_with_next=True)

    def para(self, text: str, *, indent: int = 0) -> None:
        for paragraph in (text or "").splitlines() or [""]:
            self._add(paragraph, indent=indent * INDENT // 2)

    def render(self) -> bytes:
        pdf = pikepdf.new()
        fonts = pikepdf.Dictionary(
            F1=pdf.make_indirect(
                pikepdf.Dictionary(
                    Type=pikepdf.Name.Font,
                    Subtype=pikepdf.Name.Type1,
                    BaseFont=pikepdf.Name.Helvetica,
                    Encoding=pikepdf.Name.WinAnsiEncoding,
                )
            ),
            F2=pdf.make_indirect(
                pikepdf.Dictionary(
                    Type=pikepdf.Name.Font,
                    Subtype=pikepdf.Name("/Type1"),
                    BaseFont=pikepdf.Name("/Helvetica-Bold"),
                    Encoding=pikepdf.Name.WinAnsiEncoding,
                )
            ),
        )
        pages: list[list[Line]] = [[]]
        y: float = PAGE_HEIGHT - MARGIN
        for index, line in enumerate(self.lines):
            needed = line.space_before + line.size * 1.4
            if line.keep_with_next and index + 1 < len(self.lines):
                following = self.lines[index + 1]
                needed_here = needed + following.space_before + following.size * 1.4
            else:
                needed_here = needed
            if y - needed_here < MARGIN and pages[-1]:
                pages.append([])
                y = PAGE_HEIGHT - MARGIN
            pages[-1].append(line)
            y -= needed
        total = len(pages)
        for number, page_lines in enumerate(pages, start=1):
            instructions: list[Any] = []
            y = PAGE_HEIGHT - MARGIN
            for line in page_lines:
                y -= line.space_before + line.size * 1.4
                font = pikepdf.Name.F2 if line.bold else pikepdf.Name.F1
                instructions += [
                    ([], pikepdf.Operator("BT")),
                    ([font, line.size], pikepdf.Operator("Tf")),
                    ([MARGIN + line.indent, round(y, 2)], pikepdf.Operator("Td")),
                    ([pikepdf.String(_latin1(line.text))], pikepdf.Operator("Tj")),
                    ([], pikepdf.Operator("ET")),
                ]
            footer = f"Page {number} of {total}"
            instructions += [
                ([], pikepdf.Operator("BT")),
                ([pikepdf.Name.F1, 8], pikepdf.Operator("Tf")),
                ([MARGIN, MARGIN / 2], pikepdf.Operator("Td")),
                ([pikepdf.String(footer)], pikepdf.Operator("Tj")),
                ([], pikepdf.Operator("ET")),
            ]
            page = pdf.add_blank_page(page_size=(PAGE_WIDTH, PAGE_HEIGHT))
            page.obj.Resources = pikepdf.Dictionary(Font=fonts)
            page.obj.Contents = pdf.make_stream(pikepdf.unparse_content_stream(instructions))
        pdf.docinfo["/Title"] = "A copy of your hospital record"
        pdf.docinfo["/Producer"] = "CarePortal"
        out = io.BytesIO()
        pdf.save(out, deterministic_id=True)
        return out.getvalue()


def _value(observation: object) -> str:
    o = observation
    if getattr(o, "value_numeric", None) is not None:
        number = f"{o.value_numeric.normalize():f}"  # type: ignore[attr-defined]
        value = f"{o.value_comparator}{number}"  # type: ignore[attr-defined]
    else:
        value = getattr(o, "value_text", "") or ("Attachment" if getattr(o, "value_type", "") == "ED" else "")
    unit = getattr(o, "unit", "")
    return f"{value} {unit}".strip()


def summary_pdf(contents: RecordContents, *, made_at: datetime.datetime) -> bytes:
    """The summary of `contents`, in plain English, for the person who asked for it."""
    viewer = contents.viewer
    patient: Any = viewer.patient
    w = Writer()
    w.title("A copy of your hospital record" if not viewer.is_proxy else f"A copy of {patient.full_name}'s record")
    w.para(f"Name: {patient.full_name}")
    w.para(f"Date of birth: {format_date(patient.birth_date)}")
    if viewer.can(Scope.DETAILS) and patient.nhs_number:
        w.para(f"NHS number: {format_nhs_number(patient.nhs_number)}")
    w.para(f"Made by CarePortal on {format_datetime(made_at)}.")
    if viewer.is_proxy:
        w.para(
            "This copy holds only the parts of the record you can see in CarePortal as someone acting for "
            f"{patient.given_name}."
        )
    w.para(
        "This is a summary. The file that came with it (a FHIR file) holds the same information in a form that "
        "health apps can read."
    )

    if viewer.can(Scope.RESULTS):
        w.heading("Test results")
        if not contents.reports:
            w.para(f"{NONE_TEXT} No test results have been released yet.")
        for report in contents.reports:
            when = format_date(report.collected_at or report.reported_at or report.released_at)
            w.subheading(f"{report.test_name}, sample taken {when}" if when else report.test_name)
            if is_withdrawn(report):
                w.para(WITHDRAWN_TEXT, indent=2)
                continue
            if report.is_amended:
                w.para("Amended: the laboratory corrected this result after it was first reported.", indent=2)
            for observation in report.observations.all():
                line = f"{observation.name}: {_value(observation)}"
                if observation.reference_range:
                    unit = f" {observation.unit}" if observation.unit else ""
                    line += f" (normal range {observation.reference_range}{unit})"
                if observation.interpretation and observation.interpretation != "N":
                    line += f" - {observation.get_interpretation_display()}"
                w.para(line, indent=2)
                if observation.comment:
                    w.para(observation.comment, indent=4)
            if report.lab_comment:
                w.para(f"Comment: {report.lab_comment}", indent=2)

    if viewer.can(Scope.APPOINTMENTS):
        w.heading("Appointments")
        if not contents.appointments:
            w.para(NONE_TEXT)
        for appointment in contents.appointments:
            what = appointment.service_name or (appointment.clinic.name if appointment.clinic else "") or "Appointment"
            where = appointment.location_name or (appointment.clinic.site_name if appointment.clinic else "")
            w.para(
                f"{format_datetime(appointment.start)}: {what} ({appointment.get_kind_display().lower()}"
                f"{', ' + where if where else ''}) - {appointment.get_status_display().lower()}"
            )

    if viewer.can(Scope.LETTERS):
        w.heading("Letters")
        if not contents.letters:
            w.para(NONE_TEXT)
        else:
            w.para("The letters themselves can be downloaded from the Letters page in CarePortal.")
        for letter in contents.letters:
            team = f" from {letter.care_team.name}" if letter.care_team else ""
            w.para(f"{format_date(letter.letter_date)}: {letter.document_type}{team}")

    if viewer.can(Scope.MESSAGES):
        w.heading("Messages")
        if not contents.threads:
            w.para(NONE_TEXT)
        for copy in contents.threads:
            w.subheading(f"{copy.thread.subject} (with {copy.thread.care_team.name})")
            for message in copy.messages:
                w.para(f"{message.author_display or 'Patient'}, {format_datetime(message.created_at)}:", indent=2)
                w.para(message.body, indent=4)

    if viewer.can(Scope.ACCESS_LOG) and not viewer.is_proxy:
        w.heading("Who has viewed your record")
        if not contents.access_log:
            w.para(f"{NONE_TEXT} Nobody has viewed your record in CarePortal yet.")
        for entry in contents.access_log:
            w.para(entry.sentence)
    return w.render()
