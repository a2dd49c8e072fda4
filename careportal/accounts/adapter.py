"""Our glue for django-allauth: who needs the emailed code, where people land, and how its emails are sent."""

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import Login
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.utils import is_mfa_enabled
from django.http import HttpRequest
from django.urls import reverse

from careportal.access.roles import is_staff_member
from careportal.accounts.models import TwoStepMethod
from careportal.notifications.kinds import Kind
from careportal.notifications.services import notification_send

# allauth email template prefix -> our notification kind, and which of allauth's context keys it may carry.
EMAIL_KINDS: dict[str, tuple[Kind, dict[str, str]]] = {
    "account/email/login_code": (Kind.SIGN_IN_CODE, {"code": "code"}),
    "account/email/email_confirmation": (Kind.EMAIL_VERIFICATION, {"activate_url": "link"}),
    "account/email/email_confirmation_signup": (Kind.EMAIL_VERIFICATION, {"activate_url": "link"}),
    "account/email/password_reset_key": (Kind.PASSWORD_RESET, {"password_reset_url": "link"}),
}
# Security notices allauth sends after a change, in the words the email uses ("There has been a change ...: X").
SECURITY_NOTICES: dict[str, str] = {
    "account/email/password_changed": "your password was changed",
    "account/email/password_set": "a password was set for your account",
    "account/email/password_reset": "your password was reset",
    "account/email/email_changed": "the email address on your account was changed",
    "account/email/email_confirm": "a new email address was confirmed",
    "account/email/email_deleted": "an email address was removed from your account",
    "mfa/email/totp_activated": "an authenticator app was set up for two-step verification",
    "mfa/email/totp_deactivated": "the authenticator app was removed from two-step verification",
    "mfa/email/recovery_codes_generated": "new recovery codes were made",
    "mfa/email/webauthn_added": "a passkey was added",
    "mfa/email/webauthn_removed": "a passkey was removed",
}


def needs_emailed_code(user: Any) -> bool:
    """The emailed code is the second step for patients who chose it and for all staff, unless they have an
    authenticator app or passkey (allauth's MFA stage asks for that instead)."""
    if is_mfa_enabled(user, types=["totp", "webauthn"]):
        return False
    return user.two_step_method == TwoStepMethod.EMAIL or is_staff_member(user)


SIGN_IN_FAILED = (
    "We could not sign you in with that username and password. Check them and try again. "
    "Usernames and passwords are case-sensitive."
)


class AccountAdapter(DefaultAccountAdapter):
    # Plain words, no blame; the same words whether or not the account exists.
    error_messages = {
        **DefaultAccountAdapter.error_messages,
        "username_password_mismatch": SIGN_IN_FAILED,
        "account_inactive": SIGN_IN_FAILED,
        "invalid_login": SIGN_IN_FAILED,
        "incorrect_code": "That code is not right. Check the email we sent you and try again.",
        # allauth's per-minute limits (ACCOUNT_RATE_LIMITS). Wrong two-step codes have their own, truthful, messages
        # (careportal/accounts/views/signin.py, security_presenters.codes_paused_message).
        "too_many_login_attempts": (
            "You have tried too many times. Wait a few minutes, then try again. If you have forgotten your password, "
            "you can reset it."
        ),
        "enter_current_password": "Enter your current password",
        "incorrect_password": "That password is not right. Try again.",
        "invalid_or_expired_key": "This link has expired or has already been used. Ask for a new one.",
    }

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        # Accounts are created only by activation with a code from the hospital (careportal/accounts/activation).
        return False

    def is_login_by_code_required(self, login: Login) -> bool:
        if login.user is None:
            return False
        if not needs_emailed_code(login.user):
            return False
        return super().is_login_by_code_required(login)

    def get_login_stages(self) -> list[str]:
        # The same stages as allauth's, with the two that honour a trusted device swapped for ours, which also
        # honour "Stop trusting all devices" (careportal/accounts/trust.py).
        from careportal.accounts.trust import STAGE_REPLACEMENTS

        return [STAGE_REPLACEMENTS.get(stage, stage) for stage in super().get_login_stages()]

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        if is_staff_member(request.user) and not hasattr(request.user, "patient"):
            return reverse("staff:home")
        return reverse("home:home")

    def get_password_change_redirect_url(self, request: HttpRequest) -> str:
        return reverse("accounts:security")

    def get_logout_redirect_url(self, request: HttpRequest) -> str:
        return reverse("home:start")

    def confirm_email(self, request: HttpRequest, email_address: Any) -> bool:
        # The helpdesk sees when an address was confirmed (the link from activation, or after a change of address).
        confirmed = super().confirm_email(request, email_address)
        if confirmed:
            from careportal.accounts.models import AccountEventKind
            from careportal.accounts.services import account_event_record

            account_event_record(
                user=email_address.user,
                kind=AccountEventKind.EMAIL_VERIFIED,
                ip_address=request.META.get("REMOTE_ADDR") or None,
            )
        return confirmed

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        user = context.get("user")
        if template_prefix in EMAIL_KINDS:
            kind, keys = EMAIL_KINDS[template_prefix]
            personalisation = {ours: str(context[theirs]) for theirs, ours in keys.items() if theirs in context}
        elif template_prefix in SECURITY_NOTICES:
            kind, personalisation = Kind.SECURITY_CHANGE, {"change": SECURITY_NOTICES[template_prefix]}
        else:
            # Anything else allauth might send (unknown-account mails are off: see ACCOUNT_PREVENT_ENUMERATION and
            # is_open_for_signup) goes out as a neutral security notice, never as allauth's own text.
            kind, personalisation = Kind.SECURITY_CHANGE, {"change": "your account settings were changed"}
        if user is None:
            from allauth.account.models import EmailAddress

            address = EmailAddress.objects.filter(email__iexact=email).select_related("user").first()
            user = address.user if address else None
        notification_send(kind=kind, user=user, to_address=email, personalisation=personalisation)


class MFAAdapter(DefaultMFAAdapter):
    error_messages = {
        **DefaultMFAAdapter.error_messages,
        "incorrect_code": "That code is not right. Check the code and try again.",
        "unverified_email": (
            "You need to confirm your email address before you can set this up. Call the helpdesk if you need help."
        ),
        "cannot_generate_recovery_codes": (
            "You can make recovery codes once you have set up an authenticator app or a passkey."
        ),
        "cannot_delete_authenticator": "You cannot remove this at the moment. Call the helpdesk if you need help.",
    }

    def get_totp_label(self, user: Any) -> str:
        # The label shows in the patient's authenticator app: their username, never their name or email.
        return str(user.get_username())
