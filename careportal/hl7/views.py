"""The HL7 message pages under /staff/hl7/: the unmatched-messages queue, an overview of recent messages, and one
message's page with its two ways out of the queue: match it to a patient and replay it, or dismiss it with a reason.

Raw messages carry clinical data, so only superusers and holders of the `hl7.change_inboundmessage` permission see
these pages (`hl7_operator_viewer`); everyone else gets an audited 404. Opening a message that names a known
patient is recorded in that patient's access log, and so is looking a patient up to match a message.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from careportal.access.layer import Viewer, patients_found_by_staff, staff_change_record
from careportal.core.table_rows import summary_rows
from careportal.hl7 import presenters, selectors
from careportal.hl7.access import access_message_as_operator, hl7_operator_viewer
from careportal.hl7.forms import ConfirmMatchForm, DismissForm, JournalPageForm, MatchForm, ReuseCheckedForm
from careportal.hl7.models import InboundMessage, MessageStatus

PAGE_SIZE = 50
MESSAGE_LABEL = "details in a message from a hospital system"
LOOKUP_LABEL = "details, to match a message from a hospital system"
DISMISS_LABEL = "message from a hospital system"
ALREADY_RESOLVED = "This message no longer needs attention: someone has already replayed or dismissed it."
NOT_REPLAYABLE = (
    "This message could not be read as HL7, so it cannot be replayed. Ask the sending system to send it again, "
    "then dismiss this copy."
)

ViewFunc = Callable[..., HttpResponse]


def hl7_operator_area(view: ViewFunc) -> ViewFunc:
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        viewer = hl7_operator_viewer(request)
        request.viewer = viewer  # type: ignore[attr-defined]
        return view(request, viewer, *args, **kwargs)

    return wrapper


def _pagination(page: Any, query: str) -> dict[str, Any]:
    def link(number: int) -> dict[str, str]:
        return {"href": f"?{query}page={number}", "labelText": f"Page {number} of {page.paginator.num_pages}"}

    return {
        "previous": link(page.previous_page_number()) if page.has_previous() else None,
        "next": link(page.next_page_number()) if page.has_next() else None,
    }


@hl7_operator_area
def unmatched(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    page = Paginator(selectors.messages_needing_attention(), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "hl7/unmatched.jinja",
        {
            "page_title": "HL7 messages needing attention",
            "page": page,
            "pagination": _pagination(page, ""),
            "rows": presenters.message_table_rows(presenters.message_rows(list(page.object_list))),
        },
    )


@hl7_operator_area
def recent(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    status, start, direction, link_broken = JournalPageForm(request.GET).wanted()
    page, found = selectors.messages_recent_page(status=status, start=start, direction=direction, size=PAGE_SIZE)
    return render(
        request,
        "hl7/recent.jinja",
        {
            "page_title": "HL7 messages received",
            "rows": presenters.message_table_rows(presenters.message_rows(page.rows)),
            "caption": presenters.journal_caption(page.rows, status=status, newest=page.newer_from is None),
            "link_broken": link_broken or not found,
            # Acknowledged after store, not moved into the journal yet: they would be listed as waiting to be
            # applied, so the note shows with every message or those waiting.
            "arrivals": (
                presenters.arrivals_notice(selectors.arrivals_waiting(), now=timezone.now())
                if status in ("", MessageStatus.STORED)
                else ""
            ),
            "pagination": presenters.journal_pagination(page, status=status),
            "status": status,
            "filters": [
                {"text": "All", "href": reverse("hl7:recent"), "current": not status},
                *(
                    {
                        "text": presenters.STATUS_SHORT[value],
                        "href": f"{reverse('hl7:recent')}?status={value.value}",
                        "current": status == value,
                    }
                    for value in MessageStatus
                ),
            ],
        },
    )


def _problem(text: str) -> forms.Form:
    """A form with no fields that carries one problem to the page's error summary."""
    carrier = forms.Form(data={})
    carrier.is_valid()
    carrier.add_error(None, text)
    return carrier


def _message_page(
    request: HttpRequest,
    message: InboundMessage,
    *,
    match_form: MatchForm | None = None,
    dismiss_form: DismissForm | None = None,
    checked_form: ReuseCheckedForm | None = None,
    failed: forms.Form | None = None,
) -> HttpResponse:
    context: dict[str, Any] = {
        "page_title": f"HL7 message {message.message_type or 'that could not be read'}",
        "message": message,
        "rows": summary_rows(presenters.message_rows_detail(message)),
        "segments": presenters.segments(message.raw),
        "replays": presenters.message_table_rows(presenters.message_rows(selectors.message_replays(message=message))),
        "replay_of_href": reverse("hl7:message", kwargs={"message_id": message.replay_of.public_id})
        if message.replay_of
        else "",
        "patient_rows": summary_rows(presenters.patient_rows(message.patient)) if message.patient else [],
        "can_replay": presenters.can_replay(message),
        "can_mark_checked": presenters.can_mark_checked(message),
        "reuse_explanation": presenters.REUSE_EXPLANATION if message.control_id_reused else "",
        "same_control_id": presenters.message_table_rows(
            presenters.message_rows(selectors.messages_sharing_control_id(message=message))
        )
        if message.control_id_reused
        else [],
        "checked_form": checked_form or ReuseCheckedForm(),
        "match_form": match_form or MatchForm(),
        "dismiss_form": dismiss_form or DismissForm(),
        "back_link": {"href": reverse("hl7:unmatched"), "text": "Back to messages needing attention"},
    }
    if failed is not None:
        context["form"] = failed  # the base layout builds the error summary from `form`
    return render(request, "hl7/message.jinja", context, status=400 if failed is not None else 200)


@hl7_operator_area
def message_detail(request: HttpRequest, viewer: Viewer, message_id: UUID) -> HttpResponse:
    message = access_message_as_operator(viewer=viewer, public_id=message_id, object_label=MESSAGE_LABEL)
    return _message_page(request, message)


@require_POST
@hl7_operator_area
def message_match(request: HttpRequest, viewer: Viewer, message_id: UUID) -> HttpResponse:
    """Step one: find the patient by hospital number and show who it is, for the member of staff to confirm."""
    message = access_message_as_operator(viewer=viewer, public_id=message_id, object_label=MESSAGE_LABEL)
    form = MatchForm(request.POST)
    if not message.needs_attention:
        form.add_error(None, ALREADY_RESOLVED)
    elif not presenters.can_replay(message):
        form.add_error(None, NOT_REPLAYABLE)
    elif form.is_valid():
        hospital_number = form.cleaned_data["hospital_number"]
        patient = selectors.patient_by_hospital_number(hospital_number=hospital_number)
        if patient is None:
            form.add_error(
                "hospital_number",
                f"No patient has the hospital number {hospital_number}. Check the number in the patient "
                "administration system: a patient registered there reaches CarePortal in an ADT message first.",
            )
        else:
            patients_found_by_staff(viewer=viewer, patients=[patient], object_label=LOOKUP_LABEL)
            return render(
                request,
                "hl7/message_match_confirm.jinja",
                {
                    "page_title": "Check this is the right patient",
                    "message": message,
                    "patient_rows": summary_rows(presenters.patient_rows(patient)),
                    "patient_id": patient.public_id,
                    "back_link": {
                        "href": reverse("hl7:message", kwargs={"message_id": message.public_id}),
                        "text": "Back to the message",
                    },
                },
            )
    return _message_page(request, message, match_form=form, failed=form)


@require_POST
@hl7_operator_area
def message_match_confirm(request: HttpRequest, viewer: Viewer, message_id: UUID) -> HttpResponse:
    """Step two: replay the message for the confirmed patient."""
    from careportal.hl7.services import message_replay

    message = access_message_as_operator(viewer=viewer, public_id=message_id, object_label=MESSAGE_LABEL)
    confirm = ConfirmMatchForm(request.POST)
    patient = None
    if confirm.is_valid():
        patient = selectors.patient_by_public_id(public_id=str(confirm.cleaned_data["patient"]))
    if not message.needs_attention:
        problem = ALREADY_RESOLVED
    elif not presenters.can_replay(message):
        problem = NOT_REPLAYABLE
    elif patient is None:
        problem = "Find the patient by their hospital number again"
    else:
        try:
            message_replay(message=message, patient=patient, by=viewer.user)
        except ValueError as refusal:
            problem = f"The message still could not be applied: {refusal}"
        else:
            # message_replay records the change in the patient's access log itself, in its own transaction.
            messages.success(
                request,
                f"The message was replayed and applied to the record with hospital number {patient.hospital_number}.",
            )
            return redirect("hl7:message", message_id=message.public_id)
    return _message_page(request, message, failed=_problem(problem))


@require_POST
@hl7_operator_area
def message_dismiss(request: HttpRequest, viewer: Viewer, message_id: UUID) -> HttpResponse:
    from careportal.hl7.services import message_dismiss as dismiss

    message = access_message_as_operator(viewer=viewer, public_id=message_id, object_label=MESSAGE_LABEL)
    if presenters.can_mark_checked(message):
        return _mark_checked(request, viewer, message)
    form = DismissForm(request.POST)
    if not message.needs_attention:
        form.add_error(None, ALREADY_RESOLVED)
    elif form.is_valid():
        try:
            dismiss(message=message, by=viewer.user, reason=form.cleaned_data["reason"])
        except ValueError as refusal:
            form.add_error(None, str(refusal))
        else:
            staff_change_record(viewer=viewer, patient=message.patient, object_label=DISMISS_LABEL, obj=message)
            messages.success(request, "The message was dismissed. It stays in the list of messages received.")
            return redirect("hl7:unmatched")
    return _message_page(request, message, dismiss_form=form, failed=form)


def _mark_checked(request: HttpRequest, viewer: Viewer, message: InboundMessage) -> HttpResponse:
    """An applied message with a reused control id: staff say what they found, and it leaves the queue."""
    from careportal.hl7.services import message_reuse_checked

    form = ReuseCheckedForm(request.POST)
    if form.is_valid():
        try:
            message_reuse_checked(message=message, by=viewer.user, note=form.cleaned_data["note"])
        except ValueError as refusal:
            form.add_error(None, str(refusal))
        else:
            staff_change_record(viewer=viewer, patient=message.patient, object_label=DISMISS_LABEL, obj=message)
            messages.success(request, "The message was marked as checked. It stays applied.")
            return redirect("hl7:unmatched")
    return _message_page(request, message, checked_form=form, failed=form)
