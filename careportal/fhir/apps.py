from django.apps import AppConfig


class FhirConfig(AppConfig):
    name = "careportal.fhir"
    label = "fhir"
    verbose_name = "FHIR API and connected apps"
