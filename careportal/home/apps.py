from django.apps import AppConfig


class HomeConfig(AppConfig):
    name = "careportal.home"
    label = "home"
    verbose_name = "Start and home pages"
