"""What the helpdesk pages show, worked out here so that templates hold no logic."""

import datetime
from dataclasses import dataclass, field

from django.urls import reverse
from django.utils import timezone
from markupsafe import escape

from careportal.accounts.models import AccountEvent, ActivationCode, User
from careportal.accounts.security_selectors import EmailStatus, TwoStepStatus
from careportal.core.formatting import format_date, format_datetime, format_nhs_number
from careportal.core.table_rows import Cell, bdi, format_markup, lines_html, link_html, status_tag_html, tag_html
from careportal.helpdesk.models import SupportRequest, SupportStatus
from careportal.helpdesk.selectors import Lockout, is_overdue
from careportal.helpdesk.services import notification_can_retry
from careportal.notifications.kinds import SPECS, Kind
from careportal.notifications.models import Notification
from careportal.patients.models import Patient

NOT_RECORDED = "Not recorded"


@dataclass(frozen=True)
class Row:
    label: str
    value: str | list[str]


@dataclass(frozen=True)
class Tag:
    text: str
    colour: str


# Search results ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultRow:
    href: str
    link_text: str
    kind: str
    name: str
    birth_date: str
    hospital_number: str


def patient_result_row(patient: Patient) -> ResultRow:
    if patient.user is not None:
        href = reverse("helpdesk:account", kwargs={"account_id": patient.user.public_id})
        link_text = patient.user.username
    else:
        href = reverse("helpdesk:patient", kwargs={"patient_id": patient.public_id})
        link_text = "No account yet"
    return ResultRow(
        href=href,
        link_text=link_text,
        kind="Patient",
        name=patient.full_name,
        birth_date=format_date(patient.birth_date),
        hospital_number=patient.hospital_number,
    )


def account_kind(*, is_helpdesk: bool, is_care_team_member: bool, is_proxy: bool, is_patient: bool) -> str:
    kinds = []
    if is_patient:
        kinds.append("Patient")
    if is_proxy:
        kinds.append("Acts for others")
    if is_helpdesk:
        kinds.append("Helpdesk staff")
    if is_care_team_member:
        kinds.append("Care team staff")
    return ", ".join(kinds) or "No role yet"


def account_result_row(user: User) -> ResultRow:
    return ResultRow(
        href=reverse("helpdesk:account", kwargs={"account_id": user.public_id}),
        link_text=user.username,
        kind=account_kind(
            is_helpdesk=user.is_helpdesk,
            is_care_team_member=bool(getattr(user, "is_care_team_member", False)),
            is_proxy=bool(getattr(user, "is_proxy", False)),
            is_patient=False,
        ),
        name=user.audit_name if user.audit_name != user.username else "",
        birth_date="",
        hospital_number="",
    )


# One account -------------------------------------------------------------------------------------------------


def lockout_text(lockout: Lockout) -> str:
    if not lockout.locked:
        if lockout.recent_failures:
            return f"Not locked ({lockout.recent_failures} failed sign-in attempt(s) recently)"
        return "Not locked"
    where = "1 place" if lockout.addresses_locked == 1 else f"{lockout.addresses_locked} places"
    until = f" until {format_datetime(lockout.locked_until)}" if lockout.locked_until else ""
    return f"Locked after too many failed sign-ins, at {where}{until}"


def two_step_text(two_step: TwoStepStatus) -> list[str]:
    lines = []
    if two_step.has_authenticator_app:
        lines.append("Authenticator app")
    if two_step.passkeys:
        lines.append(f"Passkeys ({len(two_step.passkeys)})" if len(two_step.passkeys) > 1 else "Passkey")
    if two_step.has_recovery_codes:
        lines.append(f"Recovery codes ({two_step.recovery_codes_unused} unused)")
    if two_step.email_chosen:
        lines.append("Code sent by email")
    elif two_step.email_code_in_use:
        lines.append("Code sent by email (always required for staff)")
    return lines or ["Not set up"]


def two_step_can_reset(two_step: TwoStepStatus) -> bool:
    """Whether there is anything for the helpdesk to remove (staff keep the emailed code whatever happens)."""
    return two_step.has_app_or_passkey or two_step.has_recovery_codes or two_step.email_chosen


def activation_code_text(code: ActivationCode | None, *, now: datetime.datetime | None = None) -> str:
    """The state of the newest activation code: issued, expired, used or replaced. Never the code."""
    now = now or timezone.now()
    if code is None:
        return "No activation code issued in CarePortal"
    issued = f"issued {format_date(code.issued_at)}"
    if code.used_at:
        return f"Used on {format_date(code.used_at)} ({issued})"
    if code.revoked_at:
        return f"Stopped working on {format_date(code.revoked_at)} ({issued})"
    if code.expires_at <= now:
        return f"Expired on {format_date(code.expires_at)} ({issued})"
    return f"Issued on {format_date(code.issued_at)}, works until {format_date(code.expires_at)}"


def account_rows(
    *,
    account: User,
    kind: str,
    lockout: Lockout,
    two_step: TwoStepStatus,
    email: EmailStatus,
) -> list[Row]:
    return [
        Row("Username", account.username),
        Row("Account type", kind),
        Row("Status", "Active" if account.is_active else "Deactivated: cannot sign in"),
        Row("Sign-in lock", lockout_text(lockout)),
        Row("Two-step verification", two_step_text(two_step)),
        Row("Email address", ("Confirmed" if email.verified else "Not confirmed") if email.address else "None"),
        Row("Last signed in", format_datetime(account.last_login) if account.last_login else "Never"),
        Row("Account created", format_date(account.date_joined)),
    ]


def patient_rows(patient: Patient) -> list[Row]:
    """Who the patient is, so the helpdesk can check they have the right person. No clinical data."""
    return [
        Row("Name", patient.full_name),
        Row("Date of birth", format_date(patient.birth_date)),
        Row("Hospital number", patient.hospital_number),
        Row("NHS number", format_nhs_number(patient.nhs_number) or NOT_RECORDED),
        Row("Postcode", patient.postcode or NOT_RECORDED),
    ]


@dataclass(frozen=True)
class EventRow:
    when: str
    what: str
    by: str
    reason: str
    detail: str


def event_rows(events: list[AccountEvent]) -> list[EventRow]:
    return [
        EventRow(
            when=format_datetime(event.occurred_at),
            what=event.get_kind_display(),
            by=event.actor.audit_name if event.actor else "",
            reason=event.reason,
            detail=event.detail,
        )
        for event in events
    ]


# Requests for help -------------------------------------------------------------------------------------------

STATUS_COLOURS = {
    SupportStatus.NEW: "blue",
    SupportStatus.IN_PROGRESS: "yellow",
    SupportStatus.ANSWERED: "green",
    SupportStatus.CLOSED: "grey",
}


def status_tag(support_request: SupportRequest) -> Tag:
    return Tag(support_request.get_status_display(), STATUS_COLOURS[SupportStatus(support_request.status)])


@dataclass(frozen=True)
class QueueRow:
    href: str
    reference: str
    topic: str
    received: str
    status: Tag
    reply_due: str
    overdue: bool
    assigned_to: str


def queue_rows(requests: list[SupportRequest], *, today: datetime.date | None = None) -> list[QueueRow]:
    today = today or timezone.localdate()
    return [
        QueueRow(
            href=reverse("helpdesk:request", kwargs={"request_id": r.public_id}),
            reference=r.reference,
            topic=r.get_topic_display(),
            received=format_datetime(r.created_at),
            status=status_tag(r),
            reply_due=format_date(r.reply_due_on),
            overdue=is_overdue(r, today=today),
            assigned_to=r.assigned_to.audit_name if r.assigned_to else "",
        )
        for r in requests
    ]


def request_rows(support_request: SupportRequest) -> list[Row]:
    rows = [
        Row("Reference", support_request.reference),
        Row("Status", support_request.get_status_display()),
        Row("Received", format_datetime(support_request.created_at)),
        Row("Reply due by", format_date(support_request.reply_due_on)),
        Row("About", support_request.get_topic_display()),
        Row("Name", support_request.name),
        Row("Email address", support_request.email),
        Row(
            "Taken by",
            support_request.assigned_to.audit_name if support_request.assigned_to else "Nobody yet",
        ),
    ]
    if support_request.answered_at:
        rows.append(Row("Last replied", format_datetime(support_request.answered_at)))
    if support_request.closed_at:
        rows.append(Row("Closed", format_datetime(support_request.closed_at)))
    return rows


def text_paragraphs(text: str) -> list[list[str]]:
    """Text typed by someone, as paragraphs of lines, for a template to print escaped (never as HTML)."""
    paragraphs = [block.strip("\n") for block in text.replace("\r\n", "\n").split("\n\n")]
    return [block.split("\n") for block in paragraphs if block.strip()]


# Notifications -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NotificationRow:
    public_id: str
    kind: str
    status: Tag
    attempts: int
    last_error: str
    created: str
    next_attempt: str
    account: str
    account_href: str
    can_retry: bool
    why_not: str = field(default="")


NOTIFICATION_STATUS_COLOURS = {"failed": "red", "retrying": "orange"}


def _kind_text(kind: str) -> str:
    known = {k.value: SPECS[k].subject for k in Kind}
    return f"{known[kind]} ({kind})" if kind in known else kind


def notification_rows(notifications: list[Notification]) -> list[NotificationRow]:
    rows = []
    for n in notifications:
        can_retry = notification_can_retry(n)
        rows.append(
            NotificationRow(
                public_id=str(n.public_id),
                kind=_kind_text(n.kind),
                status=Tag(n.get_status_display(), NOTIFICATION_STATUS_COLOURS.get(n.status, "grey")),
                attempts=n.attempts,
                last_error=n.last_error or "None recorded",
                created=format_datetime(n.created_at),
                next_attempt=format_datetime(n.next_attempt_at) if n.next_attempt_at else "",
                account=n.user.username if n.user else "No account",
                account_href=reverse("helpdesk:account", kwargs={"account_id": n.user.public_id}) if n.user else "",
                can_retry=can_retry,
                why_not="" if can_retry else "Its content is no longer held",
            )
        )
    return rows


# Table and summary rows: the templates only call the NHS.UK macros with these (careportal/core/table_rows.py). --


def summary_list(rows: list[Row]) -> list[dict[str, Cell]]:
    """Summary-list rows: a value is a string or a list of lines (each escaped, joined by line breaks)."""
    return [
        {
            "key": {"text": row.label},
            "value": {"text": row.value} if isinstance(row.value, str) else {"html": lines_html(row.value)},
        }
        for row in rows
    ]


def search_table_rows(results: list[ResultRow]) -> list[list[Cell]]:
    return [
        [
            {"html": link_html(r.href, r.link_text)},
            {"text": r.kind},
            {"text": r.name},
            {"text": r.birth_date},
            {"text": r.hospital_number},
        ]
        for r in results
    ]


def event_table_rows(events: list[EventRow]) -> list[list[Cell]]:
    """An account's history. Names and reasons people typed are isolated, so right-to-left text cannot reorder the
    row."""
    return [
        [{"text": e.when}, {"text": e.what}, {"html": bdi(e.by)}, {"html": bdi(e.reason)}, {"html": bdi(e.detail)}]
        for e in events
    ]


def queue_table_rows(rows: list[QueueRow]) -> list[list[Cell]]:
    """The queue of requests for help: reference, topic, received, status, reply due (with Overdue), taken by."""
    return [
        [
            {"html": link_html(r.href, r.reference)},
            {"text": r.topic},
            {"text": r.received},
            {"html": status_tag_html(r.status)},
            {
                "html": format_markup("{} {}", r.reply_due, tag_html("Overdue", "red"))
                if r.overdue
                else escape(r.reply_due)
            },
            {"text": r.assigned_to or "Nobody yet"},
        ]
        for r in rows
    ]


def account_request_table_rows(rows: list[QueueRow]) -> list[list[Cell]]:
    """The requests for help from one account: the queue's reference, topic, received and status."""
    return [row[:4] for row in queue_table_rows(rows)]
