"""Account events from the sign-in machinery (allauth, django.contrib.auth, django-axes).

Connected in AccountsConfig.ready(). Each receiver writes one AccountEvent: what happened, when, from which IP
address, and a short description that never holds a password, a code, a recovery code or a secret. The events are
what the helpdesk sees about an account.
"""

from typing import Any

from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db.models.signals import post_save
from django.http import HttpRequest
from django.utils import timezone

from careportal.accounts.models import AccountEvent, AccountEventKind, User
from careportal.accounts.services import account_event_record

AUTHENTICATOR_NAMES = {
    Authenticator.Type.TOTP: "authenticator app",
    Authenticator.Type.WEBAUTHN: "passkey",
    Authenticator.Type.RECOVERY_CODES: "recovery codes",
}


def _ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def _user_by_username(username: object) -> User | None:
    if not isinstance(username, str) or not username or len(username) > 150:
        return None
    return User.objects.filter(username__iexact=username).first()


def on_user_logged_in(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    """allauth.account.signals.user_logged_in: a full sign-in, every step done."""
    account_event_record(user=user, kind=AccountEventKind.SIGNED_IN, ip_address=_ip(request))


def on_user_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kw: Any
) -> None:
    """django.contrib.auth.signals.user_login_failed: a wrong password (Django has already masked the password).

    Failures for a username that does not exist are not recorded: there is no account to attach them to.
    """
    user = _user_by_username(credentials.get("username"))
    if user is not None:
        account_event_record(user=user, kind=AccountEventKind.SIGN_IN_FAILED, ip_address=_ip(request))


def on_user_locked_out(
    sender: Any,
    request: HttpRequest | None = None,
    username: str | None = None,
    ip_address: str | None = None,
    **kw: Any,
) -> None:
    """axes.signals.user_locked_out: this username is paused at this address. Only the username is known."""
    user = _user_by_username(username)
    if user is None:
        return
    ip_address = ip_address or _ip(request)
    # django-axes signals again at every try while the lock lasts; the helpdesk needs to see the lock once.
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    already = AccountEvent.objects.filter(
        user=user, kind=AccountEventKind.LOCKED_OUT, ip_address=ip_address, occurred_at__gte=since
    ).exists()
    if not already:
        account_event_record(user=user, kind=AccountEventKind.LOCKED_OUT, ip_address=ip_address)


def on_password_changed(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    """allauth.account.signals.password_changed (the signed-in "Change your password" page).

    Every other session of the person ends now, so whoever else may have known the old password is signed out
    everywhere; this one stays signed in (ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE is False). allauth emails the notice.
    """
    from careportal.accounts.security_services import sessions_end_others
    from careportal.accounts.trust import trusted_devices_revoke_all

    account_event_record(user=user, kind=AccountEventKind.PASSWORD_CHANGED, ip_address=_ip(request))
    sessions_end_others(request=request, user=user)
    # allauth's trust depends on the password hash: every trusted device has stopped counting.
    trusted_devices_revoke_all(user=user)


def _authenticator_event(request: HttpRequest | None, user: User, authenticator: Authenticator, change: str) -> None:
    """Record the change and, as after a password change, sign out every other device: whoever else is signed in
    may be the reason the person is changing how they sign in (OWASP ASVS 5.0, 7.4.3)."""
    from careportal.accounts.security_services import sessions_end_others

    name = AUTHENTICATOR_NAMES.get(authenticator.type, "two-step method")
    account_event_record(
        user=user, kind=AccountEventKind.TWO_STEP_CHANGED, ip_address=_ip(request), detail=f"{name} {change}"
    )
    signed_in_here = request is not None and getattr(request, "user", None) == user and hasattr(request, "session")
    if signed_in_here and sessions_end_others(request=request, user=user):
        messages.info(request, "We have signed you out on every other device.")


def on_user_saved(sender: Any, instance: User, **kwargs: Any) -> None:
    """post_save of the user model: an account made inactive (by staff, in the admin) is signed out everywhere at
    once, rather than left with sessions that merely stop working (OWASP ASVS 5.0, 7.4.2)."""
    if instance.is_active or instance.pk is None:
        return
    from careportal.accounts.security_services import user_sessions_end

    user_sessions_end(user=instance)


def on_authenticator_added(
    sender: Any, request: HttpRequest, user: User, authenticator: Authenticator, **kw: Any
) -> None:
    _authenticator_event(request, user, authenticator, "added")


def on_authenticator_removed(
    sender: Any, request: HttpRequest, user: User, authenticator: Authenticator, **kw: Any
) -> None:
    _authenticator_event(request, user, authenticator, "removed")


def on_authenticator_reset(
    sender: Any, request: HttpRequest, user: User, authenticator: Authenticator, **kw: Any
) -> None:
    _authenticator_event(request, user, authenticator, "replaced with new ones")


def connect() -> None:
    from allauth.account.signals import password_changed, user_logged_in
    from allauth.mfa.signals import authenticator_added, authenticator_removed, authenticator_reset
    from axes.signals import user_locked_out
    from django.contrib.auth.signals import user_login_failed

    user_logged_in.connect(on_user_logged_in, dispatch_uid="careportal.accounts.signed_in")
    user_login_failed.connect(on_user_login_failed, dispatch_uid="careportal.accounts.sign_in_failed")
    user_locked_out.connect(on_user_locked_out, dispatch_uid="careportal.accounts.locked_out")
    password_changed.connect(on_password_changed, dispatch_uid="careportal.accounts.password_changed")
    authenticator_added.connect(on_authenticator_added, dispatch_uid="careportal.accounts.authenticator_added")
    authenticator_removed.connect(on_authenticator_removed, dispatch_uid="careportal.accounts.authenticator_removed")
    authenticator_reset.connect(on_authenticator_reset, dispatch_uid="careportal.accounts.authenticator_reset")
    post_save.connect(on_user_saved, sender=get_user_model(), dispatch_uid="careportal.accounts.user_saved")
