"""Forms for the sign-in and security pages that differ from allauth's own."""

from allauth.mfa.base.forms import AuthenticateForm
from django import forms
from django.utils import timezone

from careportal.accounts.security_presenters import codes_paused_message
from careportal.accounts.two_step_limit import (
    two_step_code_tries_clear,
    two_step_code_try,
    two_step_code_wrong,
    two_step_codes_paused_until,
)


class TwoStepCodeForm(AuthenticateForm):
    """allauth's "enter your authenticator app or recovery code" form at sign-in, with the per-account code limit.

    allauth counts wrong codes under its "login_failed" rate limit, which CarePortal turns off (ACCOUNT_RATE_LIMITS:
    the per-account password lock is django-axes's, by username and IP address). Without this, someone who knows a
    password could try every 6-digit code. The limit is the one emailed codes have, on the same count
    (careportal/accounts/two_step_limit.py): CAREPORTAL_TWO_STEP_CODE_FAILURES wrong codes pause the account's codes,
    from anywhere, until CAREPORTAL_TWO_STEP_CODE_PAUSE_MINUTES after the first; a right code clears the count. Only
    someone who already has the password can use up the tries. A passkey still works while codes are paused.
    """

    def _paused(self) -> forms.ValidationError:
        until = two_step_codes_paused_until(user=self.user) or timezone.now()
        return forms.ValidationError(codes_paused_message(until))

    def clean_code(self) -> str:
        if not two_step_code_try(user=self.user):
            raise self._paused()
        try:
            code = super().clean_code()
        except forms.ValidationError:
            if two_step_code_wrong(user=self.user) is not None:
                raise self._paused() from None
            raise
        two_step_code_tries_clear(user=self.user)
        return code
