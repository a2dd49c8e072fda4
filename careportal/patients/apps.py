from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "careportal.patients"
    label = "patients"
    verbose_name = "Patients and care teams"
