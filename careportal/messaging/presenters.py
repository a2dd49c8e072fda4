"""What the patient's (and proxy's) messages pages show, in plain English, so that the templates hold no rules.

Message text is never turned into HTML here: it is split into paragraphs and lines, and the template escapes each
line, so text that looks like HTML or script reads as the characters the person typed.
"""

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.forms import BoundField
from django.urls import reverse
from django.utils import timezone

from careportal.access.layer import Viewer
from careportal.core.formatting import format_date, format_datetime
from careportal.core.forms import nhs_field
from careportal.core.text import strip_bidi_controls
from careportal.messaging.models import (
    Attachment,
    AuthorRole,
    CorrectionRequest,
    CorrectionStatus,
    Message,
    ScanStatus,
    Thread,
    ThreadStatus,
    Topic,
)
from careportal.patients.models import CareTeam

# The warning every compose and reply page shows before the text box (DESIGN.md, Messages).
URGENT_WARNING = (
    "Do not use messages for urgent problems. In an emergency, call 999. "
    "For urgent advice, call 111 or go to 111.nhs.uk."
)

# Colours follow what the status means to the patient; the words are always there too (never colour alone).
CORRECTION_TAG_COLOURS: dict[str, str] = {
    CorrectionStatus.RECEIVED: "blue",
    CorrectionStatus.UNDER_REVIEW: "yellow",
    CorrectionStatus.CORRECTED: "green",
    CorrectionStatus.DECLINED: "grey",
}

CORRECTION_STATUS_SENTENCES: dict[str, str] = {
    CorrectionStatus.RECEIVED: "The team has your request and will look at it.",
    CorrectionStatus.UNDER_REVIEW: "The team is checking your record against your request.",
    CorrectionStatus.CORRECTED: "The team has corrected your record.",
    CorrectionStatus.DECLINED: "The team has decided not to change your record.",
}


def long_date(value: datetime.date | datetime.datetime | None) -> str:
    """ "Friday 28 November 2026", in the trust's local time."""
    if value is None:
        return ""
    day = timezone.localtime(value).date() if isinstance(value, datetime.datetime) else value
    return f"{day:%A} {format_date(day)}"


def response_target_sentence(team: CareTeam) -> str:
    return f"They aim to reply {team.response_target_text}."


def reply_due_sentence(thread: Thread) -> str:
    """When the team aims to reply, as a date when the thread has one."""
    if thread.reply_due_on is None:
        return response_target_sentence(thread.care_team)
    return f"They aim to reply by {long_date(thread.reply_due_on)}."


def text_paragraphs(text: str) -> list[list[str]]:
    """Text as the person typed it, as paragraphs (split at blank lines) of lines, for the template to escape. Any
    bidirectional override saved before they were removed on input is dropped here too."""
    lines = strip_bidi_controls(text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    return [paragraph for paragraph in paragraphs if paragraph]


def file_size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{round(size / 1024)} KB"
    return f"{size / (1024 * 1024):.1f} MB"


# The list ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tag:
    text: str
    colour: str


@dataclass(frozen=True)
class ThreadSummary:
    href: str
    subject: str
    team: str
    topic: str
    last_activity: str
    tags: list[Tag]


def _correction_tag(correction: CorrectionRequest | None) -> Tag | None:
    if correction is None:
        return None
    return Tag(f"Correction: {correction.get_status_display().lower()}", CORRECTION_TAG_COLOURS[correction.status])


def thread_summary(thread: Any, *, first_person: bool = True) -> ThreadSummary:
    """One line of the list. `thread` comes from `selectors.threads_for_list` (with `last_activity_at` and
    `is_unread`); `first_person` is False for someone reading another person's messages (see topic_label)."""
    tags: list[Tag] = []
    if thread.is_unread:
        tags.append(Tag("Unread", "blue"))
    correction = _correction_tag(getattr(thread, "correction_request", None))
    if correction is not None:
        tags.append(correction)
    if thread.status == ThreadStatus.DONE:
        tags.append(Tag("Closed", "grey"))
    elif thread.status == ThreadStatus.NEW and thread.reply_due_on is not None:
        # The patient wrote last and the team has not answered yet: say so, so nobody wonders if it arrived.
        tags.append(Tag("Waiting for a reply", "white"))
    return ThreadSummary(
        href=reverse("messaging:thread", kwargs={"public_id": thread.public_id}),
        subject=strip_bidi_controls(thread.subject),
        team=thread.care_team.name,
        topic=topic_label(thread.topic, first_person=first_person),
        last_activity=format_date(thread.last_activity_at),
        tags=tags,
    )


def thread_summaries(threads: Iterable[Thread], *, first_person: bool = True) -> list[ThreadSummary]:
    return [thread_summary(thread, first_person=first_person) for thread in threads]


def whose(viewer: Viewer) -> str:
    """For a proxy, whose messages these are ("Arjun Patel"); empty for the patient."""
    return viewer.patient.full_name if viewer.is_proxy and viewer.patient is not None else ""


# The thread ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttachmentView:
    name: str
    size: str
    href: str | None
    state: str  # why there is no link, in words; empty when it can be downloaded
    state_colour: str = "grey"


@dataclass(frozen=True)
class MessageView:
    author: str
    sent: str
    from_team: bool
    paragraphs: list[list[str]]
    attachments: list[AttachmentView]


@dataclass(frozen=True)
class CorrectionStep:
    status: str
    when: str
    by: str
    note: list[list[str]]


@dataclass(frozen=True)
class CorrectionView:
    tag: Tag
    sentence: str
    outcome: list[list[str]]
    history: list[CorrectionStep]


@dataclass(frozen=True)
class ThreadPage:
    subject: str
    team: str
    topic: str
    closed: bool
    messages: list[MessageView]
    correction: CorrectionView | None = None
    reply_due: str = ""
    response_target: str = ""
    whose: str = ""


def attachment_view(attachment: Attachment, *, thread: Thread) -> AttachmentView:
    if attachment.is_available:
        href = reverse(
            "messaging:attachment",
            kwargs={"public_id": thread.public_id, "attachment_id": attachment.public_id},
        )
        return AttachmentView(attachment.display_name, file_size(attachment.size), href, "")
    if attachment.scan_status == ScanStatus.INFECTED:
        return AttachmentView(
            attachment.display_name, file_size(attachment.size), None, "This file was blocked", state_colour="red"
        )
    # Pending, or a check that could not run yet: held until the scanner says it is clean.
    return AttachmentView(attachment.display_name, file_size(attachment.size), None, "Waiting for a virus check")


def message_view(message: Message, *, thread: Thread) -> MessageView:
    return MessageView(
        author=message.author_display,
        sent=format_datetime(message.created_at),
        from_team=message.author_role == AuthorRole.STAFF,
        paragraphs=text_paragraphs(message.body),
        attachments=[attachment_view(a, thread=thread) for a in message.attachments.all()],
    )


def correction_view(correction: CorrectionRequest) -> CorrectionView:
    history = getattr(correction, "history", None)
    changes = history if history is not None else list(correction.changes.order_by("changed_at", "pk"))
    return CorrectionView(
        tag=Tag(correction.get_status_display(), CORRECTION_TAG_COLOURS[correction.status]),
        sentence=CORRECTION_STATUS_SENTENCES[correction.status],
        outcome=text_paragraphs(correction.outcome),
        history=[
            CorrectionStep(
                status=change.get_status_display(),
                when=format_datetime(change.changed_at),
                by=change.changed_by_display,
                note=text_paragraphs(change.note),
            )
            for change in changes
        ],
    )


# Patients choose a topic in the first person ("A question about my care"); anyone reading it for someone else (a
# proxy, the care team) reads it in the third.
TOPICS_FOR_OTHERS = {
    Topic.CARE: "A question about their care",
    Topic.APPOINTMENT: "Their appointment",
    Topic.RESULTS: "Their test results",
    Topic.CORRECTION: "A correction to their record",
    Topic.OTHER: "Something else",
}


def topic_label(value: str, *, first_person: bool) -> str:
    if value not in Topic.values:
        return ""
    return str(Topic(value).label) if first_person else TOPICS_FOR_OTHERS[Topic(value)]


def thread_page(thread: Thread, *, viewer: Viewer) -> ThreadPage:
    """The thread page. `thread` comes from `selectors.thread_for_page` (messages without internal notes, in
    `patient_messages`)."""
    correction = getattr(thread, "correction_request", None)
    awaiting_team = thread.status == ThreadStatus.NEW and thread.reply_due_on is not None
    return ThreadPage(
        subject=strip_bidi_controls(thread.subject),
        team=thread.care_team.name,
        topic=topic_label(thread.topic, first_person=not viewer.is_proxy),
        closed=thread.status == ThreadStatus.DONE,
        messages=[message_view(m, thread=thread) for m in thread.patient_messages],  # type: ignore[attr-defined]
        correction=correction_view(correction) if correction is not None else None,
        reply_due=f"{thread.care_team.name} aims to reply by {long_date(thread.reply_due_on)}."
        if awaiting_team
        else "",
        response_target=f"{thread.care_team.name} aims to reply {thread.care_team.response_target_text}.",
        whose=whose(viewer),
    )


# Compose -------------------------------------------------------------------------------------------------------


def team_radios(bound_field: BoundField, *, teams: list[CareTeam]) -> dict[str, Any]:
    """The NHS.UK radios for choosing a care team, each with its response target as the hint, so the patient
    knows how long a reply takes before choosing."""
    params: dict[str, Any] = nhs_field(bound_field)["params"]
    targets = {str(team.public_id): response_target_sentence(team) for team in teams}
    params["items"] = [dict(item, hint={"text": targets.get(item["value"], "")}) for item in params["items"]]
    return params


@dataclass(frozen=True)
class Choice:
    """What was chosen on the first compose page, as the second one shows it."""

    team: CareTeam
    topic: str
    topic_label: str
    response_target: str


def compose_choice(team: CareTeam, topic: str) -> Choice:
    return Choice(
        team=team,
        topic=topic,
        topic_label=str(Topic(topic).label) if topic in Topic.values else "",
        response_target=response_target_sentence(team),
    )
