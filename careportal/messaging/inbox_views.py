"""The care teams' shared message inbox under /staff/messages/: the list of threads with the clinician's teams, a
thread's page with its actions (each a POST to its own address, then back to the thread), starting a thread with
a patient, and the trust's list of urgent phrases.

Threads are resolved through the access layer (`access_thread_as_staff`), which refuses anyone outside the thread's
care team with an audited 404; the changes themselves live in services.py, which checks the rules again.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from careportal.access.layer import (
    Viewer,
    patients_found_by_staff,
    refuse_console,
)
from careportal.access.scopes import Scope
from careportal.accounts.models import User
from careportal.core.formatting import format_date, format_nhs_number
from careportal.core.forms import page_forms_with_failure
from careportal.core.table_rows import summary_rows
from careportal.messaging import inbox_presenters as presenters
from careportal.messaging import inbox_selectors as selectors
from careportal.messaging import phrase_services, services
from careportal.messaging.access import access_thread_as_staff, access_thread_attachment_as_staff
from careportal.messaging.attachments import AttachmentUnavailable, attachment_response
from careportal.messaging.inbox_forms import (
    ActionForm,
    AssignForm,
    CorrectionStatusForm,
    NoteForm,
    PatientSearchForm,
    PhraseActiveForm,
    ReplyForm,
    StartThreadForm,
    UrgentPhraseForm,
)
from careportal.messaging.models import Thread, ThreadStatus
from careportal.patients.access import access_patient_as_staff
from careportal.patients.models import CareTeam, Patient
from careportal.staff.inbox import (
    InboxItems,
    InboxList,
    inbox_action,
    inbox_listing,
    inbox_teams,
    team_inbox_area,
)

HISTORY_PAGE_SIZE = 50
# The value of the add form's second button: count the matches, add nothing.
CHECK_ACTION = "check"
# The words in the patient's access log: "Dr A Okafor, Haematology, viewed your <label>".
LIST_AUDIT_LABEL = "messages in a care team's inbox"
ATTACHMENT_AUDIT_LABEL = "file attached to a message"
START_AUDIT_LABEL = "details to start a message"
INBOX_REFUSAL_LABEL = "a care team's message inbox"
PHRASES_REFUSAL_LABEL = "the list of urgent phrases"
NOT_FOUND_TEXT = (
    "No patient with the hospital number {number} is being looked after by your care teams. Check the number. "
    "You can only write to patients your teams are looking after."
)

ViewFunc = Callable[..., HttpResponseBase]


messages_area = team_inbox_area(scope=Scope.MESSAGES, object_label=INBOX_REFUSAL_LABEL)

MESSAGE_INBOX = InboxList(
    url_name="messaging:inbox",
    filter_labels=selectors.INBOX_FILTER_LABELS,
    default_filter=selectors.InboxFilter.NEW,
    list_audit_label=LIST_AUDIT_LABEL,
)


def phrase_keepers_area(view: ViewFunc) -> ViewFunc:
    """Superusers and the helpdesk: the phrase list is the trust's setting, not patient data. Anyone else (a
    clinician, a patient, a proxy) gets an audited 404."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = request.user
        if user.is_active and (user.is_superuser or getattr(user, "is_helpdesk", False)):
            return view(request, *args, **kwargs)
        refuse_console(request, object_label=PHRASES_REFUSAL_LABEL)
        raise AssertionError("unreachable")  # pragma: no cover - refuse_console raises

    return wrapper


# The inbox -----------------------------------------------------------------------------------------------------


@messages_area
def inbox(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    listing = inbox_listing(
        request, viewer, MESSAGE_INBOX, rows=lambda v, show: selectors.inbox_threads(viewer=v, show=show)
    )
    team = listing.team
    return render(
        request,
        "messaging/inbox/inbox.jinja",
        {
            "page_title": f"Messages: {team.name}" if team else "Messages",
            **listing.context(),
            "show_label": selectors.INBOX_FILTER_LABELS[listing.show],
            "rows": (rows := presenters.inbox_rows(listing.rows, today=timezone.localdate())),
            "table_rows": presenters.inbox_table_rows(rows, several_teams=len(listing.teams) > 1),
        },
    )


def _thread_page(
    request: HttpRequest,
    thread: Thread,
    *,
    failed: forms.Form | None = None,
    status: int = 200,
) -> HttpResponse:
    detailed = selectors.thread_with_detail(thread=thread)
    members = selectors.team_members(care_team=detailed.care_team)
    correction = selectors.correction_of(detailed)
    today = timezone.localdate()
    page_forms: dict[str, forms.Form] = {
        "reply_form": ReplyForm(),
        "note_form": NoteForm(),
        "assign_form": AssignForm(members=members, current=detailed.assigned_to),
        "correction_form": CorrectionStatusForm(),
    }
    context = page_forms_with_failure(page_forms, failed)
    context.update(
        {
            "page_title": presenters.thread_subject(detailed),
            "subject": presenters.thread_subject(detailed),
            "thread": detailed,
            "summary_rows": summary_rows(presenters.summary_rows(detailed, today=today)),
            "due_tag": presenters.due(detailed, today=today)[0],
            "messages_shown": presenters.message_views(detailed, list(detailed.messages.all())),
            "correction": (
                correction_view := presenters.correction_view(correction, list(correction.changes.all()))
                if correction is not None
                else None
            ),
            "correction_history_rows": presenters.correction_history_table_rows(correction_view.history)
            if correction_view is not None
            else [],
            "correction_final": correction is not None and not services.CORRECTION_NEXT[correction.status],
            "is_done": detailed.status == ThreadStatus.DONE,
            "internal_note_text": presenters.INTERNAL_NOTE_TEXT,
            "back_link": {"href": reverse("messaging:inbox"), "text": "Back to messages"},
        }
    )
    return render(request, "messaging/inbox/thread.jinja", context, status=status)


@messages_area
def thread_detail(request: HttpRequest, viewer: Viewer, thread_id: UUID) -> HttpResponse:
    viewer, thread = access_thread_as_staff(viewer=viewer, public_id=thread_id, object_label=services.LABEL_THREAD)
    # Opening the thread is reading it: the list stops showing it as unread for this person (not for colleagues).
    services.thread_mark_read(user=viewer.user, thread=thread)
    return _thread_page(request, thread)


THREADS = InboxItems(
    lookup=access_thread_as_staff,
    object_label=services.LABEL_THREAD,
    url_name="messaging:inbox-thread",
    id_kwarg="thread_id",
    refusal=services.MessagingError,
    page=_thread_page,
)


def _reply(viewer: Viewer, thread: Thread, form: forms.Form) -> str:
    services.thread_reply_by_staff(
        viewer=viewer,
        thread=thread,
        body=form.cleaned_data["body"],
        files=form.clean_files,  # type: ignore[attr-defined]
    )
    return (
        "Reply sent. The patient has been told there is a new message, without any detail. "
        "The conversation is now waiting on the patient."
    )


@require_POST
@messages_area
def thread_reply(request: HttpRequest, viewer: Viewer, thread_id: UUID) -> HttpResponse:
    return inbox_action(
        request,
        viewer,
        thread_id,
        items=THREADS,
        form_for=lambda _t: ReplyForm(request.POST, request.FILES),
        action=_reply,
    )


def _note(viewer: Viewer, thread: Thread, form: forms.Form) -> str:
    services.thread_note_by_staff(viewer=viewer, thread=thread, body=form.cleaned_data["body"])
    return "Internal note added. Only your care team can see it."


@require_POST
@messages_area
def thread_note(request: HttpRequest, viewer: Viewer, thread_id: UUID) -> HttpResponse:
    return inbox_action(
        request,
        viewer,
        thread_id,
        items=THREADS,
        form_for=lambda _t: NoteForm(request.POST),
        action=_note,
    )


def _assign(viewer: Viewer, thread: Thread, form: forms.Form) -> str:
    assignee = form.cleaned_data["assignee"]
    services.thread_assign(viewer=viewer, thread=thread, assignee=assignee)
    if assignee is None:
        return "Unassigned. Nobody is working on this conversation now."
    if assignee.pk == viewer.user.pk:
        return "Assigned to you."
    return f"Assigned to {assignee.audit_name}."


@require_POST
@messages_area
def thread_assign(request: HttpRequest, viewer: Viewer, thread_id: UUID) -> HttpResponse:
    # The choices are the members of the thread's team: anyone else posted is an invalid choice, and the service
    # refuses a non-member again.
    return inbox_action(
        request,
        viewer,
        thread_id,
        items=THREADS,
        form_for=lambda thread: AssignForm(request.POST, members=selectors.team_members(care_team=thread.care_team)),
        action=_assign,
    )


def _close(viewer: Viewer, thread: Thread, form: forms.Form) -> str:
    services.thread_close(viewer=viewer, thread=thread)
    return "Closed. It moves to Done, and comes back to New if the patient writes again."


@require_POST
@messages_area
def thread_close(request: HttpRequest, viewer: Viewer, thread_id: UUID) -> HttpResponse:
    return inbox_action(
        request,
        viewer,
        thread_id,
        items=THREADS,
        form_for=lambda _t: ActionForm(request.POST),
        action=_close,
    )


def _reopen(viewer: Viewer, thread: Thread, form: forms.Form) -> str:
    services.thread_reopen(viewer=viewer, thread=thread)
    if thread.reply_due_on is not None:
        return f"Reopened. It is back in New, with a reply due by {format_date(thread.reply_due_on)}."
    return "Reopened. It is back in New."


@require_POST
@messages_area
def thread_reopen(request: HttpRequest, viewer: Viewer, thread_id: UUID) -> HttpResponse:
    return inbox_action(
        request,
        viewer,
        thread_id,
        items=THREADS,
        form_for=lambda _t: ActionForm(request.POST),
        action=_reopen,
    )


def _correction(viewer: Viewer, thread: Thread, form: forms.Form) -> str:
    correction = selectors.correction_of(thread)
    if correction is None:
        raise services.MessagingError("This conversation is not a request to correct the patient's record.")
    services.correction_status_set(
        viewer=viewer, correction=correction, status=form.cleaned_data["status"], note=form.cleaned_data["note"]
    )
    return f"The correction request is now {correction.get_status_display().lower()}. The patient has been told."


@require_POST
@messages_area
def thread_correction(request: HttpRequest, viewer: Viewer, thread_id: UUID) -> HttpResponse:
    return inbox_action(
        request,
        viewer,
        thread_id,
        items=THREADS,
        form_for=lambda _t: CorrectionStatusForm(request.POST),
        action=_correction,
    )


@messages_area
def attachment_download(request: HttpRequest, viewer: Viewer, thread_id: UUID, attachment_id: UUID) -> HttpResponseBase:
    _viewer, attachment = access_thread_attachment_as_staff(
        viewer=viewer, thread_id=thread_id, attachment_id=attachment_id, object_label=ATTACHMENT_AUDIT_LABEL
    )
    try:
        return attachment_response(attachment)
    except AttachmentUnavailable as unavailable:
        return render(
            request,
            "messaging/inbox/attachment_unavailable.jinja",
            {
                "page_title": "This file cannot be opened yet",
                "reason": str(unavailable),
                "back_link": {
                    "href": reverse("messaging:inbox-thread", kwargs={"thread_id": thread_id}),
                    "text": "Back to the conversation",
                },
            },
            status=409,
        )


# Starting a thread ---------------------------------------------------------------------------------------------


def _start_page(
    request: HttpRequest,
    *,
    search_form: PatientSearchForm,
    patient: Patient | None = None,
    start_form: StartThreadForm | None = None,
    status: int = 200,
) -> HttpResponse:
    failed = start_form if start_form is not None and start_form.errors else search_form
    return render(
        request,
        "messaging/inbox/start.jinja",
        {
            "page_title": "Write to a patient",
            "form": failed,
            "search_form": search_form,
            "patient": patient,
            "patient_rows": summary_rows(
                [
                    ("Name", patient.full_name),
                    ("Born", format_date(patient.birth_date)),
                    ("NHS number", format_nhs_number(patient.nhs_number) or "Not known"),
                    ("Hospital number", patient.hospital_number),
                ]
            )
            if patient is not None
            else [],
            "start_form": start_form,
            "back_link": {"href": reverse("messaging:inbox"), "text": "Back to messages"},
        },
        status=status,
    )


@messages_area
def thread_start(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    """Two steps on one address, both POSTed so that no hospital number reaches a URL: find the patient by their
    hospital number, then write. "Not found" reads the same for a number nobody has and for a patient none of the
    clinician's teams looks after."""
    teams = inbox_teams(viewer=viewer)
    if request.method != "POST":
        return _start_page(request, search_form=PatientSearchForm(), status=200)
    if f"{StartThreadForm.prefix}-patient" in request.POST:
        return _start_send(request, viewer, teams)
    search_form = PatientSearchForm(request.POST)
    if not search_form.is_valid():
        return _start_page(request, search_form=search_form, status=400)
    number = search_form.cleaned_data["hospital_number"]
    patient = selectors.patient_by_hospital_number(viewer=viewer, hospital_number=number)
    if patient is None:
        search_form.add_error("hospital_number", NOT_FOUND_TEXT.format(number=number))
        return _start_page(request, search_form=search_form, status=200)
    patients_found_by_staff(viewer=viewer, patients=[patient], object_label=START_AUDIT_LABEL)
    start_form = StartThreadForm(initial={"patient": patient.public_id}, teams=teams)
    return _start_page(request, search_form=PatientSearchForm(), patient=patient, start_form=start_form)


def _start_send(request: HttpRequest, viewer: Viewer, teams: list[CareTeam]) -> HttpResponse:
    form = StartThreadForm(request.POST, request.FILES, teams=teams)
    patient_id = form["patient"].value()
    try:
        UUID(str(patient_id))
    except ValueError:
        raise Http404("Page not found") from None
    # The patient is checked again, as on any address that names one: the hidden field could have been edited.
    viewer, patient = access_patient_as_staff(
        viewer=viewer, public_id=str(patient_id), scope=Scope.MESSAGES, object_label=START_AUDIT_LABEL
    )
    if form.is_valid():
        try:
            thread = services.thread_start_by_staff(
                viewer=viewer,
                patient=patient,
                care_team=form.cleaned_data["care_team"],
                topic=form.cleaned_data["topic"],
                subject=form.cleaned_data["subject"],
                body=form.cleaned_data["body"],
                files=form.clean_files,
            )
        except services.MessagingError as refusal:
            form.add_error(None, str(refusal))
        else:
            messages.success(
                request, "Message sent. The patient has been told there is a new message, without any detail."
            )
            return redirect("messaging:inbox-thread", thread_id=thread.public_id)
    return _start_page(request, search_form=PatientSearchForm(), patient=patient, start_form=form, status=400)


# Urgent phrases ------------------------------------------------------------------------------------------------


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


@phrase_keepers_area
def urgent_phrases(request: HttpRequest) -> HttpResponse:
    """The list, with a form to add a phrase ("Check the phrase" counts how many recent messages it would have
    stopped and adds nothing; "Add the phrase" adds it, after a confirmation when the count is high) and a button
    per phrase to switch it off or on. Every change goes through the phrase services, which keep its history."""
    add_form = UrgentPhraseForm()
    failed: forms.BaseForm | None = None
    if request.method == "POST":
        if f"{PhraseActiveForm.prefix}-phrase" in request.POST:
            toggle = PhraseActiveForm(request.POST)
            if toggle.is_valid():
                phrase = phrase_services.urgent_phrase_set_active(
                    by=_user(request), phrase=toggle.cleaned_data["phrase"], active=toggle.cleaned_data["active"]
                )
                state = "will show the urgent-care page again" if phrase.is_active else "no longer shows the page"
                messages.success(request, f'"{phrase.phrase}" {state}.')
                return redirect("messaging:urgent-phrases")
            failed = toggle
        else:
            saving = request.POST.get("action") != CHECK_ACTION
            add_form = UrgentPhraseForm(request.POST, saving=saving)
            if add_form.is_valid() and saving:
                try:
                    phrase = phrase_services.urgent_phrase_add(
                        by=_user(request),
                        phrase=add_form.cleaned_data["phrase"],
                        category=add_form.cleaned_data["category"],
                    )
                except phrase_services.PhraseError as refusal:
                    add_form.add_error("phrase", str(refusal))
                else:
                    preview = add_form.preview.text if add_form.preview is not None else ""
                    messages.success(
                        request, f'"{phrase.phrase}" added. Messages that mention it now show the page. {preview}'
                    )
                    return redirect("messaging:urgent-phrases")
            if add_form.errors:
                failed = add_form
    return render(
        request,
        "messaging/inbox/urgent_phrases.jinja",
        {
            "page_title": "Urgent phrases",
            "form": failed,
            "add_form": add_form,
            "preview": add_form.preview if add_form.is_bound else None,
            "check_action": CHECK_ACTION,
            "table_rows": presenters.phrase_table_rows(
                presenters.phrase_rows(selectors.urgent_phrases_with_counts()), request=request
            ),
            "recent_days": selectors.RECENT_INTERCEPTIONS_DAYS,
            "history_href": reverse("messaging:urgent-phrases-history"),
            "back_link": {"href": reverse("staff:home"), "text": "Back to the staff console"},
        },
        status=400 if failed is not None else 200,
    )


@phrase_keepers_area
def urgent_phrases_history(request: HttpRequest) -> HttpResponse:
    """Who added, changed, switched off or on, or deleted which phrase, and when, newest first."""
    page = Paginator(selectors.urgent_phrase_changes(), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "messaging/inbox/urgent_phrases_history.jinja",
        {
            "page_title": "Changes to the urgent phrases",
            "page": page,
            "table_rows": presenters.phrase_change_table_rows(presenters.phrase_change_rows(list(page.object_list))),
            "back_link": {"href": reverse("messaging:urgent-phrases"), "text": "Back to the urgent phrases"},
        },
    )
