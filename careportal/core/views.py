"""Pages that belong to no one domain: help, legal pages, error pages and the health check."""

import structlog
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from health_check.views import HealthCheckView

logger = structlog.get_logger(__name__)


def get_help(request: HttpRequest) -> HttpResponse:
    return render(request, "core/get_help.jinja", {"page_title": "Get help with CarePortal"})


def accessibility(request: HttpRequest) -> HttpResponse:
    return render(request, "core/accessibility.jinja", {"page_title": "Accessibility statement"})


def privacy(request: HttpRequest) -> HttpResponse:
    return render(request, "core/privacy.jinja", {"page_title": "How we use your information"})


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    # The exception's text is never shown: it could name what was asked for.
    return render(request, "errors/404.jinja", {"page_title": "Page not found"}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    logger.error("server_error")
    # Rendered without the request context processors' data: nothing about the user or patient is shown.
    return render(request, "errors/500.jinja", {"page_title": "Sorry, there is a problem with the service"}, status=500)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "errors/400.jinja", {"page_title": "Sorry, there is a problem with the service"}, status=400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    # Permission failures look like "not found": a page must not confirm that something exists.
    return page_not_found(request, exception)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
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
