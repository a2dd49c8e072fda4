"""Forms for the sign-in and security pages that differ from allauth's own."""

from allauth.mfa.base.forms import AuthenticateForm
from django import forms
from django.conf import settings
from django.core.cache import cache

from careportal.core.throttle import attempt_record

TOO_MANY_CODES = "You have tried too many times. Wait {minutes} minutes, then try again."


class TwoStepCodeForm(AuthenticateForm):
    """allauth's "enter your authenticator app or recovery code" form at sign-in, with a per-account limit.

    allauth counts wrong codes under its "login_failed" rate limit, which CarePortal turns off (ACCOUNT_RATE_LIMITS:
    the per-account password lock is django-axes's, by username and IP address). Without this, someone who knows a
    password could try every 6-digit code. Here an account gets AXES_FAILURE_LIMIT wrong codes per
    AXES_COOLOFF_TIME, from anywhere; a right code clears the count. Only someone who already has the password can
    use up the tries.
    """

    def clean_code(self) -> str:
        key = f"careportal:two-step-code-tries:{self.user.pk}"
        window = int(settings.AXES_COOLOFF_TIME.total_seconds())
        tries = attempt_record(key, window_seconds=window)
        if tries > settings.AXES_FAILURE_LIMIT:
            raise forms.ValidationError(TOO_MANY_CODES.format(minutes=window // 60))
        code = super().clean_code()
        cache.delete(key)
        return code
