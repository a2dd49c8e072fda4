"""What the "Sign-in and security" pages show, in plain words, so that the templates hold no decisions."""

import datetime
import re
from dataclasses import dataclass

from allauth.usersessions.models import UserSession
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from careportal.accounts.security_selectors import EmailStatus, TwoStepStatus
from careportal.core.formatting import format_date, format_datetime, format_time


def two_step_summary(status: TwoStepStatus) -> str:
    """One line: which second step sign-in asks for."""
    ways = []
    if status.has_authenticator_app:
        ways.append("an authenticator app")
    if status.passkeys:
        ways.append("a passkey")
    if ways:
        return "On: " + " or ".join(ways)
    if status.email_code_in_use:
        return "On: a code sent by email"
    return "Off"


def recovery_codes_summary(status: TwoStepStatus) -> str:
    if not status.has_recovery_codes:
        return "You have no recovery codes"
    if status.recovery_codes_unused == 1:
        return f"1 of your {status.recovery_codes_total} recovery codes is left"
    return f"{status.recovery_codes_unused} of your {status.recovery_codes_total} recovery codes are left"


_BROWSERS = [
    ("Edg/", "Microsoft Edge"),
    ("EdgiOS/", "Microsoft Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("CriOS/", "Chrome"),
    ("FxiOS/", "Firefox"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chrome"),
    ("Safari/", "Safari"),
]
_SYSTEMS = [
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("CrOS", "ChromeOS"),
    ("Windows", "Windows"),
    ("Macintosh", "Mac"),
    ("Linux", "Linux"),
]


def describe_browser(user_agent: str) -> str:
    """ "Chrome on Windows", from the browser's User-Agent header; "An unknown browser" when it does not say."""
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), None)
    system = next((name for marker, name in _SYSTEMS if re.search(rf"\b{marker}\b", user_agent)), None)
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return f"{browser or 'A browser'}{' on ' + system if system else ''}"
    return "An unknown browser"


@dataclass(frozen=True)
class SessionRow:
    id: int
    browser: str
    ip_address: str
    signed_in: str
    last_active: str
    is_current: bool
    end_url: str


def session_rows(sessions: list[UserSession], *, current_session_key: str | None) -> list[SessionRow]:
    rows = [
        SessionRow(
            id=session.pk,
            browser=describe_browser(session.user_agent),
            ip_address=session.ip,
            signed_in=format_datetime(session.created_at),
            last_active=format_datetime(session.last_seen_at),
            is_current=session.session_key == current_session_key,
            end_url=reverse("accounts:session-end", args=[session.pk]),
        )
        for session in sessions
    ]
    # This device first, then the others, most recently used first (the selector's order).
    return sorted(rows, key=lambda row: not row.is_current)


@dataclass(frozen=True)
class SecuritySummary:
    username: str
    email: EmailStatus
    two_step: TwoStepStatus
    two_step_text: str
    trusted_until: datetime.datetime | None
    trusted_text: str
    trust_revoked_text: str
    session_count: int
    sessions_text: str


def security_summary(
    *,
    username: str,
    email: EmailStatus,
    two_step: TwoStepStatus,
    trusted_until: datetime.datetime | None,
    trust_revoked_at: datetime.datetime | None,
    session_count: int,
) -> SecuritySummary:
    if trusted_until is not None:
        trusted_text = f"This device is trusted until {format_date(trusted_until)}. You will not need a code here."
    else:
        trusted_text = "This device is not trusted. You will be asked for your second step when you sign in here."
    trust_revoked_text = (
        f"You last stopped trusting all devices on {format_datetime(trust_revoked_at)}." if trust_revoked_at else ""
    )
    others = session_count - 1
    if others <= 0:
        sessions_text = "Only this device"
    else:
        sessions_text = f"This device and {others} other {'device' if others == 1 else 'devices'}"
    return SecuritySummary(
        username=username,
        email=email,
        two_step=two_step,
        two_step_text=two_step_summary(two_step),
        trusted_until=trusted_until,
        trusted_text=trusted_text,
        trust_revoked_text=trust_revoked_text,
        session_count=session_count,
        sessions_text=sessions_text,
    )


def codes_paused_until_text(until: datetime.datetime) -> str:
    """ "22:47", or "22:47 on 5 December 2026" when that is not today: when two-step codes work again."""
    if timezone.localtime(until).date() == timezone.localdate():
        return format_time(until)
    return f"{format_time(until)} on {format_date(until)}"


def codes_paused_message(until: datetime.datetime) -> str:
    """What the authenticator-app page says once the account's codes are paused (the emailed-code journey shows the
    page account/two_step_paused.jinja, which says the same at more length)."""
    return (
        f"A wrong code has been entered too many times for this account, so no code will work until "
        f"{codes_paused_until_text(until)}, not even the right one. Try again after that. If you need to sign in "
        f"sooner, call the helpdesk on {settings.CAREPORTAL_HELPDESK_PHONE}."
    )
