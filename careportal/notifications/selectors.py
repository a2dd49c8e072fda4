from django.db.models import QuerySet

from careportal.notifications.models import Notification, NotificationStatus


def notifications_needing_attention() -> QuerySet[Notification]:
    """Failed and retrying notifications, for the helpdesk: nothing is lost silently."""
    return Notification.objects.filter(
        status__in=[NotificationStatus.FAILED, NotificationStatus.RETRYING]
    ).select_related("user")
