from django.apps import AppConfig


class AppointmentsConfig(AppConfig):
    name = "careportal.appointments"
    label = "appointments"
    verbose_name = "Appointments"
