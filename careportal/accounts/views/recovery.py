"""Forgotten password and forgotten username (docs/identity.md, "Recovery").

Forgotten password: username or email address -> 2 security questions -> "check your email" -> the emailed link ->
a new password -> "password changed". Forgotten username: email address -> "check your email".

Every step answers the same way whether or not an account exists; the rules for that live in
careportal/accounts/recovery.py, and these views only move people between pages. Nothing that identifies a person
is put in a URL: what the journey needs between steps is kept in the session. The emailed link carries a random key
in its query string (which the logs never record: careportal/core/logging.py); the first visit swaps it into the
session and redirects, so the key does not stay in the address bar or the browser's history.
"""

from allauth.account.adapter import get_adapter
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from careportal.accounts.forms_recovery import (
    ForgottenPasswordForm,
    ForgottenUsernameForm,
    NewPasswordForm,
    SecurityAnswersForm,
)
from careportal.accounts.recovery import (
    LINK_LIFETIME,
    PasswordResetLinkInvalidError,
    RecoveryAttempt,
    link_key_digest,
    password_reset_complete,
    password_reset_link_find,
    recovery_answers_check,
    recovery_start,
    username_reminder_request,
)

ATTEMPT_SESSION_KEY = "careportal_recovery_attempt"
LINK_SESSION_KEY = "careportal_password_reset_link"
DONE_SESSION_KEY = "careportal_password_reset_done"
TEMPLATES = "accounts/recovery"
KEY_MAX_LENGTH = 200


def _client_ip(request: HttpRequest) -> str:
    return str(get_adapter(request).get_client_ip(request))


def _posted(request: HttpRequest) -> QueryDict | None:
    return request.POST if request.method == "POST" else None


def _sign_in_back_link() -> dict[str, str]:
    return {"href": reverse("account_login"), "text": "Back to sign in"}


def _link_hours() -> int:
    return int(LINK_LIFETIME.total_seconds() // 3600)


@never_cache
@sensitive_post_parameters("identifier")
def forgotten_password(request: HttpRequest) -> HttpResponse:
    form = ForgottenPasswordForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        attempt = recovery_start(identifier=form.cleaned_data["identifier"])
        request.session[ATTEMPT_SESSION_KEY] = attempt.to_session()
        return redirect("accounts:forgotten-password-questions")
    return render(
        request,
        f"{TEMPLATES}/forgotten_password.jinja",
        {"form": form, "page_title": "Reset your password", "back_link": _sign_in_back_link()},
    )


@never_cache
@sensitive_post_parameters("answer_1", "answer_2")
def security_questions(request: HttpRequest) -> HttpResponse:
    attempt = RecoveryAttempt.from_session(request.session.get(ATTEMPT_SESSION_KEY))
    if attempt is None:
        request.session.pop(ATTEMPT_SESSION_KEY, None)
        return redirect("accounts:forgotten-password")
    form = SecurityAnswersForm(_posted(request), questions=attempt.question_texts)
    if request.method == "POST" and form.is_valid():
        # One go per attempt: right or wrong, the next try starts from the first page (with 2 questions picked
        # afresh), so no one can keep trying answers to the same questions here.
        del request.session[ATTEMPT_SESSION_KEY]
        recovery_answers_check(
            attempt=attempt,
            answers=form.answers(),
            ip_address=_client_ip(request),
            link_url=request.build_absolute_uri(reverse("accounts:new-password")),
        )
        return redirect("accounts:forgotten-password-sent")
    return render(
        request,
        f"{TEMPLATES}/security_questions.jinja",
        {
            "form": form,
            "page_title": "Answer your security questions",
            "back_link": {"href": reverse("accounts:forgotten-password"), "text": "Back"},
        },
    )


@never_cache
def password_reset_sent(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        f"{TEMPLATES}/password_reset_sent.jinja",
        {"page_title": "Check your email", "link_hours": _link_hours()},
    )


def _link_invalid(request: HttpRequest) -> HttpResponse:
    request.session.pop(LINK_SESSION_KEY, None)
    return render(
        request,
        f"{TEMPLATES}/link_invalid.jinja",
        {"page_title": "This link has expired or has already been used", "link_hours": _link_hours()},
    )


@never_cache
@sensitive_post_parameters("new_password", "new_password_again")
def new_password(request: HttpRequest) -> HttpResponse:
    key = request.GET.get("key")
    if key is not None:
        digest = link_key_digest(key) if len(key) <= KEY_MAX_LENGTH else None
        if password_reset_link_find(digest=digest) is None:
            return _link_invalid(request)
        request.session[LINK_SESSION_KEY] = digest
        return redirect("accounts:new-password")
    link = password_reset_link_find(digest=request.session.get(LINK_SESSION_KEY))
    if link is None:
        return _link_invalid(request)
    form = NewPasswordForm(_posted(request), user=link.user)
    if request.method == "POST" and form.is_valid():
        try:
            password_reset_complete(
                link=link, password=form.cleaned_data["new_password"], ip_address=_client_ip(request)
            )
        except PasswordResetLinkInvalidError:
            return _link_invalid(request)
        # A fresh, empty session for this browser too (the account's other sessions have been ended).
        request.session.flush()
        request.session[DONE_SESSION_KEY] = True
        return redirect("accounts:password-reset-done")
    return render(request, f"{TEMPLATES}/new_password.jinja", {"form": form, "page_title": "Choose a new password"})


@never_cache
def password_reset_done(request: HttpRequest) -> HttpResponse:
    if not request.session.pop(DONE_SESSION_KEY, False):
        return redirect("account_login")
    return render(request, f"{TEMPLATES}/password_reset_done.jinja", {"page_title": "Your password has been changed"})


@never_cache
@sensitive_post_parameters("email")
def forgotten_username(request: HttpRequest) -> HttpResponse:
    form = ForgottenUsernameForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        username_reminder_request(email=form.cleaned_data["email"], ip_address=_client_ip(request))
        return redirect("accounts:forgotten-username-sent")
    return render(
        request,
        f"{TEMPLATES}/forgotten_username.jinja",
        {"form": form, "page_title": "Find your username", "back_link": _sign_in_back_link()},
    )


@never_cache
def username_sent(request: HttpRequest) -> HttpResponse:
    return render(request, f"{TEMPLATES}/username_sent.jinja", {"page_title": "Check your email"})


def allauth_password_reset(request: HttpRequest, rest: str = "") -> HttpResponse:
    """allauth's own password reset (by email alone, no security questions) is switched off: its addresses lead
    here."""
    return redirect("accounts:forgotten-password")
