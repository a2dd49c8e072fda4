from django_tasks import task

from careportal.notifications.services import notification_deliver


@task(queue_name="notifications")
def deliver_notification(notification_id: int) -> str | None:
    status = notification_deliver(notification_id=notification_id)
    return status.value if status else None
