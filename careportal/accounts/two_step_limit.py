"""The limit on wrong two-step codes at sign-in, per account, across codes (docs/identity.md, "Guessing codes").

allauth limits wrong tries at one emailed code (ACCOUNT_LOGIN_BY_CODE_MAX_ATTEMPTS); signing in again sends a new
code with a fresh count, so on its own that would let someone who knows the password try codes for as long as they
liked. Here every code typed at sign-in counts against the account, whichever code it was meant for: emailed codes
(careportal/accounts/views/signin.py, careportal/accounts/trust.py), authenticator-app and recovery codes
(careportal/accounts/security_forms.py). `CAREPORTAL_TWO_STEP_CODE_FAILURES` wrong codes within
`CAREPORTAL_TWO_STEP_CODE_PAUSE_MINUTES` of the first pause codes for the account until that window ends: sign-in
sends no new code, and no code is accepted, not even the right one. A right code before that clears the count.

Each try is counted before the code is compared, so tries sent side by side cannot slip past the limit.

The count is kept per account and reached only after the right password (the code step comes after it), so only
someone who has the password can pause an account's codes; a stranger's wrong passwords lock the username at their
own IP address only (django-axes). The helpdesk's "unlock" and a password reset lift the pause.
"""

import datetime
from typing import Any

import structlog
from django.conf import settings

from careportal.core.throttle import attempt_count, attempt_record, attempt_window_ends, attempts_clear

logger = structlog.get_logger(__name__)


def _key(user: Any) -> str:
    return f"careportal:two-step-code-tries:{user.pk}"


def _window_seconds() -> int:
    return int(settings.CAREPORTAL_TWO_STEP_CODE_PAUSE_MINUTES) * 60


def two_step_codes_paused_until(*, user: Any) -> datetime.datetime | None:
    """When codes work again for `user`, or None if they work now."""
    if attempt_count(_key(user)) < settings.CAREPORTAL_TWO_STEP_CODE_FAILURES:
        return None
    return attempt_window_ends(_key(user))


def two_step_code_try(*, user: Any) -> bool:
    """Count a code typed at sign-in, before it is checked. False when codes are paused: the code must then be
    refused without being checked."""
    return attempt_record(_key(user), window_seconds=_window_seconds()) <= settings.CAREPORTAL_TWO_STEP_CODE_FAILURES


def two_step_code_wrong(*, user: Any, ip_address: str | None = None) -> datetime.datetime | None:
    """After a wrong code (already counted by `two_step_code_try`): when codes work again, if this one used up the
    last try (the helpdesk then sees a `TWO_STEP_PAUSED` account event), else None."""
    paused_until = two_step_codes_paused_until(user=user)
    if paused_until is not None:
        from careportal.accounts.models import AccountEventKind
        from careportal.accounts.services import account_event_record

        logger.info("two_step_codes_paused", account_id=user.pk)
        account_event_record(
            user=user,
            kind=AccountEventKind.TWO_STEP_PAUSED,
            ip_address=ip_address or None,
            detail=f"until {paused_until:%Y-%m-%d %H:%M} UTC",
        )
    return paused_until


def two_step_code_tries_clear(*, user: Any) -> None:
    """A right code, a helpdesk unlock or a password reset: the count starts again."""
    attempts_clear(_key(user))
