"""Pages that belong to no one domain: help, legal pages, error pages and the health check."""

import structlog
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from health_check.views import HealthCheckView

from careportal.core.formatting import format_date
from careportal.helpdesk.forms import SupportRequestForm
from careportal.helpdesk.services import (
    reply_due_date,
    support_request_create,
    support_request_rate_count,
    support_request_rate_limited,
)
from careportal.helpdesk.views.support import SENT_SESSION_KEY

logger = structlog.get_logger(__name__)


def get_help(request: HttpRequest) -> HttpResponse:
    """Help, and a request for technical help to the helpdesk (signed in or not). Sending one shows a reference
    and the date a reply can be expected; each address may send only a few an hour."""
    user = request.user
    account_email = user.email if user.is_authenticated else ""
    ip_address = request.META.get("REMOTE_ADDR") or ""
    if request.method == "POST":
        if support_request_rate_limited(ip_address=ip_address):
            return render(
                request,
                "core/get_help_limited.jinja",
                {"page_title": "You cannot send another request yet"},
                status=429,
            )
        form = SupportRequestForm(request.POST, account_email=account_email)
        if form.is_spam:
            # Scripts that fill in the hidden field are told it worked, and nothing is stored.
            support_request_rate_count(ip_address=ip_address)
            request.session.pop(SENT_SESSION_KEY, None)
            return redirect("helpdesk:support-request-sent")
        if form.is_valid():
            support_request = support_request_create(
                user=user if user.is_authenticated else None,  # type: ignore[arg-type]
                name=form.cleaned_data["name"],
                email=form.cleaned_data["email"],
                topic=form.cleaned_data["topic"],
                description=form.cleaned_data["description"],
            )
            support_request_rate_count(ip_address=ip_address)
            request.session[SENT_SESSION_KEY] = str(support_request.public_id)
            return redirect("helpdesk:support-request-sent")
    else:
        initial = {}
        if user.is_authenticated:
            initial = {"name": user.get_full_name() or user.display_name, "email": account_email}  # type: ignore[union-attr]
        form = SupportRequestForm(initial=initial, account_email=account_email)
    return render(
        request,
        "core/get_help.jinja",
        {
            "page_title": "Get help with CarePortal",
            "form": form,
            "reply_by": format_date(reply_due_date(received_on=timezone.localdate())),
            "target_days": settings.CAREPORTAL_HELPDESK_RESPONSE_TARGET_DAYS,
        },
    )


def accessibility(request: HttpRequest) -> HttpResponse:
    return render(request, "core/accessibility.jinja", {"page_title": "Accessibility statement"})


def privacy(request: HttpRequest) -> HttpResponse:
    return render(request, "core/privacy.jinja", {"page_title": "How we use your information"})


def _without_record_in_view(request: HttpRequest) -> HttpRequest:
    """The request as error pages see it: without the record a proxy has open, so an error page never names a
    patient (the layout's "Arjun Patel's record" in the title and under the header, careportal/core/layout.py)."""
    request.viewer = None  # type: ignore[attr-defined]
    request.patient_choices = ()  # type: ignore[attr-defined]
    return request


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    # The exception's text is never shown: it could name what was asked for.
    request = _without_record_in_view(request)
    return render(request, "errors/404.jinja", {"page_title": "Page not found"}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    logger.error("server_error")
    request = _without_record_in_view(request)
    # Rendered without the request context processors' data: nothing about the user or patient is shown.
    return render(request, "errors/500.jinja", {"page_title": "Sorry, there is a problem with the service"}, status=500)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    request = _without_record_in_view(request)
    return render(request, "errors/400.jinja", {"page_title": "Sorry, there is a problem with the service"}, status=400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    # Permission failures look like "not found": a page must not confirm that something exists.
    return page_not_found(request, exception)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    request = _without_record_in_view(request)
    return render(request, "errors/csrf.jinja", {"page_title": "Your page timed out"}, status=403)


# For load balancers: 200 when every check passes, 500 otherwise; JSON with `?format=json` or
# `Accept: application/json`. Listed explicitly (the library's defaults include a DNS check that fails offline).
health = HealthCheckView.as_view(
    checks=[
        "careportal.core.health.Database",
        "careportal.core.health.TaskBackend",
    ]
)

__all__ = ["health", "settings"]
