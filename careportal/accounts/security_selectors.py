"""Reads for the "Sign-in and security" pages: email address, two-step verification, trusted device, sessions."""

import datetime
from dataclasses import dataclass, field
from typing import cast
from uuid import UUID

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from careportal.access.roles import is_staff_member
from careportal.accounts.models import TrustedDevice, TwoStepMethod, User
from careportal.accounts.trust import browser_trusted_until


@dataclass(frozen=True)
class EmailStatus:
    address: str
    verified: bool


@dataclass(frozen=True)
class TwoStepStatus:
    """Which second steps a person has, and what they may change."""

    is_staff: bool
    email_chosen: bool  # User.two_step_method is EMAIL
    has_authenticator_app: bool
    passkeys: list[Authenticator] = field(default_factory=list)
    recovery_codes_unused: int = 0
    recovery_codes_total: int = 0
    has_recovery_codes: bool = False

    @property
    def has_app_or_passkey(self) -> bool:
        return self.has_authenticator_app or bool(self.passkeys)

    @property
    def email_code_in_use(self) -> bool:
        """Whether sign-in asks for an emailed code (careportal.accounts.adapter.needs_emailed_code)."""
        return not self.has_app_or_passkey and (self.email_chosen or self.is_staff)

    @property
    def is_on(self) -> bool:
        return self.has_app_or_passkey or self.email_chosen or self.is_staff

    @property
    def may_turn_email_off(self) -> bool:
        """Staff must always have a second step: they may drop the emailed code only with an app or passkey."""
        return self.email_chosen and (not self.is_staff or self.has_app_or_passkey)


def email_status(*, user: User) -> EmailStatus:
    """The address sign-in codes and notices go to, and whether its owner has confirmed it."""
    address = user.email or ""
    verified = bool(address) and EmailAddress.objects.filter(user=user, email__iexact=address, verified=True).exists()
    return EmailStatus(address=address, verified=verified)


def two_step_status(*, user: User) -> TwoStepStatus:
    authenticators = list(Authenticator.objects.filter(user_id=user.pk).order_by("created_at", "pk"))
    recovery = next((a for a in authenticators if a.type == Authenticator.Type.RECOVERY_CODES), None)
    unused = 0
    if recovery is not None:
        unused = len(cast(RecoveryCodes, recovery.wrap()).get_unused_codes())
    return TwoStepStatus(
        is_staff=is_staff_member(user),
        email_chosen=user.two_step_method == TwoStepMethod.EMAIL,
        has_authenticator_app=any(a.type == Authenticator.Type.TOTP for a in authenticators),
        passkeys=[a for a in authenticators if a.type == Authenticator.Type.WEBAUTHN],
        recovery_codes_unused=unused,
        recovery_codes_total=settings.MFA_RECOVERY_CODE_COUNT if recovery is not None else 0,
        has_recovery_codes=recovery is not None,
    )


def trusted_until(*, request: HttpRequest, user: User) -> datetime.datetime | None:
    """Until when this browser may skip the second step, or None."""
    return browser_trusted_until(request, user)


def sessions_for(*, user: User) -> list[UserSession]:
    """The person's signed-in sessions, most recently used first (ended or expired ones are purged)."""
    sessions = UserSession.objects.purge_and_list(user)
    return sorted(sessions, key=lambda s: s.last_seen_at, reverse=True)


def session_for(*, user: User, session_id: int) -> UserSession | None:
    """One of the person's own sessions; None for anyone else's (the view answers 404 either way)."""
    return UserSession.objects.filter(user=user, pk=session_id).first()


def trusted_devices_for(*, user: User) -> list[TrustedDevice]:
    """Devices the person trusts now: listed, not revoked, not expired."""
    return list(TrustedDevice.objects.filter(user=user, revoked_at__isnull=True, expires_at__gt=timezone.now()))


def trusted_device_for(*, user: User, device_id: UUID) -> TrustedDevice | None:
    """One of the person's own trusted devices; None for anyone else's, or an unknown id."""
    return TrustedDevice.objects.filter(user=user, public_id=device_id).first()
