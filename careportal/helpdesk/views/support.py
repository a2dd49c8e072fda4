"""Requests for help: the confirmation page people see after sending one, and the helpdesk's queue."""

from uuid import UUID

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from careportal.access.decorators import helpdesk_area
from careportal.access.layer import Viewer
from careportal.core.formatting import format_date
from careportal.helpdesk import presenters, selectors, services
from careportal.helpdesk.forms import SupportReplyForm
from careportal.helpdesk.models import SupportRequest, SupportStatus

# The session holds the public id of the request just sent, so the confirmation page needs no id in its URL.
SENT_SESSION_KEY = "careportal_support_request_sent"
QUEUE_PAGE_SIZE = 50


def support_request_sent(request: HttpRequest) -> HttpResponse:
    sent = None
    public_id = request.session.get(SENT_SESSION_KEY)
    if public_id:
        sent = selectors.support_request_by_public_id(public_id=public_id)
    return render(
        request,
        "helpdesk/support_request_sent.jinja",
        {
            "page_title": "Your request for help has been sent",
            "reference": sent.reference if sent else "",
            "reply_by": format_date(sent.reply_due_on) if sent else "",
        },
    )


def _support_request_or_404(public_id: UUID) -> SupportRequest:
    found = selectors.support_request_by_public_id(public_id=public_id)
    if found is None:
        raise Http404("Page not found")
    return found


def _back_to_queue() -> dict[str, str]:
    return {"href": reverse("helpdesk:requests"), "text": "Back to requests for help"}


@helpdesk_area
def queue(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    page = Paginator(selectors.support_queue(), QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "helpdesk/queue.jinja",
        {
            "page_title": "Requests for help",
            "page": page,
            "table_rows": presenters.queue_table_rows(presenters.queue_rows(list(page.object_list))),
        },
    )


def _request_page(
    request: HttpRequest, support_request: SupportRequest, form: SupportReplyForm, *, status: int = 200
) -> HttpResponse:
    return render(
        request,
        "helpdesk/request.jinja",
        {
            "page_title": f"Request for help {support_request.reference}",
            "support_request": support_request,
            "rows": presenters.summary_list(presenters.request_rows(support_request)),
            "overdue": selectors.is_overdue(support_request),
            "description": presenters.text_paragraphs(support_request.description),
            "replies": [(reply, presenters.text_paragraphs(reply.body)) for reply in support_request.replies.all()],
            "account_href": reverse("helpdesk:account", kwargs={"account_id": support_request.user.public_id})
            if support_request.user
            else "",
            "is_closed": support_request.status == SupportStatus.CLOSED,
            "form": form,
            "back_link": _back_to_queue(),
        },
        status=status,
    )


@helpdesk_area
def request_detail(request: HttpRequest, viewer: Viewer, request_id: UUID) -> HttpResponse:
    return _request_page(request, _support_request_or_404(request_id), SupportReplyForm())


@helpdesk_area
@require_POST
def request_assign(request: HttpRequest, viewer: Viewer, request_id: UUID) -> HttpResponse:
    support_request = services.support_request_assign(
        support_request=_support_request_or_404(request_id), actor=viewer.user
    )
    messages.success(request, f"You have taken request {support_request.reference}.")
    return redirect("helpdesk:request", request_id=support_request.public_id)


@helpdesk_area
@require_POST
def request_reply(request: HttpRequest, viewer: Viewer, request_id: UUID) -> HttpResponse:
    """Write the reply, check it on a second page, then send it."""
    support_request = _support_request_or_404(request_id)
    form = SupportReplyForm(request.POST)
    if not form.is_valid() or request.POST.get("action") == "change":
        return _request_page(request, support_request, form)
    reply = form.cleaned_data["reply"]
    if request.POST.get("action") != "send":
        return render(
            request,
            "helpdesk/request_reply_check.jinja",
            {
                "page_title": "Check your reply before sending it",
                "support_request": support_request,
                "reply": reply,
                "reply_paragraphs": presenters.text_paragraphs(reply),
            },
        )
    services.support_request_reply(support_request=support_request, actor=viewer.user, body=reply)
    messages.success(request, f"Your reply to {support_request.reference} is on its way by email.")
    return redirect("helpdesk:request", request_id=support_request.public_id)


@helpdesk_area
@require_POST
def request_close(request: HttpRequest, viewer: Viewer, request_id: UUID) -> HttpResponse:
    support_request = services.support_request_close(
        support_request=_support_request_or_404(request_id), actor=viewer.user
    )
    messages.success(request, f"Request {support_request.reference} is closed.")
    return redirect("helpdesk:requests")
