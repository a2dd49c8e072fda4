"""Emails and texts that failed or are being retried: nothing is lost silently."""

from uuid import UUID

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from careportal.access.decorators import helpdesk_area
from careportal.access.layer import Viewer
from careportal.helpdesk import presenters, services
from careportal.notifications.selectors import notifications_needing_attention

PAGE_SIZE = 50


@helpdesk_area
def notifications(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    queryset = notifications_needing_attention().order_by("-created_at", "-id")
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "helpdesk/notifications.jinja",
        {
            "page_title": "Emails and texts needing attention",
            "page": page,
            "rows": presenters.notification_rows(list(page.object_list)),
        },
    )


@helpdesk_area
@require_POST
def notification_retry(request: HttpRequest, viewer: Viewer, notification_id: UUID) -> HttpResponse:
    notification = notifications_needing_attention().filter(public_id=notification_id).first()
    if notification is None:
        raise Http404("Page not found")
    if services.notification_retry(notification=notification, actor=viewer.user):
        messages.success(request, "It will be sent again now. Check this page again in a few minutes.")
    else:
        messages.error(
            request, "It cannot be sent again: its content is no longer held. Contact the person another way."
        )
    return redirect("helpdesk:notifications")
