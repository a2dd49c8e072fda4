"""Sign-in pages of our own beside allauth's: the lockout page, and the emailed-code step with the per-account code
limit (careportal/accounts/two_step_limit.py)."""

import datetime
from typing import Any

from allauth.account.adapter import get_adapter
from allauth.account.views import ConfirmLoginCodeView
from django.contrib import messages
from django.forms import Form
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from careportal.accounts.security_presenters import codes_paused_until_text
from careportal.accounts.two_step_limit import (
    two_step_code_tries_clear,
    two_step_code_try,
    two_step_code_wrong,
    two_step_codes_paused_until,
)

CODE_USED_UP = (
    "That code has been entered wrongly too many times, so it no longer works. Sign in again and we will send you a "
    "new code."
)


def locked_out(request: HttpRequest, credentials: dict | None = None, *args: object, **kwargs: object) -> HttpResponse:
    """django-axes calls this when a username is locked at this address. It says nothing about whether the
    account exists (unknown usernames lock the same way)."""
    return render(request, "account/locked_out.jinja", {"page_title": "You cannot sign in at the moment"}, status=429)


def two_step_paused(request: HttpRequest, *, until: datetime.datetime) -> HttpResponse:
    """The account's two-step codes are paused (after the right password, so only the password's holder sees this)."""
    return render(
        request,
        "account/two_step_paused.jinja",
        {"page_title": "You cannot sign in at the moment", "until": codes_paused_until_text(until)},
        status=429,
    )


class ConfirmSignInCodeView(ConfirmLoginCodeView):
    """allauth's "enter the code we emailed you" step at sign-in, with the per-account limit on wrong codes.

    Each code typed is counted before allauth compares it. Once the account's codes are paused, the sign-in attempt
    ends on the "You cannot sign in at the moment" page: on the try that used up the last chance, on any later try,
    on asking for a new code and on opening this page again.
    """

    def _user(self) -> Any:
        return self._process.user

    def _paused(self, until: datetime.datetime | None = None) -> HttpResponse:
        until = until or two_step_codes_paused_until(user=self._user()) or timezone.now()
        self._process.abort()
        return two_step_paused(self.request, until=until)

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if two_step_codes_paused_until(user=self._user()) is not None:
            return self._paused()
        return super().get(request, *args, **kwargs)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if self._action == "verify" and str(request.POST.get("code", "")).strip():
            if not two_step_code_try(user=self._user()):
                return self._paused()
        elif two_step_codes_paused_until(user=self._user()) is not None:
            return self._paused()
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: Form) -> HttpResponse:
        if self._action == "verify":
            two_step_code_tries_clear(user=self._user())
        return super().form_valid(form)

    def form_invalid(self, form: Form) -> HttpResponse:
        if self._action != "verify":
            return super().form_invalid(form)
        until = two_step_code_wrong(user=self._user(), ip_address=get_adapter(self.request).get_client_ip(self.request))
        if until is not None:
            return self._paused(until)
        if self._process.state["failed_attempts"] + 1 >= self._process.max_attempts:
            # allauth's own limit for one code (ACCOUNT_LOGIN_BY_CODE_MAX_ATTEMPTS) is used up before the account's:
            # the code stops working, and signing in again sends a new one.
            self._process.abort()
            messages.error(self.request, CODE_USED_UP)
            return HttpResponseRedirect(reverse("account_login"))
        return super().form_invalid(form)


confirm_sign_in_code = ConfirmSignInCodeView.as_view()
