"""Session middleware: idle and absolute limits, "where you are signed in" kept up to date, and a new session id
at re-authentication.

A session ends after CAREPORTAL_IDLE_TIMEOUT_SECONDS without a request (15 minutes by default) and, whatever the
activity, CAREPORTAL_SESSION_ABSOLUTE_SECONDS after sign-in. Pages warn before the idle limit and let the person
stay signed in (careportal/core/static/careportal/session-timeout.mjs), which calls the keep-alive URL.
"""

import hashlib
import time
from collections.abc import Callable

from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.account.internal.flows.login import AUTHENTICATION_METHODS_SESSION_KEY
from allauth.usersessions import app_settings as usersessions_settings
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

LAST_ACTIVITY_KEY = "careportal_last_activity"
SIGNED_IN_AT_KEY = "careportal_signed_in_at"
# How stale the idle clock may be after a page read: a session can idle out up to this much before
# CAREPORTAL_IDLE_TIMEOUT_SECONDS after the last page read (never later).
ACTIVITY_RESOLUTION_SECONDS = 30
TIMED_OUT_MESSAGE = (
    "You were signed out because you had not used {service} for {minutes} minutes. "
    "This keeps your information safe. Sign in again to carry on."
)
LIFETIME_ENDED_MESSAGE = (
    "You were signed out because you had been signed in for {hours} hours, the longest we allow. "
    "This keeps your information safe. Sign in again to carry on."
)


def session_time_left(request: HttpRequest) -> tuple[int, bool]:
    """Seconds until this signed-in session ends, and whether activity can put that off (False when the absolute
    lifetime, not the idle limit, comes first). For the warning dialog's status and keep-alive requests."""
    now = time.time()
    session = request.session
    idle_left = settings.CAREPORTAL_IDLE_TIMEOUT_SECONDS - (now - session.get(LAST_ACTIVITY_KEY, now))
    absolute_left = settings.CAREPORTAL_SESSION_ABSOLUTE_SECONDS - (now - session.get(SIGNED_IN_AT_KEY, now))
    return max(0, int(min(idle_left, absolute_left))), idle_left <= absolute_left


class IdleTimeoutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = time.time()
            session = request.session
            recorded = session.get(LAST_ACTIVITY_KEY)
            last = now if recorded is None else recorded
            signed_in_at = session.setdefault(SIGNED_IN_AT_KEY, now)
            idle_for = now - last
            lifetime_over = now - signed_in_at > settings.CAREPORTAL_SESSION_ABSOLUTE_SECONDS
            if idle_for > settings.CAREPORTAL_IDLE_TIMEOUT_SECONDS or lifetime_over:
                logout(request)
                if lifetime_over:
                    reason = LIFETIME_ENDED_MESSAGE.format(hours=settings.CAREPORTAL_SESSION_ABSOLUTE_SECONDS // 3600)
                else:
                    reason = TIMED_OUT_MESSAGE.format(
                        service=settings.CAREPORTAL_SERVICE_NAME,
                        minutes=settings.CAREPORTAL_IDLE_TIMEOUT_SECONDS // 60,
                    )
                messages.info(request, reason)
                return redirect(settings.LOGIN_URL)
            # The status poll of the warning dialog must not count as activity, or the session would never idle out.
            # A page read moves the idle clock at most every ACTIVITY_RESOLUTION_SECONDS, so that reading pages does
            # not rewrite the session's row on every request (a query and a commit each); anything else (a POST,
            # such as "Stay signed in") moves it at once.
            if request.headers.get("X-CarePortal-Session-Poll") != "1" and (
                recorded is None
                or request.method not in ("GET", "HEAD")
                or not 0 <= idle_for < ACTIVITY_RESOLUTION_SECONDS
            ):
                session[LAST_ACTIVITY_KEY] = now
        return self.get_response(request)


# "Where you are signed in" (allauth usersessions) -------------------------------------------------------------------
SESSION_SEEN_KEY = "careportal_usersession_seen"
# How stale "last seen" on the sessions page may be. allauth's own middleware rewrites the session's row on every
# request (a transaction of four queries); the page shows when a device was last used, which minutes answer.
SESSION_SEEN_RESOLUTION_SECONDS = 60


class UserSessionActivityMiddleware:
    """allauth's UserSessionsMiddleware (it records each signed-in session's device, address and last use), but
    writing at most once a SESSION_SEEN_RESOLUTION_SECONDS per session, and at once whenever the session key, the
    address or the browser changes (so the sessions page, and allauth's session_client_changed signal, see those as
    before)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        if (
            usersessions_settings.TRACK_ACTIVITY
            and session is not None
            and session.session_key
            and request.user.is_authenticated
        ):
            now = time.time()
            client = hashlib.sha256(
                "\n".join(
                    (
                        session.session_key,
                        str(get_account_adapter().get_client_ip(request)),
                        request.META.get("HTTP_USER_AGENT", ""),
                    )
                ).encode()
            ).hexdigest()
            seen = session.get(SESSION_SEEN_KEY)
            if not (
                isinstance(seen, list)
                and len(seen) == 2
                and seen[0] == client
                and 0 <= now - seen[1] < SESSION_SEEN_RESOLUTION_SECONDS
            ):
                UserSession.objects.create_from_request(request)
                session[SESSION_SEEN_KEY] = [client, now]
        return self.get_response(request)


class ReauthenticationNewSessionIdMiddleware:
    """A new session id whenever someone confirms who they are again (password, authenticator code or passkey)
    before a sensitive change (OWASP ASVS 5.0, 7.2.4). Django already gives a new id at sign-in; allauth's
    reauthentication only appends to the session's list of authentication methods, with `reauthenticated` set, so a
    growth of that list with such an entry during a POST is the signal. Must sit after SessionMiddleware, so that the
    new id is the one written to the cookie.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST" or not request.user.is_authenticated:
            return self.get_response(request)
        methods_before = len(request.session.get(AUTHENTICATION_METHODS_SESSION_KEY, []))
        response = self.get_response(request)
        if request.user.is_authenticated:
            added = request.session.get(AUTHENTICATION_METHODS_SESSION_KEY, [])[methods_before:]
            if any(method.get("reauthenticated") for method in added):
                session_id_renew(request)
        return response


def session_id_renew(request: HttpRequest) -> None:
    """Give this session a new id, keep its contents, end the old id, and keep the "where you are signed in" list
    pointing at it."""
    old_key = request.session.session_key
    request.session.cycle_key()
    if old_key:
        UserSession.objects.filter(session_key=old_key).update(session_key=request.session.session_key)
