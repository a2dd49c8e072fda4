from django.apps import AppConfig


class StaffConfig(AppConfig):
    name = "careportal.staff"
    label = "staff"
    verbose_name = "Staff consoles"
