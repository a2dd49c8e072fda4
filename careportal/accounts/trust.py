"""Trusted devices: "Trust this device for 90 days" at sign-in, and "Stop trusting all devices".

django-allauth keeps trust in a signed cookie in the browser (allauth.mfa.internal.flows.trust): a list of
(fingerprint, issued at) pairs, where the fingerprint is an HMAC of the user's id, password hash and authenticators.
A new password or a change of authenticator app or passkey therefore ends every trust. allauth keeps no list of
trusted browsers, so CarePortal does: each "Trust this device" adds a `TrustedDevice` row and a signed cookie naming
it, a trust counts only while that row is unrevoked, and the person can stop trusting one device on the
"Sign-in and security" page.

To stop trusting every device at once without touching the password, each user has `trusted_devices_revoked_at`:
a trust issued at or before that moment no longer counts. allauth checks trust in two login stages (the emailed
code, and the authenticator app or passkey); the account adapter swaps them for the two below
(`AccountAdapter.get_login_stages`, allauth's supported hook), which add that one condition.
"""

import datetime
from typing import Any

from allauth.account.stages import LoginByCodeStage
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.base import views as allauth_trust_views
from allauth.mfa.internal.flows import trust as allauth_trust
from allauth.mfa.models import Authenticator
from allauth.mfa.stages import AuthenticateStage
from allauth.mfa.utils import is_mfa_enabled
from allauth.mfa.webauthn.internal.flows import did_use_passwordless_login
from django.core.signing import BadSignature, Signer
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from careportal.accounts.models import TrustedDevice


def _valid_trusts(request: HttpRequest, user: Any) -> list[allauth_trust.IssuedTrust]:
    """The trusts this browser holds for `user` that still count: right fingerprint, not expired, not revoked."""
    if not mfa_settings._TRUST_STAGE_ENABLED or user is None or not user.is_authenticated:
        return []
    fingerprint = allauth_trust.create_config_fingerprint(user)
    trusts = [t for t in allauth_trust.decode_trust_cookie(request) if t.fingerprint == fingerprint]
    revoked_at = getattr(user, "trusted_devices_revoked_at", None)
    if revoked_at is not None:
        # `at` is whole seconds, rounded down: a trust from the same second as the revocation no longer counts.
        trusts = [t for t in trusts if t.at > revoked_at.timestamp()]
    if trusts and not _listed_device(request, user):
        # The browser must also still be on the person's list of trusted devices (they can stop trusting one).
        return []
    return trusts


def trusted_devices_revoke_all(*, user: Any) -> int:
    """Take every device off the person's list. For the events that end every trust anyway (a new password, a
    helpdesk reset of two-step verification) as well as "Stop trusting all devices", so the list stays true."""
    return TrustedDevice.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())


DEVICE_COOKIE_NAME = "careportal_trusted_device"
DEVICE_COOKIE_SALT = "careportal.trusted-device"


def _listed_device(request: HttpRequest, user: Any) -> bool:
    value = request.COOKIES.get(DEVICE_COOKIE_NAME)
    if not value:
        return False
    try:
        device_id = Signer(salt=DEVICE_COOKIE_SALT).unsign(value)
    except BadSignature:
        return False
    return TrustedDevice.objects.filter(
        user=user, public_id=device_id, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).exists()


def trusted_device_record(*, request: HttpRequest, user: Any, response: HttpResponse) -> TrustedDevice | None:
    """After allauth has set the trust cookie on `response`, list the new trust as a device of `user`."""
    morsel = response.cookies.get(mfa_settings.TRUST_COOKIE_NAME)
    if morsel is None:
        return None
    try:
        entries = Signer().unsign_object(morsel.value)
    except BadSignature:
        return None
    issued_at = max(int(entry[1]) for entry in entries)
    device = TrustedDevice.objects.create(
        user=user,
        issued_at=issued_at,
        expires_at=datetime.datetime.fromtimestamp(issued_at, tz=datetime.UTC) + mfa_settings.TRUST_COOKIE_AGE,
        description=describe_browser(request.headers.get("User-Agent", "")),
    )
    # Names this browser's row, so that one device can stop being trusted without the others.
    response.set_cookie(
        DEVICE_COOKIE_NAME,
        Signer(salt=DEVICE_COOKIE_SALT).sign(str(device.public_id)),
        max_age=mfa_settings.TRUST_COOKIE_AGE,
        path=mfa_settings.TRUST_COOKIE_PATH,
        domain=mfa_settings.TRUST_COOKIE_DOMAIN,
        secure=mfa_settings.TRUST_COOKIE_SECURE,
        httponly=True,
        samesite=mfa_settings.TRUST_COOKIE_SAMESITE,
    )
    return device


def describe_browser(user_agent: str) -> str:
    """ "Chrome on Windows": enough to tell devices apart, no more."""
    browsers = [("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari")]
    systems = [
        ("Windows", "Windows"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Android", "Android"),
        ("Mac OS X", "Mac"),
        ("Linux", "Linux"),
    ]
    browser = next((name for marker, name in browsers if marker in user_agent), "A browser")
    system = next((name for marker, name in systems if marker in user_agent), "")
    return f"{browser} on {system}" if system else browser


class TrustView(allauth_trust_views.TrustView):
    """allauth's "Trust this device?" step, which also adds the device to the person's list."""

    def form_valid(self, form: Any) -> HttpResponse:
        user = self.request._login_stage.login.user  # type: ignore[attr-defined]
        response = super().form_valid(form)
        if self.request.POST.get("action") == "trust":
            trusted_device_record(request=self.request, user=user, response=response)
        return response


def is_trusted_browser(request: HttpRequest, user: Any) -> bool:
    return bool(_valid_trusts(request, user))


def browser_trusted_until(request: HttpRequest, user: Any) -> datetime.datetime | None:
    """When this browser's trust for `user` ends, or None when it is not trusted."""
    trusts = _valid_trusts(request, user)
    if not trusts:
        return None
    latest = max(t.at for t in trusts)
    return datetime.datetime.fromtimestamp(latest, tz=datetime.UTC) + mfa_settings.TRUST_COOKIE_AGE


class TrustAwareLoginByCodeStage(LoginByCodeStage):
    """allauth's emailed-code stage; a trusted browser skips it only if the trust was not revoked since. While the
    account's codes are paused after too many wrong ones (careportal/accounts/two_step_limit.py), no code is sent:
    the sign-in attempt ends on a page that says so."""

    def _is_trusted(self) -> bool:
        return super()._is_trusted() and is_trusted_browser(self.request, self.login.user)

    def handle(self) -> tuple[HttpResponse | None, bool]:
        from allauth.account.adapter import get_adapter

        from careportal.accounts.two_step_limit import two_step_codes_paused_until
        from careportal.accounts.views.signin import two_step_paused

        if not self.state and get_adapter().is_login_by_code_required(self.login) and not self._is_trusted():
            until = two_step_codes_paused_until(user=self.login.user)
            if until is not None:
                # False: allauth ends this sign-in attempt and shows the page.
                return two_step_paused(self.request, until=until), False
        return super().handle()


class TrustAwareAuthenticateStage(AuthenticateStage):
    """allauth's authenticator app / passkey stage (as in allauth 65.21), with our trust check."""

    def _should_handle(self, request: HttpRequest) -> bool:
        user = self.login.user
        if user is None:
            return False
        if not is_mfa_enabled(user, [Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]):
            return False
        if did_use_passwordless_login(request, user):
            return False
        return not is_trusted_browser(request, user)


STAGE_REPLACEMENTS = {
    "allauth.account.stages.LoginByCodeStage": "careportal.accounts.trust.TrustAwareLoginByCodeStage",
    "allauth.mfa.stages.AuthenticateStage": "careportal.accounts.trust.TrustAwareAuthenticateStage",
}
