from django_tasks import task

from careportal.notifications.models import NotificationStatus
from careportal.notifications.services import notification_deliver


@task(queue_name="notifications")
def deliver_notification(notification_id: int) -> str | None:
    status = notification_deliver(notification_id=notification_id)
    return status.value if status else None


@task(queue_name="notifications")
def deliver_notifications(notification_ids: list[int]) -> int:
    """Deliver notifications queued together (`notifications_send_many`), one after another. Each is sent at most
    once and retried on its own; any left undelivered by a crash are found by `notifications_enqueue_due`."""
    sent = 0
    for notification_id in notification_ids:
        if notification_deliver(notification_id=notification_id) == NotificationStatus.SENT:
            sent += 1
    return sent
