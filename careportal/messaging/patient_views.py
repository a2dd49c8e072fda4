"""The patient's (and proxy's) messages pages: /messages/. Thin: access, select, call a service, present, render.

Writing a message takes two pages: choose the care team and what it is about (/messages/new/), then write it
(/messages/new/write/). The choice is kept in the session between the two and posted again with the message, so
two messages being written in two tabs do not mix. Before anything is sent, text that suggests an emergency shows
the urgent-care page instead (the same address, re-rendered); the text travels back in the form the patient
posts, never in the session or the interception record, and files must be chosen again (see docs/messaging.md).
"""

from typing import Any
from uuid import UUID

from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from careportal.access.decorators import patient_area
from careportal.access.layer import Viewer, access_patient_record
from careportal.access.scopes import Scope
from careportal.home.presenters import patient_navigation
from careportal.messaging import presenters, selectors
from careportal.messaging.attachments import AttachmentUnavailable, attachment_response
from careportal.messaging.models import AuthorRole, Thread
from careportal.messaging.patient_forms import ChooseTeamForm, ComposeForm, ReplyForm
from careportal.messaging.services import (
    MessagingError,
    thread_mark_read,
    thread_reply_by_patient,
    thread_start_by_patient,
    urgent_interception_record,
    urgent_interception_sent_anyway,
)
from careportal.messaging.urgent import urgent_phrase_found
from careportal.patients.models import CareTeam
from careportal.patients.voice import voice_for

THREADS_PER_PAGE = 20

# The team and topic chosen on the first compose page: public id and topic value only, never anything typed.
COMPOSE_CHOICE_KEY = "careportal_message_choice"
# Interceptions this browser was shown the urgent-care page for: "send anyway" is honoured only for one of these,
# so a forged form cannot mark someone else's interception as sent anyway.
URGENT_SHOWN_KEY = "careportal_urgent_shown"
URGENT_SHOWN_KEPT = 10
# The hidden field the urgent-care page posts back, naming the interception the patient has seen.
URGENT_FIELD = "urgent_interception"


def _context(viewer: Viewer, **extra: Any) -> dict[str, Any]:
    return {
        "viewer": viewer,
        "voice": voice_for(viewer),
        "whose": presenters.whose(viewer),
        "navigation_items": patient_navigation(viewer),
    } | extra


@patient_area
def thread_list(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    access_patient_record(viewer=viewer, scope=Scope.MESSAGES, object_label=selectors.LABEL_LIST)
    page = Paginator(selectors.threads_for_list(viewer=viewer), THREADS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "messaging/patient/list.jinja",
        _context(
            viewer,
            page_title="Messages",
            page=page,
            summaries=presenters.thread_summaries(page.object_list, first_person=not viewer.is_proxy),
        ),
    )


@patient_area
def compose(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    patient = access_patient_record(viewer=viewer, scope=Scope.MESSAGES, object_label=selectors.LABEL_COMPOSE)
    teams = selectors.compose_teams(viewer=viewer, patient=patient)
    back_link = {"href": reverse("messaging:list"), "text": "Back to messages"}
    if not teams:
        return render(
            request,
            "messaging/patient/no_teams.jinja",
            _context(viewer, page_title="You cannot send a message yet", back_link=back_link),
        )
    if request.method == "POST":
        if request.POST.get("care_team"):
            selectors.compose_team(teams=teams, public_id=request.POST["care_team"])
        form = ChooseTeamForm(request.POST, teams=teams, first_person=not viewer.is_proxy)
        if form.is_valid():
            request.session[COMPOSE_CHOICE_KEY] = {
                "care_team": form.cleaned_data["care_team"],
                "topic": form.cleaned_data["topic"],
            }
            return redirect("messaging:compose-write")
    else:
        form = ChooseTeamForm(
            initial=request.session.get(COMPOSE_CHOICE_KEY) or {}, teams=teams, first_person=not viewer.is_proxy
        )
    return render(
        request,
        "messaging/patient/compose.jinja",
        _context(
            viewer,
            page_title="Write a message",
            form=form,
            team_radios=presenters.team_radios(form["care_team"], teams=teams),
            urgent_warning=presenters.URGENT_WARNING,
            back_link=back_link,
        ),
    )


@patient_area
def compose_write(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    patient = access_patient_record(viewer=viewer, scope=Scope.MESSAGES, object_label=selectors.LABEL_COMPOSE)
    teams = selectors.compose_teams(viewer=viewer, patient=patient)
    chosen = request.session.get(COMPOSE_CHOICE_KEY) or {}
    if request.method == "POST":
        team = selectors.compose_team(teams=teams, public_id=request.POST.get("care_team"))
        form = ComposeForm(request.POST, request.FILES)
        if form.is_valid():
            return _send_or_intercept(request, viewer, form=form, care_team=team)
    else:
        if not chosen.get("care_team"):
            return redirect("messaging:compose")
        team = selectors.compose_team(teams=teams, public_id=chosen["care_team"])
        form = ComposeForm(initial={"topic": chosen.get("topic")})
    return _write_page(request, viewer, form=form, care_team=team)


@patient_area
def thread(request: HttpRequest, viewer: Viewer, public_id: UUID) -> HttpResponse:
    conversation = selectors.thread_for_page(viewer=viewer, public_id=public_id)
    if request.method == "POST":
        form = ReplyForm(request.POST, request.FILES)
        if form.is_valid():
            return _send_or_intercept(request, viewer, form=form, care_team=conversation.care_team, thread=conversation)
    else:
        form = ReplyForm()
    thread_mark_read(user=viewer.user, thread=conversation)
    return _thread_page(request, viewer, form=form, thread=conversation)


@patient_area
def sent(request: HttpRequest, viewer: Viewer, public_id: UUID) -> HttpResponse:
    conversation = selectors.thread_by_id(viewer=viewer, public_id=public_id)
    return render(
        request,
        "messaging/patient/sent.jinja",
        _context(
            viewer,
            page_title="Message sent",
            team=conversation.care_team.name,
            reply_due=presenters.reply_due_sentence(conversation),
            thread_href=reverse("messaging:thread", kwargs={"public_id": conversation.public_id}),
        ),
    )


@patient_area
def attachment(request: HttpRequest, viewer: Viewer, public_id: UUID, attachment_id: UUID) -> HttpResponse:
    found = selectors.attachment_for_download(viewer=viewer, thread_id=public_id, attachment_id=attachment_id)
    try:
        # A streamed file, not an HttpResponse: patient_area's type names the common case.
        return attachment_response(found)  # type: ignore[return-value]
    except AttachmentUnavailable:
        raise Http404("Page not found") from None


# Sending, with the urgent-care check -----------------------------------------------------------------------------


def _send_or_intercept(
    request: HttpRequest,
    viewer: Viewer,
    *,
    form: ComposeForm | ReplyForm,
    care_team: CareTeam,
    thread: Thread | None = None,
) -> HttpResponse:
    data = form.cleaned_data
    text = f"{data.get('subject', '')}\n{data['body']}"
    seen = _urgent_page_seen(request)
    if seen is None:
        phrase = urgent_phrase_found(text)
        if phrase is not None:
            author_role = AuthorRole.PROXY if viewer.is_proxy else AuthorRole.PATIENT
            interception = urgent_interception_record(phrase=phrase, care_team=care_team, author_role=author_role)
            _remember_urgent_page(request, interception.pk)
            return _urgent_page(request, viewer, form=form, care_team=care_team, thread=thread, seen=interception.pk)
    try:
        # Either both happen or neither: an interception is "sent anyway" only when the message was sent.
        with transaction.atomic():
            if seen is not None:
                urgent_interception_sent_anyway(interception_id=seen)
            if thread is None:
                thread = thread_start_by_patient(
                    viewer=viewer,
                    care_team=care_team,
                    topic=data["topic"],
                    subject=data.get("subject", ""),
                    body=data["body"],
                    files=form.clean_files,
                )
            else:
                thread_reply_by_patient(viewer=viewer, thread=thread, body=data["body"], files=form.clean_files)
    except MessagingError as refused:
        form.add_error(None, str(refused))
        if thread is None:
            return _write_page(request, viewer, form=form, care_team=care_team)  # type: ignore[arg-type]
        return _thread_page(request, viewer, form=form, thread=thread)  # type: ignore[arg-type]
    request.session.pop(COMPOSE_CHOICE_KEY, None)
    return redirect("messaging:sent", public_id=thread.public_id)


def _urgent_page_posted(request: HttpRequest) -> str:
    """The interception id a form posted back, kept in the page when the form comes back with an error (a file
    chosen again on the urgent-care page was refused), so the patient is not shown that page twice."""
    posted = request.POST.get(URGENT_FIELD, "") if request.method == "POST" else ""
    return posted if posted.isdigit() and int(posted) in request.session.get(URGENT_SHOWN_KEY, []) else ""


def _urgent_page_seen(request: HttpRequest) -> int | None:
    """The interception the patient saw the urgent-care page for and chose to send anyway, if they did."""
    posted = request.POST.get(URGENT_FIELD, "")
    shown: list[int] = request.session.get(URGENT_SHOWN_KEY, [])
    if not posted.isdigit() or int(posted) not in shown:
        return None
    request.session[URGENT_SHOWN_KEY] = [pk for pk in shown if pk != int(posted)]
    return int(posted)


def _remember_urgent_page(request: HttpRequest, interception_id: int) -> None:
    shown: list[int] = request.session.get(URGENT_SHOWN_KEY, [])
    request.session[URGENT_SHOWN_KEY] = [*shown, interception_id][-URGENT_SHOWN_KEPT:]


def _urgent_page(
    request: HttpRequest,
    viewer: Viewer,
    *,
    form: ComposeForm | ReplyForm,
    care_team: CareTeam,
    thread: Thread | None,
    seen: int,
) -> HttpResponse:
    data = form.cleaned_data
    form.fields["attachments"].label = "Choose the files again (optional)"
    if thread is None:
        action = reverse("messaging:compose-write")
        cancel = reverse("messaging:list")
        hidden = {"care_team": str(care_team.public_id), "topic": data["topic"], "subject": data.get("subject", "")}
    else:
        action = reverse("messaging:thread", kwargs={"public_id": thread.public_id})
        cancel = action
        hidden = {}
    return render(
        request,
        "messaging/patient/urgent.jinja",
        _context(
            viewer,
            page_title="Do you need urgent help?",
            action=action,
            cancel_href=cancel,
            hidden=hidden | {"body": data["body"], URGENT_FIELD: str(seen)},
            # Files are not kept until the message is sent: the patient is asked to choose them again.
            file_names=[upload.name for upload in data.get("attachments") or []],
            attachments_field=form["attachments"],
        ),
    )


def _write_page(request: HttpRequest, viewer: Viewer, *, form: ComposeForm, care_team: CareTeam) -> HttpResponse:
    return render(
        request,
        "messaging/patient/write.jinja",
        _context(
            viewer,
            page_title="Write your message",
            form=form,
            choice=presenters.compose_choice(care_team, str(form["topic"].value() or "")),
            urgent_warning=presenters.URGENT_WARNING,
            urgent_seen=_urgent_page_posted(request),
            files_dropped=bool(form.errors and request.FILES),
            back_link={"href": reverse("messaging:compose"), "text": "Back"},
        ),
    )


def _thread_page(request: HttpRequest, viewer: Viewer, *, form: ReplyForm, thread: Thread) -> HttpResponse:
    page = presenters.thread_page(thread, viewer=viewer)
    return render(
        request,
        "messaging/patient/thread.jinja",
        _context(
            viewer,
            page_title=page.subject,
            thread=page,
            form=form,
            urgent_warning=presenters.URGENT_WARNING,
            urgent_seen=_urgent_page_posted(request),
            files_dropped=bool(form.errors and request.FILES),
            back_link={"href": reverse("messaging:list"), "text": "Back to messages"},
        ),
    )
