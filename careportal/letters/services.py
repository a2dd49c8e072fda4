"""Changes to letters made by people and jobs: the daily list for the print room, marking letters printed, and the
print room's CSV export. (Letters arrive through careportal/letters/ingest.py.)"""

from __future__ import annotations

import csv
import datetime
import io

import structlog
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from careportal.access.layer import Viewer, staff_change_record
from careportal.audit.models import AccessAction
from careportal.audit.services import access_events_record_many
from careportal.core.schedule import LONDON
from careportal.core.tasks import enqueue_on_commit
from careportal.letters.access import print_room_viewer_for
from careportal.letters.models import PRINT_ROOM_GROUP, ExportStatus, Letter, PrintExport
from careportal.letters.selectors import export_rows, letters_for_next_list, letters_to_post
from careportal.letters.storage import export_file_delete, export_file_save, new_stored_name
from careportal.patients.models import CareTeam

logger = structlog.get_logger(__name__)

EXPORT_BATCH_SIZE = 500
EXPORT_AUDIT_LABEL = "name and address, in a list of letters to post"
CSV_HEADER = [
    "Name",
    "Address line 1",
    "Address line 2",
    "Town",
    "Postcode",
    "Hospital number",
    "Letter id",
    "Letter date",
    "Type",
    "Team",
    "Pages",
]
# A spreadsheet runs a cell that starts with one of these as a formula ("=HYPERLINK(...)" in a name).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def print_room_group_ensure() -> Group:
    """The "Print room" group with its permission, created if missing (the demo loader, and a database emptied
    since its migrations ran)."""
    group, _ = Group.objects.get_or_create(name=PRINT_ROOM_GROUP)
    group.permissions.add(*Permission.objects.filter(content_type__app_label="letters", codename="work_print_room"))
    return group


def print_list_freeze(*, today: datetime.date | None = None) -> int:
    """Put every letter to post that is on no list yet on today's list (the daily job, or the print room asking
    for it early). Idempotent: run again, it adds only what arrived since. Returns how many it added."""
    today = today or timezone.now().astimezone(LONDON).date()
    count = letters_for_next_list().update(print_listed_on=today)
    if count:
        logger.info("letters_print_list_made", letters=count)
    return count


@transaction.atomic
def letter_mark_printed(*, viewer: Viewer, letter: Letter) -> bool:
    """Mark one letter printed. False, changing nothing, when someone else marked it first (or it was withdrawn)."""
    now = timezone.now()
    updated = letters_to_post().filter(pk=letter.pk).update(printed_at=now, printed_by=viewer.user)
    if updated:
        staff_change_record(
            viewer=viewer, patient=letter.patient, object_label="a letter to post (printed)", obj=letter
        )
    return bool(updated)


@transaction.atomic
def print_export_mark_printed(*, viewer: Viewer, export: PrintExport) -> int:
    """Mark the letters an export holds printed (those still waiting: a letter replaced since goes on the next
    list again). Returns how many were marked."""
    now = timezone.now()
    waiting = letters_to_post().filter(print_exports=export)
    count = waiting.update(printed_at=now, printed_by=viewer.user)
    PrintExport.objects.filter(pk=export.pk).update(marked_printed_at=now)
    return count


@transaction.atomic
def print_export_create(*, viewer: Viewer) -> PrintExport:
    """An export of the letters now on the list. A small run is made at once; a large one (more than
    LETTER_EXPORT_BACKGROUND_OVER letters) by a background task, whose progress the export's page shows."""
    export = PrintExport.objects.create(requested_by=viewer.user, requested_at=timezone.now())
    ids = list(letters_to_post().values_list("pk", flat=True))
    through = PrintExport.letters.through
    through.objects.bulk_create([through(printexport_id=export.pk, letter_id=pk) for pk in ids], batch_size=1000)
    export.total = len(ids)
    export.save(update_fields=["total"])
    if export.total > settings.LETTER_EXPORT_BACKGROUND_OVER:
        from careportal.letters.tasks import build_print_export

        enqueue_on_commit(build_print_export, export_id=export.pk)
    else:
        print_export_build(export_id=export.pk)
        export.refresh_from_db()
    return export


def _cell(value: object) -> str:
    text = str(value)
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def _row(letter: Letter) -> list[str]:
    patient = letter.patient
    return [
        _cell(v)
        for v in (
            patient.full_name,
            patient.address_line_1,
            patient.address_line_2,
            patient.town,
            patient.postcode,
            patient.hospital_number,
            letter.public_id,
            letter.letter_date.astimezone(LONDON).date().isoformat(),
            letter.document_type,
            letter.care_team.name if letter.care_team else "",
            letter.page_count,
        )
    ]


def print_export_build(*, export_id: int) -> str:
    """Write an export's CSV into the letter storage, batch by batch, counting progress as it goes; each batch's
    patients are recorded in their access logs as exported to the print room. Safe to run twice: a finished export
    is left alone. Returns the export's status."""
    claimed = PrintExport.objects.filter(pk=export_id, status=ExportStatus.WAITING).update(status=ExportStatus.RUNNING)
    export = PrintExport.objects.select_related("requested_by").get(pk=export_id)
    if not claimed:
        return export.status
    viewer = print_room_viewer_for(export.requested_by)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    done = 0
    try:
        for batch in export_rows(export, batch_size=EXPORT_BATCH_SIZE):
            writer.writerows(_row(letter) for letter in batch)
            patients = list({letter.patient_id: letter.patient for letter in batch}.values())
            access_events_record_many(
                viewer=viewer, patients=patients, action=AccessAction.DOWNLOAD, object_label=EXPORT_AUDIT_LABEL
            )
            done += len(batch)
            PrintExport.objects.filter(pk=export.pk).update(done=done)
        stored_name = new_stored_name()
        # With a byte-order mark, so that spreadsheet programs read names with accents (Siobhán) correctly.
        export_file_save(stored_name=stored_name, data=("\ufeff" + buffer.getvalue()).encode("utf-8"))
    except Exception:
        logger.exception("letters_print_export_failed", export_id=export.pk)
        PrintExport.objects.filter(pk=export.pk).update(status=ExportStatus.FAILED, finished_at=timezone.now())
        return ExportStatus.FAILED
    PrintExport.objects.filter(pk=export.pk).update(
        status=ExportStatus.READY, stored_name=stored_name, done=done, finished_at=timezone.now()
    )
    return ExportStatus.READY


def print_export_downloaded(*, viewer: Viewer, export: PrintExport) -> None:
    """Record a download of an export in the access log of every patient it names (one query per batch)."""
    for batch in export_rows(export, batch_size=EXPORT_BATCH_SIZE):
        patients = list({letter.patient_id: letter.patient for letter in batch}.values())
        access_events_record_many(
            viewer=viewer, patients=patients, action=AccessAction.DOWNLOAD, object_label=EXPORT_AUDIT_LABEL
        )


def print_exports_fail_stalled(*, older_than: datetime.timedelta = datetime.timedelta(hours=1)) -> int:
    """Mark as failed the exports still waiting or being made long after they were asked for (the worker stopped
    part way), so that their page says so and the print room makes another. Returns how many."""
    return PrintExport.objects.filter(
        status__in=[ExportStatus.WAITING, ExportStatus.RUNNING], requested_at__lt=timezone.now() - older_than
    ).update(status=ExportStatus.FAILED, finished_at=timezone.now())


def print_exports_expire(*, older_than: datetime.timedelta = datetime.timedelta(days=7)) -> int:
    """Delete exports (their files hold names and addresses) older than `older_than`. Returns how many."""
    old = list(PrintExport.objects.filter(requested_at__lt=timezone.now() - older_than))
    for export in old:
        if export.stored_name:
            export_file_delete(export.stored_name)
        export.delete()
    return len(old)


@transaction.atomic
def letters_sensitive_category_refresh(*, care_team_ids: list[int]) -> int:
    """Give the letters of these care teams their team's sensitive category as it is now, in one UPDATE, after an
    administrator changed it: a proxy without the grant stops seeing them at once. Returns how many letters."""
    team_category = CareTeam.objects.filter(pk=OuterRef("care_team_id")).values("sensitive_category")[:1]
    return Letter.objects.filter(care_team_id__in=care_team_ids).update(sensitive_category=Subquery(team_category))
