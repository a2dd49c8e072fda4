from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "careportal.audit"
    label = "audit"
    verbose_name = "Audit"
