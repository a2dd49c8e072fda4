"""Steps for the sign-in and security tests, done through the real pages as a person would."""

import re
import time

from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.test import Client
from django.urls import reverse

from tests.accounts.factories import TEST_PASSWORD


def sign_in(client: Client, username: str, password: str = TEST_PASSWORD, **extra):  # type: ignore[no-untyped-def]
    return client.post(reverse("account_login"), {"login": username, "password": password}, **extra)


def sign_out(client: Client):  # type: ignore[no-untyped-def]
    return client.post(reverse("account_logout"))


def code_in(body: str) -> str:
    """The 6-digit code in an email body."""
    found = re.search(r"\b(\d{6})\b", body)
    assert found, f"no 6-digit code in: {body!r}"
    return found.group(1)


def reauthenticate(client: Client, password: str = TEST_PASSWORD):  # type: ignore[no-untyped-def]
    """Enter the password again on allauth's reauthentication page."""
    return client.post(reverse("account_reauthenticate"), {"password": password})


def totp_code(secret: str, *, at: float | None = None) -> str:
    """The code an authenticator app shows now, computed with allauth's own HOTP helper (RFC 6238)."""
    counter = int(at if at is not None else time.time()) // mfa_settings.TOTP_PERIOD
    return format_hotp_value(hotp_value(secret, counter))


def setup_key_on(page: str) -> str:
    """The authenticator app's setup key, as the "I cannot scan the QR code" part of the page shows it."""
    found = re.search(r'<code class="careportal-setup-key">([A-Z2-7 ]+)</code>', page)
    assert found, "no setup key on the page"
    return found.group(1).replace(" ", "")


def is_signed_in(client: Client) -> bool:
    return client.get(reverse("accounts:security")).status_code == 200
