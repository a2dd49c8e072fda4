"""What the letters pages show: the patient's list and a letter's page, and the print room's list and export."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.urls import reverse

from careportal.core.formatting import format_date, format_datetime
from careportal.core.table_rows import summary_rows
from careportal.letters.models import Delivery, ExportStatus, Letter, PrintExport
from careportal.patients.voice import Voice


def file_size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024))} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def download_name(letter: Letter) -> str:
    """The file name a download gets: the letter's date, never anything about the patient."""
    return f"letter-{letter.letter_date:%Y-%m-%d}.pdf"


@dataclass(frozen=True)
class LetterItem:
    href: str
    title: str
    team: str
    date: str


def letter_items(letters: list[Letter]) -> list[LetterItem]:
    return [
        LetterItem(
            href=reverse("letters:letter", kwargs={"public_id": letter.public_id}),
            title=letter.document_type,
            team=letter.care_team.name if letter.care_team else "",
            date=format_date(letter.letter_date),
        )
        for letter in letters
    ]


def empty_sentence(voice: Voice) -> str:
    return f"{voice.has} no letters. Letters from {voice.possessive} clinics will appear here as soon as they are sent."


def delivery_sentence(letters_by_post: bool, voice: Voice) -> str:
    if letters_by_post:
        return f"We also send {voice.possessive} letters by post."
    return f"{voice.Possessive} letters are paperless: we do not send them by post."


@dataclass(frozen=True)
class LetterPage:
    title: str
    whose: str
    summary_rows: list[dict[str, Any]]
    view_href: str
    download_href: str
    download_text: str
    posted_sentence: str
    updated_sentence: str


def letter_page(letter: Letter, *, voice: Voice, patient_name: str) -> LetterPage:
    pages = f"{letter.page_count} page{'s' if letter.page_count != 1 else ''}"
    rows = [("Date", format_date(letter.letter_date))]
    if letter.care_team:
        rows.append(("From", letter.care_team.name))
    if letter.author:
        rows.append(("Written by", letter.author))
    rows.append(("Length", pages))
    return LetterPage(
        title=letter.document_type,
        whose="" if voice.own else patient_name,
        summary_rows=summary_rows(rows),
        view_href=reverse("letters:view", kwargs={"public_id": letter.public_id}),
        download_href=reverse("letters:download", kwargs={"public_id": letter.public_id}),
        download_text=f"Download the letter (PDF, {file_size(letter.size)})",
        posted_sentence=(
            f"We have also sent this letter to {voice.subject} by post."
            if letter.delivery == Delivery.POST
            else "This letter was not sent by post."
        ),
        updated_sentence=(
            f"The hospital updated this letter on {format_date(letter.version_at)}. This is the latest version."
            if letter.version > 1
            else ""
        ),
    )


# The print room ------------------------------------------------------------------------------------------------


def to_post_rows(letters: list[Letter]) -> list[dict[str, Any]]:
    """Table rows for the print room: who to post to and what, with a "mark as printed" form per row (built by the
    template from `public_id`)."""
    return [
        {
            "public_id": str(letter.public_id),
            "name": letter.patient.full_name,
            "address": letter.patient.address_lines,
            "hospital_number": letter.patient.hospital_number,
            "type": letter.document_type,
            "team": letter.care_team.name if letter.care_team else "",
            "date": format_date(letter.letter_date),
            "listed_on": format_date(letter.print_listed_on),
            "pages": letter.page_count,
        }
        for letter in letters
    ]


@dataclass(frozen=True)
class ExportPage:
    status: str
    status_label: str
    total: int
    done: int
    percent: int
    progress_text: str
    requested: str
    download_href: str
    mark_href: str
    page_href: str
    marked: str
    finished: bool


def export_page(export: PrintExport) -> ExportPage:
    done = min(export.done, export.total)
    percent = round(100 * done / export.total) if export.total else 100
    return ExportPage(
        status=export.status,
        status_label=ExportStatus(export.status).label,
        total=export.total,
        done=done,
        percent=percent,
        progress_text=f"{done:,} of {export.total:,} letters added",
        requested=format_datetime(export.requested_at),
        download_href=reverse("letters:export-download", kwargs={"export_id": export.public_id}),
        mark_href=reverse("letters:export-printed", kwargs={"export_id": export.public_id}),
        page_href=reverse("letters:export", kwargs={"export_id": export.public_id}),
        marked=format_datetime(export.marked_printed_at) if export.marked_printed_at else "",
        finished=export.status in (ExportStatus.READY, ExportStatus.FAILED),
    )
