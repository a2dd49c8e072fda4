"""Changes a person makes on the "Sign-in and security" pages that are not allauth's own: the emailed code as their
second step, "stop trusting all devices", and ending sessions. Each one is recorded as an AccountEvent; changes to
how someone signs in also email them a notice (after commit), so they learn of a change they did not make.

Authenticator apps, passkeys and recovery codes are changed through allauth's own pages; careportal/accounts/
signals.py records those, and allauth sends their notices through our adapter.
"""

from allauth.account.internal.flows.logout import logout as allauth_logout
from allauth.account.models import EmailAddress
from allauth.usersessions.adapter import get_adapter as get_usersessions_adapter
from allauth.usersessions.models import UserSession
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from careportal.accounts.models import AccountEventKind, TrustedDevice, TwoStepMethod, User
from careportal.accounts.security_selectors import two_step_status
from careportal.accounts.services import account_event_record
from careportal.accounts.trust import trusted_devices_revoke_all
from careportal.notifications.kinds import Kind
from careportal.notifications.services import notification_send

# What the notice says changed ("There has been a change to how you sign in to CarePortal: ...").
EMAIL_CODE_ON_NOTICE = "a code sent by email is now your second step when you sign in"
EMAIL_CODE_OFF_NOTICE = "you no longer get a code by email when you sign in"
TRUST_FORGOTTEN_NOTICE = "no device is trusted any more, so each one will need the second step again"


class TwoStepChangeRefused(Exception):
    """A change that policy does not allow; the message is shown to the person as it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


@transaction.atomic
def two_step_email_turn_on(*, user: User, ip_address: str | None = None) -> bool:
    """Make the emailed code the person's second step. Returns False when it was on already (nothing changes)."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.two_step_method == TwoStepMethod.EMAIL:
        return False
    if not user.email:
        raise TwoStepChangeRefused(
            "We do not have an email address for you, so we cannot send you codes. Call the helpdesk to add one."
        )
    if EmailAddress.objects.filter(user=user, email__iexact=user.email, verified=False).exists():
        # As allauth asks before an authenticator app is added: codes must not go to an address nobody confirmed.
        raise TwoStepChangeRefused(
            "You need to confirm your email address before we can send codes to it. Call the helpdesk if you need help."
        )
    user.two_step_method = TwoStepMethod.EMAIL
    user.save(update_fields=["two_step_method"])
    account_event_record(
        user=user, kind=AccountEventKind.TWO_STEP_CHANGED, ip_address=ip_address, detail="emailed code turned on"
    )
    notification_send(kind=Kind.SECURITY_CHANGE, user=user, personalisation={"change": EMAIL_CODE_ON_NOTICE})
    return True


@transaction.atomic
def two_step_email_turn_off(*, user: User, ip_address: str | None = None) -> bool:
    """Stop sending a code by email at sign-in. Staff may do so only once they have an app or a passkey.

    Returns False when it was off already (nothing changes).
    """
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.two_step_method != TwoStepMethod.EMAIL:
        return False
    if not two_step_status(user=user).may_turn_email_off:
        raise TwoStepChangeRefused(
            "Staff must use two-step verification. Set up an authenticator app or a passkey before you turn off "
            "codes by email."
        )
    user.two_step_method = TwoStepMethod.NONE
    user.save(update_fields=["two_step_method"])
    account_event_record(
        user=user, kind=AccountEventKind.TWO_STEP_CHANGED, ip_address=ip_address, detail="emailed code turned off"
    )
    notification_send(kind=Kind.SECURITY_CHANGE, user=user, personalisation={"change": EMAIL_CODE_OFF_NOTICE})
    return True


@transaction.atomic
def trusted_devices_forget(*, user: User, ip_address: str | None = None) -> None:
    """Every device trusted until now needs the second step again at its next sign-in (careportal.accounts.trust)."""
    user = User.objects.select_for_update().get(pk=user.pk)
    user.trusted_devices_revoked_at = timezone.now()
    user.save(update_fields=["trusted_devices_revoked_at"])
    trusted_devices_revoke_all(user=user)
    account_event_record(
        user=user, kind=AccountEventKind.TWO_STEP_CHANGED, ip_address=ip_address, detail="stopped trusting all devices"
    )
    notification_send(kind=Kind.SECURITY_CHANGE, user=user, personalisation={"change": TRUST_FORGOTTEN_NOTICE})


@transaction.atomic
def trusted_device_forget(*, device: TrustedDevice, ip_address: str | None = None) -> None:
    """Stop trusting one device: it asks for the second step at its next sign-in."""
    if device.revoked_at is not None:
        return
    device.revoked_at = timezone.now()
    device.save(update_fields=["revoked_at"])
    account_event_record(
        user=device.user,
        kind=AccountEventKind.TWO_STEP_CHANGED,
        ip_address=ip_address,
        detail=f"stopped trusting a device ({device.description})",
    )
    notification_send(
        kind=Kind.SECURITY_CHANGE, user=device.user, personalisation={"change": "a device is no longer trusted"}
    )


def email_confirmation_resend(*, request: HttpRequest, user: User) -> bool:
    """Email a new confirmation link for the account's address (allauth's confirmation, as after activation).

    Returns False when nothing was sent: no address, already confirmed, or asked again too soon (allauth's
    "confirm_email" rate limit, ACCOUNT_RATE_LIMITS).
    """
    from allauth.account.internal.flows.email_verification import send_verification_email_to_address

    if not user.email:
        return False
    address = EmailAddress.objects.filter(user=user, email__iexact=user.email).first()
    if address is None:
        address = EmailAddress.objects.create(
            user=user, email=user.email, verified=False, primary=not EmailAddress.objects.filter(user=user).exists()
        )
    if address.verified:
        return False
    return bool(send_verification_email_to_address(request, address))


def user_session_end(*, request: HttpRequest, user: User, session: UserSession) -> None:
    """Sign out one of the person's other devices (their own current session ends through "Sign out")."""
    if session.user_id != user.pk or session.session_key == request.session.session_key:
        raise ValueError("only another of the person's own sessions can be ended here")
    with transaction.atomic():
        get_usersessions_adapter().end_sessions([session])
        account_event_record(
            user=user,
            kind=AccountEventKind.SIGNED_OUT,
            ip_address=client_ip(request),
            detail="another device signed out from the sessions page",
        )


def user_sessions_end(*, user: User, except_session_key: str | None = None) -> int:
    """End every session of `user` that allauth lists (each signed-in browser), but the one named. The one place
    that signs a person out elsewhere: "sign out everywhere", a password reset, a helpdesk reset. Returns how many
    ended. Any session allauth missed is refused anyway once the password changes (Django checks its hash)."""
    sessions = UserSession.objects.filter(user=user)
    if except_session_key:
        sessions = sessions.exclude(session_key=except_session_key)
    ending = list(sessions)
    get_usersessions_adapter().end_sessions(ending)
    return len(ending)


def sessions_end_others(*, request: HttpRequest, user: User) -> int:
    """Sign out every device but this one. Returns how many sessions ended."""
    with transaction.atomic():
        ended = user_sessions_end(user=user, except_session_key=request.session.session_key)
        if ended:
            account_event_record(
                user=user,
                kind=AccountEventKind.SIGNED_OUT,
                ip_address=client_ip(request),
                detail=f"{ended} other device(s) signed out",
            )
    return ended


def sessions_end_everywhere(*, request: HttpRequest, user: User) -> None:
    """Sign out every device, this one included."""
    with transaction.atomic():
        account_event_record(user=user, kind=AccountEventKind.SIGNED_OUT_EVERYWHERE, ip_address=client_ip(request))
        user_sessions_end(user=user, except_session_key=request.session.session_key)
    # This session last: allauth's logout flushes it and clears any half-finished sign-in.
    UserSession.objects.filter(user=user).delete()
    allauth_logout(request, show_message=False)
