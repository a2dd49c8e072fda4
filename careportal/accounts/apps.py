from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "careportal.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        # Account events from allauth, django.contrib.auth and django-axes (careportal/accounts/signals.py).
        from careportal.accounts import signals

        signals.connect()
