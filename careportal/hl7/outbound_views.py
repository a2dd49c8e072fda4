"""/staff/hl7/outbound/: messages CarePortal sends to hospital systems (ADT^A31 to the PAS), with their status, why
one failed, and "try again now". For integration administrators (`hl7_operator_viewer`). The list shows no patient
details, so reading it is not a read of anyone's record; retrying a message is recorded in its patient's log."""

from uuid import UUID

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from careportal.access.layer import Viewer
from careportal.hl7 import outbound, presenters, selectors
from careportal.hl7.access import access_outbound_as_operator
from careportal.hl7.forms import OutboundPageForm
from careportal.hl7.models import OutboundStatus
from careportal.hl7.views import PAGE_SIZE, hl7_operator_area

RETRY_LABEL = "details sent to the hospital's records system"


@hl7_operator_area
def outbound_list(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    status, start, direction, link_broken = OutboundPageForm(request.GET).wanted()
    page, found = selectors.outbound_page(status=status, start=start, direction=direction, size=PAGE_SIZE)
    return render(
        request,
        "hl7/outbound.jinja",
        {
            "page_title": "HL7 messages sent to the PAS",
            "caption": presenters.outbound_caption(page.rows, status=status, newest=page.newer_from is None),
            "link_broken": link_broken or not found,
            "pagination": presenters.journal_pagination(page, status=status, url_name="hl7:outbound"),
            "rows": presenters.outbound_rows(page.rows),
            "counts": selectors.outbound_counts(),
            "endpoint": outbound.endpoint_description(),
            "filters": [
                {"text": "All", "href": reverse("hl7:outbound"), "current": not status},
                *(
                    {
                        "text": presenters.OUTBOUND_SHORT[value],
                        "href": f"{reverse('hl7:outbound')}?status={value.value}",
                        "current": status == value,
                    }
                    for value in OutboundStatus
                ),
            ],
        },
    )


@require_POST
@hl7_operator_area
def outbound_retry(request: HttpRequest, viewer: Viewer, message_id: UUID) -> HttpResponse:
    message = access_outbound_as_operator(viewer=viewer, public_id=message_id, object_label=RETRY_LABEL)
    try:
        outbound.outbound_retry_now(message=message)
    except outbound.RetryRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(
            request,
            f"Message {message.control_id} will be sent again now."
            if outbound.endpoint_configured()
            else f"Message {message.control_id} is queued again. It will be sent once a PAS endpoint is configured.",
        )
    return redirect("hl7:outbound")
