from django.apps import AppConfig


class LettersConfig(AppConfig):
    name = "careportal.letters"
    label = "letters"
    verbose_name = "Letters"
