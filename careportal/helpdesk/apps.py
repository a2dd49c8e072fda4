from django.apps import AppConfig


class HelpdeskConfig(AppConfig):
    name = "careportal.helpdesk"
    label = "helpdesk"
    verbose_name = "Helpdesk"
