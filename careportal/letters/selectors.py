"""Reads for the letters pages: the patient's list, and the print room's list of letters to post."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import QuerySet

from careportal.access.layer import Viewer
from careportal.letters.access import visible_letters
from careportal.letters.models import Delivery, Letter, LetterStatus, PrintExport


def letters_for_list(*, viewer: Viewer) -> QuerySet[Letter]:
    """The patient's letters, newest first, with their teams (one query however many there are)."""
    return visible_letters(viewer=viewer).select_related("care_team").order_by("-letter_date", "-pk")


def letters_count(*, viewer: Viewer) -> int:
    """How many letters the viewer can read (for the home page card: a count, never what they are)."""
    return visible_letters(viewer=viewer).count()


def _waiting_to_post() -> QuerySet[Letter]:
    return Letter.objects.filter(delivery=Delivery.POST, status=LetterStatus.CURRENT, printed_at__isnull=True)


def letters_to_post() -> QuerySet[Letter]:
    """The print room's list: letters on a day's list (frozen by the daily job) not yet printed, oldest list
    first, with the patient and team for the page (one query)."""
    return (
        _waiting_to_post()
        .filter(print_listed_on__isnull=False)
        .select_related("patient", "care_team")
        .order_by("print_listed_on", "pk")
    )


def letters_for_next_list_count() -> int:
    """Letters to post that arrived after today's list was made: they go on the next one."""
    return _waiting_to_post().filter(print_listed_on__isnull=True).count()


def letters_for_next_list() -> QuerySet[Letter]:
    return _waiting_to_post().filter(print_listed_on__isnull=True)


def export_rows(export: PrintExport, *, batch_size: int) -> Iterator[list[Letter]]:
    """The export's letters with their patients and teams, in batches of `batch_size` (one query per batch, by
    primary key, so memory stays flat however long the run)."""
    last_pk = 0
    letters = export.letters.select_related("patient", "care_team").order_by("pk")
    while True:
        batch = list(letters.filter(pk__gt=last_pk)[:batch_size])
        if not batch:
            return
        yield batch
        last_pk = batch[-1].pk


def exports_recent(*, limit: int = 5) -> list[PrintExport]:
    return list(PrintExport.objects.select_related("requested_by").order_by("-requested_at")[:limit])
