"""The admin for SMART apps (OAuth clients), used by django-oauth-toolkit (OAUTH2_PROVIDER["APPLICATION_ADMIN_CLASS"]).

Admins register confidential or public clients; each uses the authorisation code grant, RS256 ID tokens and the
consent page (never "skip authorisation"), and has redirect addresses checked as `registration.py` says.
"""

from django import forms
from django.contrib import admin
from oauth2_provider.models import Application

from careportal.fhir.registration import redirect_uri_problems


class SmartApplicationForm(forms.ModelForm):
    class Meta:
        model = Application
        fields = ("name", "client_id", "client_type", "client_secret", "hash_client_secret", "redirect_uris")
        help_texts = {
            "client_secret": "Copy it now for a confidential app: it is stored hashed and cannot be shown again. "
            "Public apps (on a phone or in a browser) have no secret.",
            "redirect_uris": "Space-separated https:// addresses (http://127.0.0.1 only in development).",
        }

    def clean_redirect_uris(self) -> str:
        uris = self.cleaned_data["redirect_uris"].split()
        problems = redirect_uri_problems(uris)
        if problems:
            raise forms.ValidationError(problems)
        return " ".join(uris)

    def clean_hash_client_secret(self) -> bool:
        return True  # secrets are never stored readable

    def save(self, commit: bool = True) -> Application:
        application = super().save(commit=False)
        application.authorization_grant_type = Application.GRANT_AUTHORIZATION_CODE
        application.algorithm = Application.RS256_ALGORITHM
        application.skip_authorization = False
        if commit:
            application.save()
        return application


class SmartApplicationAdmin(admin.ModelAdmin):
    form = SmartApplicationForm
    list_display = ("name", "client_id", "client_type", "created")
    list_filter = ("client_type",)
    search_fields = ("name", "client_id")
    radio_fields = {"client_type": admin.HORIZONTAL}
