from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "careportal.notifications"
    label = "notifications"
    verbose_name = "Notifications"
