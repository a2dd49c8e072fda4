"""Trusted devices: "Trust this device for 90 days" at sign-in, and "Stop trusting all devices".

django-allauth keeps trust in a signed cookie in the browser (allauth.mfa.internal.flows.trust): a list of
(fingerprint, issued at) pairs, where the fingerprint is an HMAC of the user's id, password hash and authenticators.
A new password or a change of authenticator app or passkey therefore ends every trust. The server keeps no list of
trusted browsers, so there is nothing to list or delete one by one.

To stop trusting every device at once without touching the password, each user has `trusted_devices_revoked_at`:
a trust issued at or before that moment no longer counts. allauth checks trust in two login stages (the emailed
code, and the authenticator app or passkey); the account adapter swaps them for the two below
(`AccountAdapter.get_login_stages`, allauth's supported hook), which add that one condition.
"""

import datetime
from typing import Any

from allauth.account.stages import LoginByCodeStage
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.internal.flows import trust as allauth_trust
from allauth.mfa.models import Authenticator
from allauth.mfa.stages import AuthenticateStage
from allauth.mfa.utils import is_mfa_enabled
from allauth.mfa.webauthn.internal.flows import did_use_passwordless_login
from django.http import HttpRequest


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
    return trusts


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
    """allauth's emailed-code stage; a trusted browser skips it only if the trust was not revoked since."""

    def _is_trusted(self) -> bool:
        return super()._is_trusted() and is_trusted_browser(self.request, self.login.user)


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
