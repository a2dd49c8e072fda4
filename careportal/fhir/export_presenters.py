"""What the "download my record" pages show."""

from dataclasses import dataclass

from django.urls import reverse

from careportal.access.scopes import Scope
from careportal.core.formatting import format_datetime
from careportal.fhir.models import RecordExport, RecordExportStatus
from careportal.patients.voice import Voice

# What each part of the record is, for the page that explains what the copy holds.
PART_DESCRIPTIONS = {
    Scope.DETAILS: "personal details the hospital has on record (NHS number, address, phone numbers and email)",
    Scope.RESULTS: "test results that have been released, with their values, units and normal ranges",
    Scope.APPOINTMENTS: "appointments, past and upcoming",
    Scope.LETTERS: "a list of letters (the letters themselves stay on the Letters page)",
    Scope.MESSAGES: "messages with care teams: the subject, the dates and what was written",
    Scope.ACCESS_LOG: "the log of who has viewed or changed your record",
}
PART_ORDER = [Scope.DETAILS, Scope.RESULTS, Scope.APPOINTMENTS, Scope.LETTERS, Scope.MESSAGES, Scope.ACCESS_LOG]


def parts(scopes: frozenset[Scope], voice: Voice) -> list[str]:
    described = [PART_DESCRIPTIONS[scope] for scope in PART_ORDER if scope in scopes]
    if not voice.own:
        described = [d.replace("your record", f"{voice.possessive} record") for d in described]
    return described


def _size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    return f"{max(1, round(size / 1024))} KB"


@dataclass(frozen=True)
class ExportPage:
    status: str
    percent: int
    step: str
    requested: str
    ready: str
    expires: str
    downloaded: str
    error: str
    page_href: str
    json_href: str
    pdf_href: str
    json_size: str
    pdf_size: str
    finished: bool


def export_page(export: RecordExport) -> ExportPage:
    def href(name: str) -> str:
        return reverse(name, kwargs={"public_id": export.public_id})

    return ExportPage(
        status=export.status,
        percent=max(0, min(100, export.progress)),
        step=export.step or RecordExportStatus(export.status).label,
        requested=format_datetime(export.created_at),
        ready=format_datetime(export.ready_at) if export.ready_at else "",
        expires=format_datetime(export.expires_at) if export.expires_at else "",
        downloaded=format_datetime(export.downloaded_at) if export.downloaded_at else "",
        error=export.error,
        page_href=href("export:detail"),
        json_href=href("export:download-json"),
        pdf_href=href("export:download-pdf"),
        json_size=_size(export.bundle_size),
        pdf_size=_size(export.pdf_size),
        finished=not export.in_progress,
    )


def download_name(export: RecordExport, extension: str) -> str:
    # No name or number of the patient in the file name: it shows in download lists and shared folders.
    day = (export.ready_at or export.created_at).date().isoformat()
    return f"hospital-record-{day}.{extension}"
