"""The "Sign-in and security" pages: username and email, two-step verification, trusted devices, sessions, and the
keep-alive behind the idle-timeout warning.

allauth's own pages do the authenticator app, passkeys, recovery codes, reauthentication and password change
(rendered with our templates under jinja2/mfa/ and jinja2/account/); the pages here show where someone stands and
make the few changes allauth has no page for.
"""

from uuid import UUID

from allauth.account.decorators import reauthentication_required
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from careportal.access.layer import viewer_for_request
from careportal.accounts import security_selectors as selectors
from careportal.accounts import security_services as services
from careportal.accounts.middleware import session_time_left
from careportal.accounts.models import User
from careportal.accounts.security_presenters import (
    recovery_codes_summary,
    security_summary,
    session_rows,
    two_step_summary,
)
from careportal.home.presenters import patient_navigation


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - login_required has run
    return user


def _page(request: HttpRequest, template: str, context: dict) -> HttpResponse:
    # The patient's menu in the header, when the person is a patient or acts for one. These pages are always about
    # the signed-in person's own account, never the account of someone they act for: the page says so to a proxy.
    viewer = viewer_for_request(request)
    context.setdefault("navigation_items", patient_navigation(viewer))
    if viewer is not None and viewer.is_proxy and viewer.patient is not None:
        context.setdefault("acting_for_first_name", viewer.patient.given_name)
    return render(request, template, context)


def _security_context(request: HttpRequest) -> dict:
    user = _user(request)
    summary = security_summary(
        username=user.get_username(),
        email=selectors.email_status(user=user),
        two_step=selectors.two_step_status(user=user),
        trusted_until=selectors.trusted_until(request=request, user=user),
        trust_revoked_at=user.trusted_devices_revoked_at,
        session_count=len(selectors.sessions_for(user=user)),
    )
    return {
        "page_title": "Sign-in and security",
        "summary": summary,
        "trusted_devices": selectors.trusted_devices_for(user=user),
    }


@login_required
def security_home(request: HttpRequest) -> HttpResponse:
    return _page(request, "accounts/security/home.jinja", _security_context(request))


def _back_to_trusted_devices(request: HttpRequest) -> HttpResponse:
    """After a "stop trusting" form: htmx (django-htmx's request.htmx) gets the trusted-device list alone, with the
    message, to swap into the page; an ordinary post is redirected back to the page (POST/redirect/GET)."""
    if not request.htmx:
        return redirect("accounts:security")
    response = render(
        request, "accounts/security/trusted_devices_swap.jinja", {**_security_context(request), "swapped": True}
    )
    # trusted-devices.mjs swaps only an answer that says it is the list; anything else (the sign-in page after the
    # session ended, an error page) makes the form post again the ordinary way.
    response["CarePortal-Fragment"] = "trusted-devices"
    return response


@login_required
def two_step_home(request: HttpRequest) -> HttpResponse:
    """Two-step verification: the emailed code, authenticator app, passkeys and recovery codes (allauth's mfa_index
    address, so allauth's pages come back here when they are done)."""
    user = _user(request)
    status = selectors.two_step_status(user=user)
    return _page(
        request,
        "mfa/index.jinja",
        {
            "page_title": "Two-step verification",
            "status": status,
            "status_text": two_step_summary(status),
            "recovery_text": recovery_codes_summary(status),
            "email": selectors.email_status(user=user),
            "back_link": {"href": reverse("accounts:security"), "text": "Back to sign-in and security"},
        },
    )


@require_POST
@login_required
@reauthentication_required
def email_code(request: HttpRequest) -> HttpResponse:
    """Turn the emailed code on or off (POST action=on|off). The password is asked for again first (allauth's
    reauthentication, ACCOUNT_REAUTHENTICATION_TIMEOUT), and this request is replayed once it has been given."""
    user = _user(request)
    action = request.POST.get("action")
    try:
        if action == "on":
            if services.two_step_email_turn_on(user=user, ip_address=services.client_ip(request)):
                messages.success(request, "You will now get a code by email each time you sign in.")
        elif action == "off":
            if services.two_step_email_turn_off(user=user, ip_address=services.client_ip(request)):
                messages.success(request, "You will no longer get a code by email when you sign in.")
        else:
            return HttpResponse("Unknown action", status=400, content_type="text/plain")
    except services.TwoStepChangeRefused as refusal:
        messages.error(request, refusal.message)
    return redirect("mfa_index")


@require_POST
@login_required
def email_confirmation_resend(request: HttpRequest) -> HttpResponse:
    if services.email_confirmation_resend(request=request, user=_user(request)):
        messages.success(request, "We have sent you an email with a link to confirm your address. It works for 3 days.")
    else:
        messages.info(request, "We could not send a new link just now. Wait a few minutes, then try again.")
    return redirect("accounts:security")


@require_POST
@login_required
def trusted_devices_forget(request: HttpRequest) -> HttpResponse:
    services.trusted_devices_forget(user=_user(request), ip_address=services.client_ip(request))
    messages.success(
        request, "No device is trusted now. Each one will ask for your second step the next time you sign in."
    )
    return _back_to_trusted_devices(request)


@require_POST
@login_required
def trusted_device_forget(request: HttpRequest, device_id: UUID) -> HttpResponse:
    device = selectors.trusted_device_for(user=_user(request), device_id=device_id)
    if device is None:
        raise Http404("Page not found")
    services.trusted_device_forget(device=device, ip_address=services.client_ip(request))
    messages.success(request, f"{device.description or 'That device'} is no longer trusted.")
    return _back_to_trusted_devices(request)


@login_required
def sessions(request: HttpRequest) -> HttpResponse:
    """Where you are signed in (allauth's usersessions_list address)."""
    user = _user(request)
    rows = session_rows(selectors.sessions_for(user=user), current_session_key=request.session.session_key)
    return _page(
        request,
        "usersessions/usersession_list.jinja",
        {
            "page_title": "Where you are signed in",
            "rows": rows,
            "has_others": any(not row.is_current for row in rows),
            "back_link": {"href": reverse("accounts:security"), "text": "Back to sign-in and security"},
        },
    )


@require_POST
@login_required
def session_end(request: HttpRequest, session_id: int) -> HttpResponse:
    user = _user(request)
    session = selectors.session_for(user=user, session_id=session_id)
    if session is None or session.session_key == request.session.session_key:
        raise Http404("Page not found")
    services.user_session_end(request=request, user=user, session=session)
    messages.success(request, "That device has been signed out.")
    return redirect("usersessions_list")


@require_POST
@login_required
def sessions_end_others(request: HttpRequest) -> HttpResponse:
    count = services.sessions_end_others(request=request, user=_user(request))
    if count:
        messages.success(request, "You have been signed out on every other device.")
    return redirect("usersessions_list")


@require_POST
@login_required
def sign_out_everywhere(request: HttpRequest) -> HttpResponse:
    services.sessions_end_everywhere(request=request, user=_user(request))
    messages.success(request, "You have been signed out on every device, including this one.")
    return redirect("account_login")


def _status(request: HttpRequest) -> JsonResponse:
    if not request.user.is_authenticated:
        return JsonResponse({"signedIn": False})
    seconds, extendable = session_time_left(request)
    return JsonResponse({"signedIn": True, "expiresIn": seconds, "extendable": extendable})


@require_GET
def session_status(request: HttpRequest) -> JsonResponse:
    """How long until the session ends. The warning dialog asks with the header X-CarePortal-Session-Poll: 1, which
    the idle-timeout middleware does not count as activity."""
    return _status(request)


@require_POST
def session_keep_alive(request: HttpRequest) -> JsonResponse:
    """ "Stay signed in": an ordinary request, so the idle timer starts again (not the absolute limit)."""
    return _status(request)
