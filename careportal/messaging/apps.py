from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "careportal.messaging"
    label = "messaging"
    verbose_name = "Messages with care teams"
