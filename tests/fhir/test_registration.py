"""Admins register confidential and public apps; redirect addresses are https, or loopback http in development."""

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from oauth2_provider.models import Application

from careportal.fhir.admin import SmartApplicationForm
from careportal.fhir.registration import redirect_uri_problems

pytestmark = pytest.mark.django_db


def test_the_command_registers_a_confidential_app_and_prints_its_secret_once(capsys) -> None:
    call_command("fhir_app_register", "--name", "Health Diary", "--redirect-uri", "https://app.example/callback")

    out = capsys.readouterr().out
    app = Application.objects.get(name="Health Diary")
    assert f"client_id: {app.client_id}" in out
    secret = out.split("client_secret: ")[1].split()[0]
    assert app.client_type == Application.CLIENT_CONFIDENTIAL
    assert app.algorithm == Application.RS256_ALGORITHM
    assert app.client_secret != secret  # stored hashed


def test_the_command_registers_a_public_app_without_a_secret(capsys) -> None:
    call_command("fhir_app_register", "--name", "Phone app", "--redirect-uri", "http://127.0.0.1/cb", "--public")

    assert "client_secret" not in capsys.readouterr().out
    assert Application.objects.get(name="Phone app").client_type == Application.CLIENT_PUBLIC


@pytest.mark.parametrize("uri", ["http://app.example/callback", "ftp://app.example/x", "https://app.example/#x"])
def test_the_command_refuses_a_bad_redirect_address(uri) -> None:
    with pytest.raises(CommandError):
        call_command("fhir_app_register", "--name", "Bad", "--redirect-uri", uri)
    assert not Application.objects.exists()


def test_loopback_http_is_for_development_only() -> None:
    assert redirect_uri_problems(["http://127.0.0.1:8765/callback", "http://localhost/cb"]) == []
    with override_settings(IS_PRODUCTION=True):
        assert redirect_uri_problems(["http://127.0.0.1:8765/callback"])
        assert redirect_uri_problems(["https://app.example/callback"]) == []


def test_the_admin_form_checks_redirect_addresses_and_keeps_apps_on_the_code_flow() -> None:
    data = {
        "name": "Admin app",
        "client_id": "admin-app",
        "client_type": Application.CLIENT_CONFIDENTIAL,
        "client_secret": "s3cret-" * 6,
        "hash_client_secret": True,
        "redirect_uris": "http://app.example/callback",
    }
    form = SmartApplicationForm(data)
    assert not form.is_valid()
    assert "redirect_uris" in form.errors

    form = SmartApplicationForm({**data, "redirect_uris": "https://app.example/callback"})
    assert form.is_valid(), form.errors
    app = form.save()
    assert app.authorization_grant_type == Application.GRANT_AUTHORIZATION_CODE
    assert app.algorithm == Application.RS256_ALGORITHM
    assert not app.skip_authorization
