"""The print room: /staff/letters/to-post/. Today's list of letters to post, marking them printed, and the CSV
export (made in the background for large runs, with a progress page that refreshes itself; htmx polls it when
JavaScript runs). Only the Print room group and superusers (`print_room_viewer`); everyone else gets an audited 404.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from careportal.access.layer import Viewer
from careportal.letters import presenters, selectors, services
from careportal.letters.access import access_export, access_letter_to_post, print_room_viewer, to_post_listed
from careportal.letters.forms import MarkExportPrintedForm
from careportal.letters.models import ExportStatus
from careportal.letters.storage import export_file_open

PAGE_SIZE = 50
# How often the export's page refreshes itself while the export is being made.
REFRESH_SECONDS = 2

ViewFunc = Callable[..., HttpResponse]


def print_room_area(view: ViewFunc) -> ViewFunc:
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        viewer = print_room_viewer(request)
        request.viewer = viewer  # type: ignore[attr-defined]
        return view(request, viewer, *args, **kwargs)

    return wrapper


@print_room_area
def to_post(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    page = Paginator(selectors.letters_to_post(), PAGE_SIZE).get_page(request.GET.get("page"))
    letters = list(page.object_list)
    to_post_listed(viewer=viewer, letters=letters)
    return render(
        request,
        "letters/print_room/to_post.jinja",
        {
            "page_title": "Letters to post",
            "page": page,
            "rows": presenters.to_post_rows(letters),
            "next_list_count": selectors.letters_for_next_list_count(),
            "exports": [presenters.export_page(export) for export in selectors.exports_recent()],
        },
    )


@require_POST
@print_room_area
def make_list(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    added = services.print_list_freeze()
    if added:
        messages.success(request, f"{added} letter{'s' if added != 1 else ''} added to today's list.")
    else:
        messages.info(request, "There were no new letters to add.")
    return redirect("letters:to-post")


@require_POST
@print_room_area
def letter_printed(request: HttpRequest, viewer: Viewer, letter_id: UUID) -> HttpResponse:
    letter = access_letter_to_post(viewer=viewer, public_id=letter_id)
    if services.letter_mark_printed(viewer=viewer, letter=letter):
        messages.success(request, "Letter marked as printed.")
    else:
        messages.info(request, "That letter was already marked as printed.")
    return redirect("letters:to-post")


@require_POST
@print_room_area
def export_start(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    export = services.print_export_create(viewer=viewer)
    return redirect("letters:export", export_id=export.public_id)


@print_room_area
def export_detail(request: HttpRequest, viewer: Viewer, export_id: UUID) -> HttpResponse:
    # The page names no patient (the file does), and htmx asks for it every few seconds: nothing to record here.
    export = access_export(viewer=viewer, public_id=export_id)
    page = presenters.export_page(export)
    context = {
        "page_title": "Export of letters to post",
        "export": page,
        "form": MarkExportPrintedForm(),
        "refresh_seconds": REFRESH_SECONDS,
        "back_link": {"href": reverse("letters:to-post"), "text": "Back to letters to post"},
    }
    if request.htmx and not page.finished:  # type: ignore[attr-defined]
        return render(request, "letters/print_room/_export_progress.jinja", context)
    response = render(request, "letters/print_room/export.jinja", context)
    if request.htmx and page.finished:  # type: ignore[attr-defined]
        # The export finished: load the whole page, with its download link, in place of the progress bar.
        response["HX-Refresh"] = "true"
    return response


@print_room_area
def export_download(request: HttpRequest, viewer: Viewer, export_id: UUID) -> HttpResponse:
    export = access_export(viewer=viewer, public_id=export_id)
    if export.status != ExportStatus.READY:
        return redirect("letters:export", export_id=export.public_id)
    services.print_export_downloaded(viewer=viewer, export=export)
    response = FileResponse(
        export_file_open(export.stored_name),
        as_attachment=True,
        filename=f"letters-to-post-{export.requested_at:%Y-%m-%d-%H%M}.csv",
        content_type="text/csv; charset=utf-8",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response  # type: ignore[return-value]


@require_POST
@print_room_area
def export_printed(request: HttpRequest, viewer: Viewer, export_id: UUID) -> HttpResponse:
    export = access_export(viewer=viewer, public_id=export_id)
    form = MarkExportPrintedForm(request.POST)
    if not form.is_valid():
        page = presenters.export_page(export)
        return render(
            request,
            "letters/print_room/export.jinja",
            {
                "page_title": "Export of letters to post",
                "export": page,
                "form": form,
                "refresh_seconds": REFRESH_SECONDS,
                "back_link": {"href": reverse("letters:to-post"), "text": "Back to letters to post"},
            },
            status=400,
        )
    count = services.print_export_mark_printed(viewer=viewer, export=export)
    messages.success(request, f"{count} letter{'s' if count != 1 else ''} marked as printed.")
    return redirect("letters:to-post")
