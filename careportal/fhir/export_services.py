"""Changes for "download my record": asking for a copy, making it (the background task), a download, and expiry.

A copy is made by `record_export_build`, run by a worker (careportal/fhir/export_tasks.py): it rebuilds the
requester's viewer from who they are now (`export_viewer`; access that ended meanwhile fails the copy with a
reason), audits each part read, writes the FHIR Bundle and the PDF summary into private storage, and tells the
requester by email, with no clinical detail. Files are kept RECORD_EXPORT_DAYS days after the copy is ready; the
periodic job `record_exports_expire` deletes them.
"""

from __future__ import annotations

import datetime
import json

import structlog
from django.db import IntegrityError, transaction
from django.utils import timezone

from careportal.access.layer import Viewer, access_patient_record
from careportal.access.scopes import Scope
from careportal.audit.models import AccessAction, ActorRole
from careportal.core.tasks import enqueue_on_commit
from careportal.fhir.export_access import ExportAccessEnded, access_export_request, export_viewer
from careportal.fhir.export_bundle import bundle_from_contents
from careportal.fhir.export_pdf import summary_pdf
from careportal.fhir.export_selectors import export_in_progress, record_contents
from careportal.fhir.export_storage import BUNDLE, PDF, export_file_delete, export_file_save, new_export_file_name
from careportal.fhir.models import RecordExport, RecordExportRole, RecordExportStatus
from careportal.notifications.kinds import Kind
from careportal.notifications.services import notification_send

logger = structlog.get_logger(__name__)

RECORD_EXPORT_DAYS = 7
# A copy still waiting or being made this long after it was asked for: its worker stopped. It is failed, so that
# its page offers a retry.
STALLED_AFTER = datetime.timedelta(hours=1)
GENERIC_ERROR = "Something went wrong while making the copy."

# The steps of making a copy, as the progress page names them, with the percentage reached when each starts.
STEPS = [
    (5, "Checking what the copy can include"),
    (15, "Collecting test results, appointments, letters and messages"),
    (45, "Making the file for health apps (FHIR)"),
    (70, "Making the summary you can read (PDF)"),
    (90, "Saving the files"),
]
# What each part of the record is called in the access log when a copy reads it.
PART_LABELS = {
    Scope.DETAILS: "personal details (for a copy of the record)",
    Scope.RESULTS: "test results (for a copy of the record)",
    Scope.APPOINTMENTS: "appointments (for a copy of the record)",
    Scope.LETTERS: "letters (for a copy of the record)",
    Scope.MESSAGES: "messages (for a copy of the record)",
    Scope.ACCESS_LOG: "record access log (for a copy of the record)",
}


@transaction.atomic
def record_export_request(*, viewer: Viewer) -> tuple[RecordExport, bool]:
    """Ask for a copy of the record in view. One copy is made at a time per person per record: while one is
    waiting or being made, that one is returned instead (created False). Http404 (audited) when the viewer may
    have no copy of this record."""
    existing = export_in_progress(viewer=viewer)
    if existing is not None:
        return existing, False
    scopes = access_export_request(viewer=viewer, action=AccessAction.CREATE)
    try:
        with transaction.atomic():
            export = RecordExport.objects.create(
                patient=viewer.patient,  # type: ignore[misc]  # set: access_export_request refused otherwise
                requested_by=viewer.user,
                requested_as=RecordExportRole.PROXY if viewer.role == ActorRole.PROXY else RecordExportRole.PATIENT,
                scopes=sorted(scope.value for scope in scopes),
                created_at=timezone.now(),
                step="Waiting to start",
            )
    except IntegrityError:
        # Asked twice at once (two tabs): the other request made it.
        existing = export_in_progress(viewer=viewer)
        if existing is None:
            raise
        return existing, False
    from careportal.fhir.export_tasks import build_record_export

    enqueue_on_commit(build_record_export, export_id=export.pk)
    return export, True


def _progress(export: RecordExport, step: int) -> None:
    percent, label = STEPS[step]
    RecordExport.objects.filter(pk=export.pk).update(progress=percent, step=label)


def _fail(export: RecordExport, reason: str) -> str:
    RecordExport.objects.filter(pk=export.pk).update(
        status=RecordExportStatus.FAILED, failed_at=timezone.now(), error=reason[:300], step=""
    )
    return RecordExportStatus.FAILED


def record_export_build(*, export_id: int) -> str:
    """Make a copy (see the module). Safe to run twice: only a waiting copy is claimed. Returns its status."""
    claimed = RecordExport.objects.filter(pk=export_id, status=RecordExportStatus.QUEUED).update(
        status=RecordExportStatus.BUILDING, started_at=timezone.now(), progress=STEPS[0][0], step=STEPS[0][1]
    )
    export = RecordExport.objects.select_related("requested_by", "patient").get(pk=export_id)
    if not claimed:
        return export.status
    try:
        viewer = export_viewer(export)
    except ExportAccessEnded as ended:
        return _fail(export, ended.reason)
    bundle_name = pdf_name = ""
    try:
        _progress(export, 1)
        for scope in sorted(viewer.scopes):
            access_patient_record(viewer=viewer, scope=scope, object_label=PART_LABELS[scope])
        contents = record_contents(viewer=viewer)
        made_at = timezone.now()
        _progress(export, 2)
        bundle = json.dumps(bundle_from_contents(contents, now=made_at), ensure_ascii=False, indent=2).encode()
        _progress(export, 3)
        pdf = summary_pdf(contents, made_at=made_at)
        _progress(export, 4)
        bundle_name, pdf_name = new_export_file_name(), new_export_file_name()
        export_file_save(stored_name=bundle_name, kind=BUNDLE, data=bundle)
        export_file_save(stored_name=pdf_name, kind=PDF, data=pdf)
    except Exception:
        # The log names the copy only: never the patient or anything from the record.
        logger.exception("record_export_failed", export_id=export.pk)
        export_file_delete(stored_name=bundle_name, kind=BUNDLE)
        export_file_delete(stored_name=pdf_name, kind=PDF)
        return _fail(export, GENERIC_ERROR)
    now = timezone.now()
    with transaction.atomic():
        RecordExport.objects.filter(pk=export.pk).update(
            status=RecordExportStatus.READY,
            progress=100,
            step="Ready",
            bundle_name=bundle_name,
            pdf_name=pdf_name,
            bundle_size=len(bundle),
            pdf_size=len(pdf),
            ready_at=now,
            expires_at=now + datetime.timedelta(days=RECORD_EXPORT_DAYS),
        )
        notification_send(kind=Kind.EXPORT_READY, user=export.requested_by)
    return RecordExportStatus.READY


def record_export_downloaded(*, export: RecordExport) -> None:
    """Note the first download (the access layer audited every one)."""
    if export.downloaded_at is None:
        RecordExport.objects.filter(pk=export.pk, downloaded_at__isnull=True).update(downloaded_at=timezone.now())


def record_exports_fail_stalled(*, now: datetime.datetime | None = None) -> int:
    now = now or timezone.now()
    return RecordExport.objects.filter(
        status__in=[RecordExportStatus.QUEUED, RecordExportStatus.BUILDING], created_at__lt=now - STALLED_AFTER
    ).update(status=RecordExportStatus.FAILED, failed_at=now, error="Making the copy took too long.", step="")


def record_exports_expire(*, now: datetime.datetime | None = None) -> int:
    """Delete the files of copies past their expiry, and mark them expired. Returns how many."""
    now = now or timezone.now()
    expired = list(RecordExport.objects.filter(status=RecordExportStatus.READY, expires_at__lte=now))
    for export in expired:
        export_file_delete(stored_name=export.bundle_name, kind=BUNDLE)
        export_file_delete(stored_name=export.pdf_name, kind=PDF)
        RecordExport.objects.filter(pk=export.pk).update(status=RecordExportStatus.EXPIRED, bundle_name="", pdf_name="")
    if expired:
        logger.info("record_exports_expired", count=len(expired))
    return len(expired)
