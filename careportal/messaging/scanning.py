"""The optional virus check: ClamAV's daemon (clamd), asked over its INSTREAM command.

With CLAMAV_SOCKET (a Unix socket) or CLAMAV_HOST/CLAMAV_PORT set, every new attachment is held as PENDING until
clamd has looked at it: CLEAN releases it for download; INFECTED deletes the file and keeps the row, so the thread
still shows that something was attached and blocked; FAILED (clamd down, a time-out, a refusal) holds it until
`attachments_rescan_due` (jobs.py) tries again. clamav-client speaks the protocol (`instream`): the file is sent
in length-prefixed chunks ending with a zero-length chunk, and clamd answers `stream: OK` or
`stream: <signature> FOUND`.
"""

from __future__ import annotations

import datetime

import structlog
from clamav_client.clamd import ClamdError, ClamdNetworkSocket, ClamdUnixSocket
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from careportal.messaging.attachments import attachment_file_delete, attachment_storage, stored_file_name
from careportal.messaging.models import Attachment, ScanStatus

logger = structlog.get_logger(__name__)

# Wait this long before trying a scan again: a queued scan may simply not have run yet, and clamd may be restarting.
RESCAN_AFTER = datetime.timedelta(minutes=10)
# Stop retrying after this long: the attachment stays held (FAILED) and an operator looks (docs/messaging.md).
RESCAN_GIVE_UP_AFTER = datetime.timedelta(days=3)
# At most this many scans enqueued per run of the job, so a long clamd outage cannot flood the queue.
RESCAN_BATCH = 200


def scanner_configured() -> bool:
    return bool(settings.CLAMAV_SOCKET or settings.CLAMAV_HOST)


def _client() -> ClamdNetworkSocket:
    timeout = settings.CLAMAV_TIMEOUT_SECONDS
    if settings.CLAMAV_SOCKET:
        return ClamdUnixSocket(path=settings.CLAMAV_SOCKET, timeout=timeout)  # type: ignore[arg-type]
    return ClamdNetworkSocket(host=settings.CLAMAV_HOST, port=settings.CLAMAV_PORT, timeout=timeout)


def attachment_scan(*, attachment_id: int) -> str:
    """Scan one attachment with clamd and record the outcome. Returns the attachment's scan status.

    Only PENDING and FAILED attachments are scanned, and the outcome is written only if the status is still one of
    those, so a scan enqueued twice (by the job and the original enqueue) does no harm.
    """
    attachment = Attachment.objects.filter(pk=attachment_id).first()
    if attachment is None:
        return "missing"
    if attachment.scan_status not in {ScanStatus.PENDING, ScanStatus.FAILED}:
        return str(attachment.scan_status)
    if not scanner_configured():
        # Scanning was switched off after the file arrived: it stays held rather than being waved through.
        logger.warning("attachment_scan_not_configured", attachment_id=attachment_id)
        return _record(attachment, ScanStatus.FAILED)

    try:
        with attachment_storage().open(stored_file_name(attachment), "rb") as file:
            result = _client().instream(file)  # type: ignore[arg-type]  # a File reads like the BinaryIO it wants
    except FileNotFoundError:
        # Not moved into place yet (attachments_sweep_incoming finishes that), or lost: try again later.
        logger.warning("attachment_scan_file_missing", attachment_id=attachment_id)
        return _record(attachment, ScanStatus.FAILED)
    except (ClamdError, OSError) as error:
        logger.warning("attachment_scan_failed", attachment_id=attachment_id, error=type(error).__name__)
        return _record(attachment, ScanStatus.FAILED)

    status, signature = result.get("stream", (None, None))
    if status == "OK":
        return _record(attachment, ScanStatus.CLEAN)
    if status == "FOUND":
        outcome = _record(attachment, ScanStatus.INFECTED)
        if outcome == ScanStatus.INFECTED:
            # The row stays (the thread shows a blocked attachment); the file goes.
            attachment_file_delete(attachment)
            # The signature name is ClamAV's, not anything from the file or the person.
            logger.warning("attachment_infected", attachment_id=attachment_id, signature=signature)
        return outcome
    logger.warning("attachment_scan_failed", attachment_id=attachment_id, error="unexpected reply")
    return _record(attachment, ScanStatus.FAILED)


def _record(attachment: Attachment, status: ScanStatus) -> str:
    # scanned_at is when clamd was last asked, whatever it said: the retry job waits from there.
    updated = Attachment.objects.filter(
        pk=attachment.pk, scan_status__in=[ScanStatus.PENDING, ScanStatus.FAILED]
    ).update(scan_status=status, scanned_at=timezone.now())
    if updated:
        logger.info("attachment_scanned", attachment_id=attachment.pk, status=status.value)
        return status.value
    # Another scan finished first: report what it decided.
    return str(Attachment.objects.values_list("scan_status", flat=True).get(pk=attachment.pk))


def attachments_due_for_rescan(*, now: datetime.datetime | None = None) -> list[int]:
    """Attachments whose scan has not succeeded: PENDING ones whose queued scan has not run within RESCAN_AFTER,
    and FAILED ones last tried more than RESCAN_AFTER ago; only those created within RESCAN_GIVE_UP_AFTER."""
    now = now or timezone.now()
    due_before = now - RESCAN_AFTER
    return list(
        Attachment.objects.filter(created_at__gte=now - RESCAN_GIVE_UP_AFTER)
        .filter(
            Q(scan_status=ScanStatus.PENDING, created_at__lte=due_before)
            | Q(scan_status=ScanStatus.FAILED, scanned_at__lte=due_before)
            | Q(scan_status=ScanStatus.FAILED, scanned_at__isnull=True)
        )
        .order_by("created_at")
        .values_list("pk", flat=True)[:RESCAN_BATCH]
    )
