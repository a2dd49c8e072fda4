"""Background tasks for messaging."""

from django_tasks import task

from careportal.messaging.scanning import attachment_scan


@task()
def scan_attachment(attachment_id: int) -> str:
    """Ask clamd about one attachment (careportal.messaging.scanning). Safe to run twice."""
    return attachment_scan(attachment_id=attachment_id)
