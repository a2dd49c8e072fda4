from django.apps import AppConfig


class ResultsConfig(AppConfig):
    name = "careportal.results"
    label = "results"
    verbose_name = "Test results"
