"""What the care teams' message inbox shows, in words: templates only lay these out.

Where a thread stands against the team's reply target is a tag with words ("Overdue", "Due today"), never colour
alone. Message bodies are handed over as typed; the templates escape them and keep their line breaks.
"""

import datetime
from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import reverse
from markupsafe import Markup, escape

from careportal.accounts.models import User
from careportal.core.formatting import format_date, format_datetime, format_nhs_number
from careportal.core.table_rows import Cell, bdi, csrf_input_html, format_markup, macro, tag_html
from careportal.core.text import strip_bidi_controls
from careportal.messaging.models import (
    Attachment,
    AuthorRole,
    CorrectionRequest,
    CorrectionStatusChange,
    Message,
    ScanStatus,
    Thread,
    ThreadStatus,
    UrgentPhrase,
    UrgentPhraseChange,
)
from careportal.messaging.presenters import topic_label
from careportal.messaging.urgent import phrase_problem

INTERNAL_NOTE_TEXT = "Internal note – the patient cannot see this"
NOBODY = "Nobody yet"


@dataclass(frozen=True)
class Tag:
    text: str
    colour: str


@dataclass(frozen=True)
class InboxRow:
    href: str
    patient_name: str
    hospital_number: str
    subject: str
    topic: str
    team: str
    last_activity: str
    assignee: str
    status: str
    due_tag: Tag | None
    due_text: str
    unread: bool


@dataclass(frozen=True)
class AttachmentView:
    name: str
    size: str
    href: str
    unavailable_reason: str


@dataclass(frozen=True)
class MessageView:
    author: str
    written: str
    body: str
    is_internal_note: bool
    from_team: bool
    attachments: list[AttachmentView]


@dataclass(frozen=True)
class HistoryRow:
    when: str
    status: str
    who: str
    note: str


@dataclass(frozen=True)
class CorrectionView:
    status: str
    status_value: str
    outcome: str
    decided: str
    history: list[HistoryRow]


@dataclass(frozen=True)
class PhraseRow:
    pk: int
    phrase: str
    category: str
    is_active: bool
    active_text: str
    recent: str
    total: str
    # Saved before phrases needed four letters: never matches, whatever its state says.
    too_short: bool = False


def topic_text(value: str) -> str:
    return topic_label(value, first_person=False) or value


def status_text(thread: Thread) -> str:
    return str(ThreadStatus(thread.status).label)


def due(thread: Thread, *, today: datetime.date) -> tuple[Tag | None, str]:
    """Where a new thread stands against the team's reply target: a tag in words, and a sentence with the date.
    Threads waiting on the patient or done owe no reply, so they say nothing."""
    if thread.status != ThreadStatus.NEW or thread.reply_due_on is None:
        return None, ""
    if thread.reply_due_on < today:
        return Tag("Overdue", "red"), f"Reply was due by {format_date(thread.reply_due_on)}"
    if thread.reply_due_on == today:
        return Tag("Due today", "orange"), "Reply due by the end of today"
    return None, f"Reply due by {format_date(thread.reply_due_on)}"


def _name(user: User | None) -> str:
    return user.audit_name if user is not None else ""


def inbox_rows(threads: list[Thread], *, today: datetime.date) -> list[InboxRow]:
    rows = []
    for thread in threads:
        tag, due_words = due(thread, today=today)
        rows.append(
            InboxRow(
                href=reverse("messaging:inbox-thread", kwargs={"thread_id": thread.public_id}),
                patient_name=thread.patient.full_name,
                hospital_number=thread.patient.hospital_number,
                subject=strip_bidi_controls(thread.subject),
                topic=topic_text(thread.topic),
                team=thread.care_team.name,
                last_activity=format_datetime(getattr(thread, "last_activity_at", None) or thread.created_at),
                assignee=_name(thread.assigned_to) or NOBODY,
                status=status_text(thread),
                due_tag=tag,
                due_text=due_words,
                unread=thread.last_patient_message_at is not None and not getattr(thread, "read_by_me", True),
            )
        )
    return rows


def _size_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{max(size // 1024, 1)} KB"
    return f"{size} bytes"


def attachment_views(thread: Thread, attachments: list[Attachment]) -> list[AttachmentView]:
    views = []
    for attachment in attachments:
        available = attachment.is_available
        views.append(
            AttachmentView(
                name=attachment.display_name,
                size=_size_text(attachment.size),
                href=reverse(
                    "messaging:inbox-attachment",
                    kwargs={"thread_id": thread.public_id, "attachment_id": attachment.public_id},
                )
                if available
                else "",
                unavailable_reason="" if available else str(ScanStatus(attachment.scan_status).label),
            )
        )
    return views


def message_views(thread: Thread, messages: list[Message]) -> list[MessageView]:
    return [
        MessageView(
            author=message.author_display,
            written=format_datetime(message.created_at),
            body=strip_bidi_controls(message.body),
            is_internal_note=message.is_internal_note,
            from_team=message.author_role == AuthorRole.STAFF,
            attachments=attachment_views(thread, list(message.attachments.all())),
        )
        for message in messages
    ]


def summary_rows(thread: Thread, *, today: datetime.date) -> list[tuple[str, str]]:
    patient = thread.patient
    _tag, due_words = due(thread, today=today)
    rows = [
        ("Patient", patient.full_name),
        ("Hospital number", patient.hospital_number),
        ("NHS number", format_nhs_number(patient.nhs_number) or "Not known"),
        ("Born", format_date(patient.birth_date)),
        ("Care team", thread.care_team.name),
        ("About", topic_text(thread.topic)),
        ("Status", status_text(thread)),
        ("Assigned to", _name(thread.assigned_to) or NOBODY),
        ("Started", f"{format_datetime(thread.created_at)}{' by the care team' if thread.started_by_staff else ''}"),
    ]
    if due_words:
        rows.append(("Reply", due_words))
    if thread.status == ThreadStatus.DONE and thread.closed_at is not None:
        closed_by = _name(thread.closed_by)
        rows.append(("Closed", f"{format_datetime(thread.closed_at)}{' by ' + closed_by if closed_by else ''}"))
    return rows


def correction_view(correction: CorrectionRequest, changes: list[CorrectionStatusChange]) -> CorrectionView:
    return CorrectionView(
        status=str(correction.get_status_display()),
        status_value=correction.status,
        outcome=correction.outcome,
        decided=format_datetime(correction.decided_at),
        history=[
            HistoryRow(
                when=format_datetime(change.changed_at),
                status=str(change.get_status_display()),
                who=change.changed_by_display or _name(change.changed_by) or "CarePortal",
                note=change.note,
            )
            for change in changes
        ],
    )


def _count_text(count: int, sent_anyway: int) -> str:
    if count == 0:
        return "0"
    times = "1 time" if count == 1 else f"{count} times"
    return f"{times} ({sent_anyway} sent anyway)"


def phrase_rows(phrases: list[UrgentPhrase]) -> list[PhraseRow]:
    return [
        PhraseRow(
            pk=phrase.pk,
            phrase=phrase.phrase,
            category=strip_bidi_controls(phrase.category),
            is_active=phrase.is_active,
            active_text=(
                "Never matches: fewer than 4 letters"
                if phrase_problem(phrase.phrase) is not None
                else ("Active" if phrase.is_active else "Not active")
            ),
            too_short=phrase_problem(phrase.phrase) is not None,
            recent=_count_text(getattr(phrase, "recent_count", 0), getattr(phrase, "recent_sent_anyway", 0)),
            total=_count_text(getattr(phrase, "total_count", 0), getattr(phrase, "total_sent_anyway", 0)),
        )
        for phrase in phrases
    ]


@dataclass(frozen=True)
class PhraseChangeRow:
    when: str
    what: str
    phrase: str
    category: str
    detail: str
    by: str


def phrase_change_rows(changes: list[UrgentPhraseChange]) -> list[PhraseChangeRow]:
    return [
        PhraseChangeRow(
            when=format_datetime(change.changed_at),
            what=change.get_kind_display(),
            phrase=change.phrase_text,
            category=strip_bidi_controls(change.category),
            detail=strip_bidi_controls(change.detail),
            by=change.changed_by_display,
        )
        for change in changes
    ]


def thread_subject(thread: Thread) -> str:
    """The subject as the page shows it: without direction overrides, even ones saved before they were removed on
    input (careportal/core/text.py)."""
    return strip_bidi_controls(thread.subject)


# Table and summary rows: the templates only call the NHS.UK macros with these (careportal/core/table_rows.py). --


def typed_text_html(text: str) -> Markup:
    """Text someone typed, as the `typed_text` macro shows it: escaped line by line, line breaks kept, dir="auto"."""
    return macro("messaging/inbox/macros.jinja", "typed_text", text)


def inbox_table_rows(rows: list[InboxRow], *, several_teams: bool) -> list[list[Cell]]:
    """The inbox table: the patient, the conversation (with Unread, its topic and, across several teams, its
    team), the last activity, who it is assigned to, and where the reply stands."""
    table_rows: list[list[Cell]] = []
    for r in rows:
        unread = format_markup(" {}", tag_html("Unread", "blue")) if r.unread else ""
        about = f"{r.topic}, {r.team}" if several_teams else r.topic
        due_tag = format_markup("{}<br>", tag_html(r.due_tag.text, r.due_tag.colour)) if r.due_tag else ""
        table_rows.append(
            [
                {
                    "html": format_markup(
                        '{}<br><span class="nhsuk-body-s">Hospital number {}</span>',
                        bdi(r.patient_name),
                        r.hospital_number,
                    )
                },
                {
                    "html": format_markup(
                        '<a href="{}" dir="auto">{}</a>{}<br><span class="nhsuk-body-s">{}</span>',
                        r.href,
                        r.subject,
                        unread,
                        about,
                    )
                },
                {"text": r.last_activity},
                {"text": r.assignee},
                {"html": format_markup("{}{}", due_tag, r.due_text or r.status)},
            ]
        )
    return table_rows


def correction_history_table_rows(history: list[HistoryRow]) -> list[list[Cell]]:
    return [
        [
            {"text": h.when},
            {"text": h.status},
            {"text": h.who},
            {"html": typed_text_html(h.note) if h.note else Markup("")},
        ]
        for h in history
    ]


def phrase_table_rows(rows: list[PhraseRow], *, request: HttpRequest) -> list[list[Cell]]:
    """The urgent phrases, with the button that switches each on or off in the same cell as its state: on a narrow
    screen each phrase is then five short labelled lines rather than six. Categories and phrases are typed text,
    isolated, so a right-to-left one cannot reorder the row."""
    action = reverse("messaging:urgent-phrases")
    table_rows: list[list[Cell]] = []
    for r in rows:
        state_html = escape(r.active_text)
        if not r.too_short:
            state_html = format_markup(
                '{} <form class="nhsuk-u-display-inline" method="post" action="{}" novalidate>{}'
                '<input type="hidden" name="phrase-phrase" value="{}">{}'
                '<button class="careportal-link-button" type="submit">{}'
                '<span class="nhsuk-u-visually-hidden"> "{}"</span></button></form>',
                r.active_text,
                action,
                csrf_input_html(request),
                r.pk,
                Markup('<input type="hidden" name="phrase-active" value="on">') if not r.is_active else "",
                "Deactivate" if r.is_active else "Reactivate",
                r.phrase,
            )
        table_rows.append(
            [
                {"html": bdi(r.category[:1].upper() + r.category[1:])},
                {"html": bdi(r.phrase)},
                {"html": state_html},
                {"text": r.recent},
                {"text": r.total},
            ]
        )
    return table_rows


def phrase_change_table_rows(rows: list[PhraseChangeRow]) -> list[list[Cell]]:
    return [
        [
            {"text": r.when},
            {"text": r.what},
            {"html": bdi(r.phrase)},
            {"html": bdi(r.category)},
            {"html": bdi(r.detail)},
            {"html": bdi(r.by)},
        ]
        for r in rows
    ]
