from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "careportal.access"
    label = "access"
    verbose_name = "Access layer"
