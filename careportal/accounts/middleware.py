"""Idle and absolute session limits.

A session ends after CAREPORTAL_IDLE_TIMEOUT_SECONDS without a request (15 minutes by default) and, whatever the
activity, CAREPORTAL_SESSION_ABSOLUTE_SECONDS after sign-in. Pages warn before the idle limit and let the person
stay signed in (careportal/core/static/careportal/session-timeout.mjs), which calls the keep-alive URL.
"""

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

LAST_ACTIVITY_KEY = "careportal_last_activity"
SIGNED_IN_AT_KEY = "careportal_signed_in_at"
TIMED_OUT_MESSAGE = (
    "You were signed out because you had not used {service} for {minutes} minutes. "
    "This keeps your information safe. Sign in again to carry on."
)


class IdleTimeoutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = time.time()
            session = request.session
            last = session.get(LAST_ACTIVITY_KEY, now)
            signed_in_at = session.setdefault(SIGNED_IN_AT_KEY, now)
            idle_for = now - last
            if (
                idle_for > settings.CAREPORTAL_IDLE_TIMEOUT_SECONDS
                or now - signed_in_at > settings.CAREPORTAL_SESSION_ABSOLUTE_SECONDS
            ):
                logout(request)
                messages.info(
                    request,
                    TIMED_OUT_MESSAGE.format(
                        service=settings.CAREPORTAL_SERVICE_NAME,
                        minutes=settings.CAREPORTAL_IDLE_TIMEOUT_SECONDS // 60,
                    ),
                )
                return redirect(settings.LOGIN_URL)
            # The status poll of the warning dialog must not count as activity, or the session would never idle out.
            if request.headers.get("X-CarePortal-Session-Poll") != "1":
                session[LAST_ACTIVITY_KEY] = now
        return self.get_response(request)
