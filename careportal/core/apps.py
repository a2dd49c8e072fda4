from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "careportal.core"
    label = "core"
    verbose_name = "CarePortal platform"
