"""What the HL7 message pages show, in words. Raw messages are shown as text, one segment a line: bytes that are
not valid UTF-8 become the replacement character (never an error), and the templates escape everything."""

import datetime
import re
from dataclasses import dataclass
from typing import Any

from django.urls import reverse

from careportal.core.formatting import format_date, format_datetime, format_nhs_number
from careportal.core.keyset import KeysetPage
from careportal.core.table_rows import Cell, format_markup, link_html, status_tag_html
from careportal.hl7.models import (
    AckMode,
    ErrorKind,
    InboundInterface,
    InboundInterfaceChange,
    InboundMessage,
    MessageSource,
    MessageStatus,
    OutboundMessage,
    OutboundStatus,
)
from careportal.hl7.selectors import ArrivalsWaiting
from careportal.patients.models import Patient

_SEGMENT_END = re.compile(r"\r\n|\r|\n")
# MLLP framing bytes that a sender may leave in: shown as nothing rather than as control characters.
_FRAMING = str.maketrans("", "", "\x0b\x1c")


@dataclass(frozen=True)
class Tag:
    text: str
    colour: str


@dataclass(frozen=True)
class MessageRow:
    href: str
    message_type: str
    sender: str
    received: str
    status: Tag
    reason: str


STATUS_COLOURS = {
    MessageStatus.APPLIED: "green",
    MessageStatus.DUPLICATE: "grey",
    MessageStatus.REJECTED: "red",
    MessageStatus.ERROR: "orange",
    MessageStatus.REPLAYED: "blue",
    MessageStatus.DISMISSED: "grey",
    MessageStatus.IGNORED: "grey",
    MessageStatus.STORED: "yellow",
}
STATUS_SHORT = {
    MessageStatus.APPLIED: "Applied",
    MessageStatus.DUPLICATE: "Duplicate",
    MessageStatus.REJECTED: "Rejected",
    MessageStatus.ERROR: "Waiting for staff",
    MessageStatus.REPLAYED: "Replayed",
    MessageStatus.DISMISSED: "Dismissed",
    MessageStatus.IGNORED: "Not used",
    MessageStatus.STORED: "Waiting to be applied",
}


REUSED_TAG = Tag("Applied: check the control id", "orange")


def status_tag(message: InboundMessage) -> Tag:
    if message.needs_reuse_check:
        return REUSED_TAG
    try:
        status = MessageStatus(message.status)
    except ValueError:
        return Tag(message.status, "grey")
    return Tag(STATUS_SHORT[status], STATUS_COLOURS[status])


def sender(message: InboundMessage) -> str:
    parts = [part for part in (message.sending_application, message.sending_facility) if part]
    return " at ".join(parts) if parts else "Not known"


REUSE_EXPLANATION = (
    "The sending system used this control id (MSH-10) before for a message with different content. Interface "
    "engines usually do this when their counter starts again after a restart; it can also be a mix-up. Compare it "
    "with the other messages under the same control id below."
)


def reason(message: InboundMessage) -> str:
    """Why the message needs (or needed) attention, in words."""
    kind = ErrorKind(message.error_kind).label if message.error_kind in ErrorKind.values else ""
    if message.control_id_reused and message.error_kind != ErrorKind.CONTROL_ID_REUSED:
        # Failed for its own reason, and its control id was reused as well.
        kind = f"{kind} (and {ErrorKind.CONTROL_ID_REUSED.label[0].lower()}{ErrorKind.CONTROL_ID_REUSED.label[1:]})"
    if kind and message.error_text:
        return f"{kind}: {message.error_text}"
    return kind or message.error_text or ""


def can_mark_checked(message: InboundMessage) -> bool:
    """An applied message with a reused control id leaves the queue once someone has checked it."""
    return message.needs_reuse_check


# Arrivals normally reach the journal within a second; this long, and the page says what to check.
ARRIVALS_SLOW = datetime.timedelta(minutes=5)


def arrivals_notice(waiting: ArrivalsWaiting, *, now: datetime.datetime) -> str:
    """The journal's note on messages acknowledged after store that a worker has not added to it yet ("" when
    none): without it, staff looking for a message the sender was told is stored would not find it."""
    if not waiting.count or waiting.oldest_received_at is None:
        return ""
    if waiting.count == 1:
        text = "1 message received and acknowledged is not in this list yet."
    else:
        text = f"{waiting.count:,} messages received and acknowledged are not in this list yet."
    text += (
        " The workers that apply messages add them here first, usually within a second."
        f" The oldest arrived {format_datetime(waiting.oldest_received_at)}."
    )
    if now - waiting.oldest_received_at > ARRIVALS_SLOW:
        text += " If this number does not go down, check that the task worker (or hl7_apply_worker) is running."
    return text


def journal_caption(messages: list[InboundMessage], *, status: str, newest: bool) -> str:
    """The overview table's caption: which messages, and where in the journal this page is (keyset pages have no
    page numbers): the newest, or from when to when."""
    which = f"{STATUS_SHORT[MessageStatus(status)]} messages" if status else "Messages"
    return _page_caption(which, "received", [message.received_at for message in messages], newest=newest)


def _page_caption(which: str, verb: str, times: list[datetime.datetime], *, newest: bool) -> str:
    if newest or not times:
        return f"{which}, newest first"
    return f"{which} {verb} from {format_datetime(min(times))} to {format_datetime(max(times))}, newest first"


def journal_pagination(page: KeysetPage, *, status: str, url_name: str = "hl7:recent") -> dict[str, Any]:
    """The NHS.UK pagination component's "Newer messages" and "Older messages" links: each names the message its
    page starts from (a public id, never patient data), and keeps the status shown. For the messages received
    (`hl7:recent`) or sent (`hl7:outbound`)."""
    base = f"{reverse(url_name)}?{f'status={status}&' if status else ''}"

    def link(start: InboundMessage | OutboundMessage | None, direction: str, text: str) -> dict[str, str] | None:
        return {"href": f"{base}{direction}={start.public_id}", "text": text} if start is not None else None

    return {
        "ariaLabel": "Newer and older messages",
        "previous": link(page.newer_from, "newer", "Newer messages"),
        "next": link(page.older_from, "older", "Older messages"),
    }


def outbound_caption(messages: list[OutboundMessage], *, status: str, newest: bool) -> str:
    """The caption of the messages sent: which, and where in the list this page is, as `journal_caption`."""
    which = f"{OUTBOUND_SHORT[OutboundStatus(status)]} messages" if status else "Messages"
    return _page_caption(which, "made", [message.created_at for message in messages], newest=newest)


def message_rows(messages: list[InboundMessage]) -> list[MessageRow]:
    return [
        MessageRow(
            href=reverse("hl7:message", kwargs={"message_id": message.public_id}),
            message_type=message.message_type or "Unreadable",
            sender=sender(message),
            received=format_datetime(message.received_at),
            status=status_tag(message),
            reason=reason(message),
        )
        for message in messages
    ]


def segments(raw: bytes | memoryview) -> list[str]:
    """The raw message as text lines, one segment each, with empty lines dropped."""
    text = bytes(raw).decode("utf-8", errors="replace").translate(_FRAMING)
    return [line for line in _SEGMENT_END.split(text) if line.strip()]


def can_replay(message: InboundMessage) -> bool:
    """A message that was read but could not be applied (AE), or that the interface rules refused (AR), can be
    replayed; one that could not be read at all (AR) can only be dismissed, and sent again by its system."""
    from careportal.hl7.services import is_replayable

    return is_replayable(message)


def message_rows_detail(message: InboundMessage) -> list[tuple[str, str]]:
    rows = [
        ("Message type", message.message_type or "Unreadable"),
        ("Sent by", sender(message)),
        (
            "Control id",
            f"{message.control_id} (used before by this sender for a different message)"
            if message.control_id_reused
            else message.control_id or "Not known",
        ),
        ("HL7 version", message.hl7_version or "Not known"),
        ("Received", format_datetime(message.received_at)),
        ("Received from", f"{MessageSource(message.source).label}{': ' + message.peer if message.peer else ''}"),
        ("Status", MessageStatus(message.status).label if message.status in MessageStatus.values else message.status),
        ("Acknowledgement sent", message.ack_code or "None"),
    ]
    if message.error_kind or message.error_text:
        rows.append(("Problem", reason(message)))
    if message.content_hash:
        # The same for every copy of one message: two messages with the same fingerprint say the same thing.
        rows.append(("Content fingerprint", message.content_hash[:16]))
    if message.resolved_at:
        who = message.resolved_by.audit_name if message.resolved_by else "someone who has left"
        rows.append(("Resolved", f"{format_datetime(message.resolved_at)} by {who}"))
        if message.resolution_note:
            rows.append(("Note", message.resolution_note))
    return rows


def patient_rows(patient: Patient) -> list[tuple[str, str]]:
    """Who a hospital number belongs to, for the member of staff to confirm before replaying."""
    return [
        ("Name", patient.full_name),
        ("Born", format_date(patient.birth_date)),
        ("NHS number", format_nhs_number(patient.nhs_number) or "Not known"),
        ("Hospital number", patient.hospital_number),
    ]


# --- Inbound interfaces (/staff/hl7/interfaces/) ---------------------------------------------------------------


@dataclass(frozen=True)
class InterfaceRow:
    name: str
    edit_href: str
    active_href: str
    active_action: str
    sender: str
    message_types: str
    networks: str
    authority: str
    acknowledged: str
    status: Tag
    updated: str


def interface_rows(interfaces: list[InboundInterface]) -> list[InterfaceRow]:
    rows = []
    for interface in interfaces:
        who = interface.updated_by.audit_name if interface.updated_by else ""
        rows.append(
            InterfaceRow(
                name=interface.name,
                edit_href=reverse("hl7:interface-edit", kwargs={"pk": interface.pk}),
                active_href=reverse(
                    "hl7:interface-deactivate" if interface.is_active else "hl7:interface-reactivate",
                    kwargs={"pk": interface.pk},
                ),
                active_action="Deactivate" if interface.is_active else "Reactivate",
                sender=f"{interface.sending_application} at {interface.sending_facility}",
                message_types=", ".join(interface.message_types) or "None",
                networks=", ".join(interface.source_networks) or "None: every message is refused",
                authority=interface.hospital_number_authority or "None",
                acknowledged="After storing" if interface.ack_mode == AckMode.AFTER_STORE else "After applying",
                status=Tag("Active", "green") if interface.is_active else Tag("Inactive", "grey"),
                updated=f"{format_datetime(interface.updated_at)}{' by ' + who if who else ''}",
            )
        )
    return rows


@dataclass(frozen=True)
class InterfaceHistoryRow:
    when: str
    who: str
    action: str
    changes: list[str]


def _value_text(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    return str(value) or "blank"


def interface_history(changes: list[InboundInterfaceChange]) -> list[InterfaceHistoryRow]:
    from careportal.hl7.interface_admin import TRACKED_FIELDS

    rows = []
    for change in changes:
        lines = []
        for field, values in change.changes.items():
            label = TRACKED_FIELDS.get(field, field)
            if values.get("from") is None:
                lines.append(f"{label}: {_value_text(values.get('to'))}")
            else:
                lines.append(f"{label}: {_value_text(values.get('from'))} → {_value_text(values.get('to'))}")
        rows.append(
            InterfaceHistoryRow(
                when=format_datetime(change.changed_at),
                who=change.changed_by_name or "someone who has left",
                action=change.get_action_display(),
                changes=lines,
            )
        )
    return rows


# Table and summary rows: the templates only call the NHS.UK macros with these (careportal/core/table_rows.py). --


def message_table_rows(rows: list[MessageRow]) -> list[list[Cell]]:
    """A table of messages: the message (a link to it), its sender, when it came, its status and any problem."""
    return [
        [
            {"html": link_html(r.href, r.message_type)},
            {"text": r.sender},
            {"text": r.received},
            {"html": status_tag_html(r.status)},
            {"text": r.reason},
        ]
        for r in rows
    ]


def interface_table_rows(rows: list[InterfaceRow]) -> list[list[Cell]]:
    """The inbound interfaces, each with its Change and Deactivate (or Reactivate) links."""
    return [
        [
            {"text": r.name},
            {"text": r.sender},
            {"text": r.message_types},
            {"text": r.networks},
            {"text": r.authority},
            {"text": r.acknowledged},
            {"html": status_tag_html(r.status)},
            {
                "html": format_markup(
                    '<a href="{}">Change<span class="nhsuk-u-visually-hidden"> {}</span></a><br>'
                    '<a href="{}">{}<span class="nhsuk-u-visually-hidden"> {}</span></a>',
                    r.edit_href,
                    r.name,
                    r.active_href,
                    r.active_action,
                    r.name,
                )
            },
        ]
        for r in rows
    ]


# Outbound messages ---------------------------------------------------------------------------------------------

OUTBOUND_SHORT = {
    OutboundStatus.QUEUED: "Waiting",
    OutboundStatus.SENDING: "Sending",
    OutboundStatus.SENT: "Sent",
    OutboundStatus.FAILED: "Failed",
}
OUTBOUND_COLOURS = {
    OutboundStatus.QUEUED: "blue",
    OutboundStatus.SENDING: "blue",
    OutboundStatus.SENT: "green",
    OutboundStatus.FAILED: "red",
}


@dataclass(frozen=True)
class OutboundRow:
    public_id: str
    control_id: str
    message_type: str
    created: str
    status: Tag
    attempts: int
    detail: str
    can_retry: bool
    retry_href: str


def _outbound_detail(message: OutboundMessage) -> str:
    if message.status == OutboundStatus.SENT:
        return f"Accepted ({message.ack_code}) on {format_datetime(message.sent_at)}"
    if message.status == OutboundStatus.QUEUED and message.last_error:
        return f"{message.last_error}. Next try {format_datetime(message.next_attempt_at)}"
    if message.status == OutboundStatus.QUEUED:
        return "Waiting to be sent"
    return message.last_error or "Being sent now"


def outbound_rows(messages: list[OutboundMessage]) -> list[OutboundRow]:
    return [
        OutboundRow(
            public_id=str(message.public_id),
            control_id=message.control_id,
            message_type=message.message_type,
            created=format_datetime(message.created_at),
            status=Tag(
                OUTBOUND_SHORT[OutboundStatus(message.status)], OUTBOUND_COLOURS[OutboundStatus(message.status)]
            ),
            attempts=message.attempts,
            detail=_outbound_detail(message),
            can_retry=message.status in (OutboundStatus.FAILED, OutboundStatus.QUEUED),
            retry_href=reverse("hl7:outbound-retry", kwargs={"message_id": message.public_id}),
        )
        for message in messages
    ]
