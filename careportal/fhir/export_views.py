"""'Download a copy of your record': /download-your-record/. Thin: access, call a service, present, render."""

from uuid import UUID

from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from careportal.access.decorators import patient_area
from careportal.access.layer import Viewer
from careportal.audit.models import AccessAction
from careportal.fhir import export_presenters as presenters
from careportal.fhir.export_access import access_export_request, access_record_export
from careportal.fhir.export_selectors import export_current
from careportal.fhir.export_services import RECORD_EXPORT_DAYS, record_export_downloaded, record_export_request
from careportal.fhir.export_storage import BUNDLE, PDF, export_file_open
from careportal.fhir.models import RecordExportStatus
from careportal.home.presenters import patient_navigation
from careportal.patients.voice import voice_for

# How often the progress page refreshes itself while the copy is being made.
REFRESH_SECONDS = 2
START_TITLE = "Download a copy of your record"


@patient_area
def export_start(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    scopes = access_export_request(viewer=viewer)
    latest = export_current(viewer=viewer)
    if latest is not None and latest.in_progress:
        return redirect("export:detail", public_id=latest.public_id)
    voice = voice_for(viewer)
    return render(
        request,
        "fhir/export_start.jinja",
        {
            "page_title": START_TITLE if voice.own else f"Download a copy of {voice.possessive} record",
            "voice": voice,
            "parts": presenters.parts(scopes, voice),
            "days": RECORD_EXPORT_DAYS,
            "latest": presenters.export_page(latest) if latest is not None else None,
            "navigation_items": patient_navigation(viewer),
        },
    )


@require_POST
@patient_area
def export_request(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    export, _created = record_export_request(viewer=viewer)
    return redirect("export:detail", public_id=export.public_id)


@patient_area
def export_detail(request: HttpRequest, viewer: Viewer, public_id: UUID) -> HttpResponse:
    # The page shows the state of the copy, not the record: htmx asks for it every few seconds, so it is not
    # audited as a view (the request and each download are).
    export = access_record_export(viewer=viewer, public_id=public_id)
    page = presenters.export_page(export)
    voice = voice_for(viewer)
    context = {
        "page_title": START_TITLE if voice.own else f"Download a copy of {voice.possessive} record",
        "voice": voice,
        "export": page,
        "days": RECORD_EXPORT_DAYS,
        "refresh_seconds": REFRESH_SECONDS,
        "back_link": {"href": reverse("export:start"), "text": "Back"},
        "navigation_items": patient_navigation(viewer),
    }
    if request.htmx and not page.finished:  # type: ignore[attr-defined]
        return render(request, "fhir/_export_progress.jinja", context)
    response = render(request, "fhir/export_detail.jinja", context)
    if request.htmx and page.finished:  # type: ignore[attr-defined]
        # The copy is made (or failed): load the whole page, with its downloads, in place of the progress bar.
        response["HX-Refresh"] = "true"
    return response


def _download(viewer: Viewer, public_id: UUID, *, kind: str) -> HttpResponse:
    label = "a copy of your record (FHIR file)" if kind == BUNDLE else "a copy of your record (PDF summary)"
    export = access_record_export(viewer=viewer, public_id=public_id, action=AccessAction.DOWNLOAD, object_label=label)
    if export.status != RecordExportStatus.READY:
        return redirect("export:detail", public_id=export.public_id)
    record_export_downloaded(export=export)
    stored_name = export.bundle_name if kind == BUNDLE else export.pdf_name
    response = FileResponse(
        export_file_open(stored_name=stored_name, kind=kind),
        as_attachment=True,
        filename=presenters.download_name(export, kind),
        content_type="application/fhir+json" if kind == BUNDLE else "application/pdf",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "private, no-store"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response  # type: ignore[return-value]


@patient_area
def export_download_json(request: HttpRequest, viewer: Viewer, public_id: UUID) -> HttpResponse:
    return _download(viewer, public_id, kind=BUNDLE)


@patient_area
def export_download_pdf(request: HttpRequest, viewer: Viewer, public_id: UUID) -> HttpResponse:
    return _download(viewer, public_id, kind=PDF)
