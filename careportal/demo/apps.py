from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "careportal.demo"
    label = "demo"
    verbose_name = "Demo trust (development only)"
