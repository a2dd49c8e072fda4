"""Periodic jobs for messaging (registered with careportal.core.schedule)."""

import datetime

import structlog
from django_tasks import task

from careportal.core.schedule import schedule
from careportal.core.tasks import enqueue_on_commit
from careportal.messaging.attachments import attachments_sweep_incoming
from careportal.messaging.scanning import attachments_due_for_rescan, scanner_configured
from careportal.messaging.tasks import scan_attachment

logger = structlog.get_logger(__name__)


@task()
def rescan_attachments() -> int:
    """Enqueue a scan for each attachment still held because its scan failed or never ran. Returns how many."""
    if not scanner_configured():
        return 0
    ids = attachments_due_for_rescan()
    for attachment_id in ids:
        enqueue_on_commit(scan_attachment, attachment_id=attachment_id)
    if ids:
        logger.info("attachments_rescan_enqueued", count=len(ids))
    return len(ids)


@task()
def sweep_incoming_attachments() -> dict[str, int]:
    """Finish or delete files a crashed process left staged (careportal.messaging.attachments)."""
    return attachments_sweep_incoming()


# Every 5 minutes: a held attachment is released within minutes of clamd coming back.
schedule.register("messaging.rescan_attachments", rescan_attachments, every=datetime.timedelta(minutes=5))
schedule.register("messaging.sweep_incoming", sweep_incoming_attachments, every=datetime.timedelta(hours=1))
