"""The patient's (and proxy's) letters: /letters/. Thin: access, select, present, render."""

from uuid import UUID

import structlog
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from careportal.access.decorators import patient_area
from careportal.access.layer import Viewer, access_patient_record
from careportal.access.scopes import Scope
from careportal.audit.models import AccessAction
from careportal.home.presenters import patient_navigation
from careportal.letters import presenters, selectors
from careportal.letters.access import access_letter
from careportal.letters.ingest import delivery_for
from careportal.letters.models import Delivery
from careportal.letters.storage import letter_file_open
from careportal.patients.voice import voice_for

LETTERS_PER_PAGE = 20
logger = structlog.get_logger(__name__)


@patient_area
def letter_list(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    patient = access_patient_record(viewer=viewer, scope=Scope.LETTERS, object_label="letters")
    page = Paginator(selectors.letters_for_list(viewer=viewer), LETTERS_PER_PAGE).get_page(request.GET.get("page"))
    voice = voice_for(viewer)
    return render(
        request,
        "letters/patient/list.jinja",
        {
            "page_title": "Letters",
            "viewer": viewer,
            "voice": voice,
            "patient": patient,
            "page": page,
            "items": presenters.letter_items(list(page.object_list)),
            "empty_sentence": presenters.empty_sentence(voice),
            "delivery_sentence": presenters.delivery_sentence(delivery_for(patient) == Delivery.POST, voice),
            "navigation_items": patient_navigation(viewer),
        },
    )


@patient_area
def letter_detail(request: HttpRequest, viewer: Viewer, public_id: UUID) -> HttpResponse:
    letter = access_letter(viewer=viewer, public_id=public_id)
    voice = voice_for(viewer)
    page = presenters.letter_page(letter, voice=voice, patient_name=viewer.patient.full_name)
    return render(
        request,
        "letters/patient/letter.jinja",
        {
            "page_title": letter.document_type,
            "viewer": viewer,
            "voice": voice,
            "letter": page,
            "back_link": {"href": reverse("letters:list"), "text": "Back to letters"},
            "navigation_items": patient_navigation(viewer),
        },
    )


def _pdf_response(request: HttpRequest, viewer: Viewer, public_id: UUID, *, as_attachment: bool) -> HttpResponse:
    letter = access_letter(
        viewer=viewer,
        public_id=public_id,
        object_label="a letter (downloaded)" if as_attachment else "a letter (opened)",
        action=AccessAction.DOWNLOAD,
    )
    try:
        stored_file = letter_file_open(letter.stored_name)
    except OSError:
        # The record says there is a letter but the storage has no file (a restore that missed the files, a
        # storage outage): tell the patient plainly, and the operators through the log (the letter's internal id,
        # nothing about the patient).
        logger.error("letter_file_unavailable", letter_id=letter.pk)
        return render(
            request,
            "letters/patient/file_unavailable.jinja",
            {
                "page_title": "Sorry, we cannot open this letter at the moment",
                "back_link": {"href": reverse("letters:list"), "text": "Back to letters"},
            },
            status=503,
        )
    response = FileResponse(
        stored_file,
        as_attachment=as_attachment,
        filename=presenters.download_name(letter),
        content_type="application/pdf",
    )
    # Exactly the stored bytes, as a PDF and nothing else: no sniffing, no scripts or same-origin powers if a
    # browser renders it, and never kept in any cache.
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "private, no-store"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


@patient_area
def letter_view(request: HttpRequest, viewer: Viewer, public_id: UUID) -> HttpResponse:
    """The PDF, for the browser to show (Content-Disposition: inline)."""
    return _pdf_response(request, viewer, public_id, as_attachment=False)


@patient_area
def letter_download(request: HttpRequest, viewer: Viewer, public_id: UUID) -> HttpResponse:
    """The PDF, to save (Content-Disposition: attachment)."""
    return _pdf_response(request, viewer, public_id, as_attachment=True)
