import datetime

from django_tasks import task

from careportal.core.schedule import schedule
from careportal.notifications.services import notifications_enqueue_due


@task()
def enqueue_due_notifications() -> int:
    return notifications_enqueue_due()


schedule.register("notifications.enqueue_due", enqueue_due_notifications, every=datetime.timedelta(minutes=1))
