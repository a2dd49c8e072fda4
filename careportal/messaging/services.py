"""Messages between patients (or their proxies) and care teams: what each side may write, and what it changes.

The patient side writes to a team that looks after them; the team works the thread in a shared inbox. Every
function takes objects the caller has already resolved through the access layer, checks the rules again (a view
that forgot a check must not open a hole), and makes its change, its audit event and its notifications in one
transaction. A refusal raises `MessagingError`, whose message is a sentence for the person and names no patient
data, and changes nothing.

Thread status, as the inbox shows it:

- NEW: the team owes a reply, due on `reply_due_on` (the team's response target in working days).
- WAITING_ON_PATIENT: the team replied; nothing is due.
- DONE: closed by the team. A patient reply on a WAITING_ON_PATIENT or DONE thread makes it NEW again.
"""

import datetime
from dataclasses import replace
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from careportal.access.layer import Viewer, staff_change_record
from careportal.access.scopes import Scope
from careportal.accounts.models import User
from careportal.audit.models import AccessAction, ActorRole
from careportal.audit.services import access_event_record
from careportal.core.text import strip_bidi_controls
from careportal.core.working_days import add_working_days, bank_holidays
from careportal.messaging.models import (
    AuthorRole,
    CorrectionRequest,
    CorrectionStatus,
    CorrectionStatusChange,
    Message,
    ReadMarker,
    Thread,
    ThreadStatus,
    Topic,
    UrgentInterception,
    UrgentPhrase,
)
from careportal.notifications.kinds import Kind
from careportal.notifications.services import notification_send
from careportal.patients.access import patients_for_staff
from careportal.patients.models import CareRelationship, CareRelationshipReason, CareTeam, CareTeamMembership, Patient
from careportal.proxy.selectors import people_to_tell

if TYPE_CHECKING:
    from careportal.messaging.attachments import CleanFile

SUBJECT_MAX_LENGTH = 120
CORRECTION_NOTE_MAX_LENGTH = 2000
AUTHOR_DISPLAY_MAX_LENGTH = 250

# The words in the patient's access log, which reads "<who> added your <label>" or "<who> changed your <label>".
LABEL_THREAD = "message thread"
LABEL_MESSAGE = "message"
LABEL_CORRECTION = "record correction request"

# A correction request moves forward only; corrected and declined are outcomes, and final (a patient who disagrees
# with a decision writes again, which starts a new, separately tracked request).
CORRECTION_NEXT: dict[str, frozenset[str]] = {
    CorrectionStatus.RECEIVED: frozenset(
        {CorrectionStatus.UNDER_REVIEW, CorrectionStatus.CORRECTED, CorrectionStatus.DECLINED}
    ),
    CorrectionStatus.UNDER_REVIEW: frozenset({CorrectionStatus.CORRECTED, CorrectionStatus.DECLINED}),
    CorrectionStatus.CORRECTED: frozenset(),
    CorrectionStatus.DECLINED: frozenset(),
}


class MessagingError(ValueError):
    """A refused message or inbox action; str(error) is a sentence for the person, with no patient data in it."""


# Reading ----------------------------------------------------------------------------------------------------


def teams_patient_may_write_to(patient: Patient) -> QuerySet[CareTeam]:
    """Active care teams with an active relationship to the patient (a referral, an appointment, a result routed
    to them, or a thread a team started), by name."""
    return (
        CareTeam.objects.filter(
            is_active=True,
            care_relationships__patient=patient,
            care_relationships__ended_at__isnull=True,
        )
        .distinct()
        .order_by("name")
    )


def reply_due_on_for(*, care_team: CareTeam, sent_at: datetime.datetime) -> datetime.date:
    """The day by which the team aims to reply to a message sent at `sent_at`: its response target in working days
    (weekends and the bank holidays staff keep are not counted), from the day it was sent in the trust's time zone.
    A message sent late on a Friday evening counts from Friday, as the patient sees it."""
    sent_on = timezone.localtime(sent_at).date()
    return add_working_days(
        sent_on, care_team.response_target_working_days, holidays=bank_holidays(on_or_after=sent_on)
    )


def author_display_for(viewer: Viewer) -> str:
    """How the author of a message is named to its readers, kept on the message as written.

    A patient: their name as the hospital holds it. A proxy: "Priya Patel (mother) on behalf of Arjun Patel".
    Staff: "Dr C Okafor, Haematology", with the team the viewer is acting for when it is known.
    """
    if viewer.role == ActorRole.PATIENT and viewer.patient is not None:
        display = viewer.patient.full_name
    elif viewer.role == ActorRole.PROXY and viewer.patient is not None:
        relationship = viewer.proxy_relationship.relationship if viewer.proxy_relationship is not None else ""
        who = f"{viewer.user.audit_name} ({relationship})" if relationship else viewer.user.audit_name
        display = f"{who} on behalf of {viewer.patient.full_name}"
    elif viewer.care_team is not None:
        display = f"{viewer.user.audit_name}, {viewer.care_team.name}"
    else:
        display = viewer.user.audit_name
    return display[:AUTHOR_DISPLAY_MAX_LENGTH]


# Urgent-care interceptions -------------------------------------------------------------------------------------


def urgent_interception_record(
    *, phrase: UrgentPhrase, care_team: CareTeam | None, author_role: str
) -> UrgentInterception:
    """Record that the urgent-care page was shown, and for which phrase; never the text that was typed."""
    if author_role not in AuthorRole.values:
        raise MessagingError("Choose who is writing the message.")
    return UrgentInterception.objects.create(
        occurred_at=timezone.now(),
        phrase=phrase,
        phrase_text=phrase.phrase[:100],
        care_team=care_team,
        author_role=author_role,
    )


def urgent_interception_sent_anyway(*, interception_id: int) -> None:
    """The person sent the message after seeing the urgent-care page. Repeating it, or an unknown id (a stale or
    edited form), changes nothing."""
    UrgentInterception.objects.filter(pk=interception_id, sent_anyway=False).update(sent_anyway=True)


# Checks shared by both sides -----------------------------------------------------------------------------------


def _check_storable(text: str, *, what: str) -> None:
    # PostgreSQL cannot store NUL characters, and unpaired surrogates (from a broken client) cannot be encoded:
    # refuse them plainly instead of failing with a database error.
    if "\x00" in text:
        raise MessagingError(f"Your {what} contains a character that cannot be saved. Remove it and try again.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise MessagingError(
            f"Your {what} contains a character that cannot be saved. Remove it and try again."
        ) from None


def _checked_body(body: str) -> str:
    """The body as typed: right-to-left text, emoji and text that looks like HTML are kept exactly (templates
    escape it). The bidirectional overrides are removed (careportal/core/text.py says why; the forms remove them
    too, so that what the person sees checked is what is stored); then its length and that it is not blank are
    checked."""
    body = strip_bidi_controls(body or "")
    if not body.strip():
        raise MessagingError("Enter your message.")
    limit = settings.MESSAGE_BODY_MAX_CHARACTERS
    if len(body) > limit:
        raise MessagingError(f"Your message must be {limit:,} characters or fewer.")
    _check_storable(body, what="message")
    return body


def _checked_topic(topic: str) -> Topic:
    if topic not in Topic.values:
        raise MessagingError("Choose what your message is about.")
    return Topic(topic)


def _checked_subject(subject: str, *, topic: Topic) -> str:
    """A subject is one line: whitespace and line breaks become single spaces. Left blank, it is the topic's own
    words ("A question about my care"), so that every thread has something to show in a list."""
    cleaned = " ".join(strip_bidi_controls(subject or "").split())
    if not cleaned:
        return str(topic.label)
    if len(cleaned) > SUBJECT_MAX_LENGTH:
        raise MessagingError(f"Subject must be {SUBJECT_MAX_LENGTH} characters or fewer.")
    _check_storable(cleaned, what="subject")
    return cleaned


def _checked_files(files: "list[CleanFile]") -> None:
    # The form checked each file; the count is checked again here because it is cheap and a JSON client has no form.
    if len(files) > settings.MESSAGE_ATTACHMENT_MAX_COUNT:
        raise MessagingError(f"You can attach up to {settings.MESSAGE_ATTACHMENT_MAX_COUNT} files to a message.")


def _store_files(message: Message, files: "list[CleanFile]") -> None:
    if not files:
        return
    from careportal.messaging.attachments import attachments_store

    attachments_store(message=message, files=files)


def _locked(thread: Thread) -> Thread:
    # Two people may write to the same thread at once (a patient and the team, or two team members): each status
    # decision is made on the locked row, so neither change is lost.
    return Thread.objects.select_for_update().get(pk=thread.pk)


def _refresh(thread: Thread, locked: Thread) -> None:
    # The caller's object shows the change too.
    for field in (
        "status",
        "assigned_to_id",
        "last_patient_message_at",
        "last_team_message_at",
        "reply_due_on",
        "closed_at",
        "closed_by_id",
    ):
        setattr(thread, field, getattr(locked, field))


def _message_create(
    *, thread: Thread, viewer: Viewer, author_role: AuthorRole, body: str, at: datetime.datetime, note: bool = False
) -> Message:
    message = Message.objects.create(
        thread=thread,
        author=viewer.user,
        author_role=author_role,
        author_display=author_display_for(viewer),
        body=body,
        is_internal_note=note,
        created_at=at,
    )
    # The author has read what they wrote: their own message must not show as unread to them.
    thread_mark_read(user=viewer.user, thread=thread, at=at)
    return message


def thread_sensitive_categories(thread: Thread) -> tuple[str, ...]:
    """The sensitive categories a thread is in: its own (kept from when it was started) and its care team's now."""
    return tuple(c for c in {thread.sensitive_category, thread.care_team.sensitive_category} if c)


def proxy_may_see_team(viewer: Viewer, *categories: str) -> bool:
    """Whether the viewer may see a thread (or write to a team) in these sensitive categories: the patient always;
    a proxy only with each category granted by staff (DESIGN.md, Proxy)."""
    if viewer.role != ActorRole.PROXY:
        return True
    relationship = viewer.proxy_relationship
    granted = set(relationship.sensitive_categories_granted or []) if relationship is not None else set()
    return all(category in granted for category in categories if category)


def _notify_patient_side(thread: Thread) -> None:
    """Tell the patient's own account and every proxy who may read their messages today, and may see this
    thread's sensitive category, that there is something new: their first name only, never the team, the subject
    or the text. A proxy without the grant is not told that the thread exists."""
    categories = thread_sensitive_categories(thread)
    people = people_to_tell([thread.patient_id], scope=Scope.MESSAGES)[thread.patient_id]
    for person in people:
        if all(person.may_see(category) for category in categories):
            notification_send(kind=Kind.NEW_MESSAGE, user=person.user)


# Patient and proxy side ---------------------------------------------------------------------------------------


def _patient_side_author(viewer: Viewer, *, required_scope: Scope = Scope.MESSAGES) -> tuple[Patient, AuthorRole]:
    if viewer.role not in {ActorRole.PATIENT, ActorRole.PROXY} or viewer.patient is None:
        raise MessagingError("You cannot send messages from this account.")
    if not viewer.can(required_scope):
        raise MessagingError("You do not have access to messages for this person.")
    return viewer.patient, AuthorRole.PROXY if viewer.role == ActorRole.PROXY else AuthorRole.PATIENT


@transaction.atomic
def thread_start_by_patient(
    *,
    viewer: Viewer,
    care_team: CareTeam,
    topic: str,
    subject: str,
    body: str,
    files: "list[CleanFile]",
    required_scope: Scope = Scope.MESSAGES,
    sensitive_category: str = "",
) -> Thread:
    """A patient (or a proxy with the messages scope) writes to one of the teams looking after them. A message
    about "a correction to my record" also opens a tracked correction request (UK GDPR article 16).

    `sensitive_category` is the thread's own, when it is about something more sensitive than its team (a request
    about an appointment at a sensitive clinic); the team's otherwise. A proxy may only write within the
    categories staff granted them.

    `required_scope` is the part of the record the writing is about: a request to cancel or rebook an appointment
    (careportal/appointments/services.py) needs the appointments scope, so that a parent who keeps appointments
    only (a child of 16 or 17) can still send one."""
    patient, author_role = _patient_side_author(viewer, required_scope=required_scope)
    sensitive_category = sensitive_category or care_team.sensitive_category
    # A proxy without the grant is refused in the same words as for a team that is not looking after the patient:
    # the refusal must not tell them the patient is seen by a sensitive service.
    if not teams_patient_may_write_to(patient).filter(pk=care_team.pk).exists() or not proxy_may_see_team(
        viewer, sensitive_category, care_team.sensitive_category
    ):
        raise MessagingError("You can only write to a care team that is looking after you.")
    chosen_topic = _checked_topic(topic)
    subject = _checked_subject(subject, topic=chosen_topic)
    body = _checked_body(body)
    _checked_files(files)
    now = timezone.now()
    thread = Thread.objects.create(
        patient=patient,
        care_team=care_team,
        topic=chosen_topic,
        subject=subject,
        status=ThreadStatus.NEW,
        created_at=now,
        last_patient_message_at=now,
        reply_due_on=reply_due_on_for(care_team=care_team, sent_at=now),
        sensitive_category=sensitive_category,
    )
    message = _message_create(thread=thread, viewer=viewer, author_role=author_role, body=body, at=now)
    _store_files(message, files)
    access_event_record(
        viewer=viewer, patient=patient, action=AccessAction.CREATE, object_label=LABEL_THREAD, obj=thread
    )
    if chosen_topic == Topic.CORRECTION:
        correction = CorrectionRequest.objects.create(
            thread=thread, status=CorrectionStatus.RECEIVED, created_at=now, updated_at=now
        )
        CorrectionStatusChange.objects.create(
            request=correction,
            status=CorrectionStatus.RECEIVED,
            changed_by=viewer.user,
            changed_by_display=message.author_display,
            changed_at=now,
        )
        access_event_record(
            viewer=viewer, patient=patient, action=AccessAction.CREATE, object_label=LABEL_CORRECTION, obj=correction
        )
    return thread


@transaction.atomic
def thread_reply_by_patient(*, viewer: Viewer, thread: Thread, body: str, files: "list[CleanFile]") -> Message:
    """A patient-side reply. On a thread that waits on the patient or was closed, the team owes a reply again: it
    goes back to NEW with a fresh due date. On a NEW thread the first due date stands, so writing again does not
    push the team's deadline back."""
    patient, author_role = _patient_side_author(viewer)
    if thread.patient_id != patient.pk:
        raise MessagingError("We could not find that conversation.")
    body = _checked_body(body)
    _checked_files(files)
    locked = _locked(thread)
    if not CareTeam.objects.filter(pk=locked.care_team_id, is_active=True).exists():
        raise MessagingError("This care team no longer takes messages through CarePortal. Contact the hospital.")
    now = timezone.now()
    if locked.status != ThreadStatus.NEW or locked.reply_due_on is None:
        locked.reply_due_on = reply_due_on_for(care_team=locked.care_team, sent_at=now)
    locked.status = ThreadStatus.NEW
    locked.last_patient_message_at = now
    locked.closed_at, locked.closed_by = None, None
    locked.save(update_fields=["status", "reply_due_on", "last_patient_message_at", "closed_at", "closed_by"])
    message = _message_create(thread=locked, viewer=viewer, author_role=author_role, body=body, at=now)
    _store_files(message, files)
    access_event_record(
        viewer=viewer, patient=patient, action=AccessAction.CREATE, object_label=LABEL_MESSAGE, obj=message
    )
    _refresh(thread, locked)
    return message


# Care team side -----------------------------------------------------------------------------------------------


def _is_active_member(user: User, care_team: CareTeam) -> bool:
    return CareTeamMembership.objects.filter(
        user=user, care_team=care_team, is_active=True, care_team__is_active=True, user__is_active=True
    ).exists()


def _team_viewer(viewer: Viewer, *, care_team: CareTeam, patient: Patient) -> Viewer:
    """The staff viewer, checked as a working member of `care_team`, naming the team and patient it acts on (so
    that the patient's log reads "Dr C Okafor, Haematology, added your message")."""
    if viewer.role != ActorRole.CLINICIAN or not viewer.can(Scope.MESSAGES):
        raise MessagingError("Only members of a care team can work its messages.")
    if not _is_active_member(viewer.user, care_team):
        raise MessagingError("You can only work the messages of a care team you are a member of.")
    return replace(viewer, patient=patient, care_team=care_team)


def _ensure_relationship(*, patient: Patient, care_team: CareTeam) -> None:
    # Writing to a patient makes the team one the patient may write back to, and keeps the patient visible to the
    # team, for as long as nothing ends the relationship.
    if CareRelationship.objects.filter(patient=patient, care_team=care_team, ended_at__isnull=True).exists():
        return
    relationship, created = CareRelationship.objects.get_or_create(
        patient=patient, care_team=care_team, reason=CareRelationshipReason.MESSAGE
    )
    if not created and relationship.ended_at is not None:
        relationship.ended_at = None
        relationship.save(update_fields=["ended_at"])


def _team_message_sent(locked: Thread, *, at: datetime.datetime) -> None:
    locked.status = ThreadStatus.WAITING_ON_PATIENT
    locked.last_team_message_at = at
    locked.reply_due_on = None
    locked.closed_at, locked.closed_by = None, None


@transaction.atomic
def thread_start_by_staff(
    *,
    viewer: Viewer,
    patient: Patient,
    care_team: CareTeam,
    topic: str,
    subject: str,
    body: str,
    files: "list[CleanFile]",
) -> Thread:
    """A team member writes first to a patient they may see. The thread then waits on the patient, who (and whose
    proxies with the messages scope) is told there is a new message."""
    team_viewer = _team_viewer(viewer, care_team=care_team, patient=patient)
    # Visible through any of the member's teams, whichever team the viewer was resolved through.
    if not patients_for_staff(replace(viewer, care_team=None)).filter(pk=patient.pk).exists():
        raise MessagingError("You can only write to a patient one of your care teams is looking after.")
    chosen_topic = _checked_topic(topic)
    if chosen_topic == Topic.CORRECTION:
        raise MessagingError("Only the patient can ask for a correction to their record. Choose another topic.")
    subject = _checked_subject(subject, topic=chosen_topic)
    body = _checked_body(body)
    _checked_files(files)
    _ensure_relationship(patient=patient, care_team=care_team)
    now = timezone.now()
    thread = Thread(
        patient=patient,
        care_team=care_team,
        topic=chosen_topic,
        subject=subject,
        started_by_staff=True,
        created_at=now,
        sensitive_category=care_team.sensitive_category,
    )
    _team_message_sent(thread, at=now)
    thread.save()
    message = _message_create(thread=thread, viewer=team_viewer, author_role=AuthorRole.STAFF, body=body, at=now)
    _store_files(message, files)
    access_event_record(
        viewer=team_viewer, patient=patient, action=AccessAction.CREATE, object_label=LABEL_THREAD, obj=thread
    )
    _notify_patient_side(thread)
    return thread


@transaction.atomic
def thread_reply_by_staff(*, viewer: Viewer, thread: Thread, body: str, files: "list[CleanFile]") -> Message:
    """The team's reply: the thread now waits on the patient, nothing is due, and the patient side is told."""
    team_viewer = _team_viewer(viewer, care_team=thread.care_team, patient=thread.patient)
    body = _checked_body(body)
    _checked_files(files)
    locked = _locked(thread)
    now = timezone.now()
    _team_message_sent(locked, at=now)
    locked.save(update_fields=["status", "last_team_message_at", "reply_due_on", "closed_at", "closed_by"])
    message = _message_create(thread=locked, viewer=team_viewer, author_role=AuthorRole.STAFF, body=body, at=now)
    _store_files(message, files)
    access_event_record(
        viewer=team_viewer, patient=thread.patient, action=AccessAction.CREATE, object_label=LABEL_MESSAGE, obj=message
    )
    _notify_patient_side(thread)
    _refresh(thread, locked)
    return message


@transaction.atomic
def thread_note_by_staff(*, viewer: Viewer, thread: Thread, body: str) -> Message:
    """A note the team writes for itself. The patient side never sees it and is not told; the status stays."""
    team_viewer = _team_viewer(viewer, care_team=thread.care_team, patient=thread.patient)
    body = _checked_body(body)
    message = _message_create(
        thread=thread, viewer=team_viewer, author_role=AuthorRole.STAFF, body=body, at=timezone.now(), note=True
    )
    # Audited as a change to the thread: the patient's log must not name something they cannot open.
    staff_change_record(viewer=team_viewer, patient=thread.patient, object_label=LABEL_THREAD, obj=thread)
    return message


@transaction.atomic
def thread_assign(*, viewer: Viewer, thread: Thread, assignee: User | None) -> None:
    """Give the thread to a working member of its team, or to nobody (None)."""
    team_viewer = _team_viewer(viewer, care_team=thread.care_team, patient=thread.patient)
    if assignee is not None and not _is_active_member(assignee, thread.care_team):
        raise MessagingError("You can only assign a message to a member of this care team.")
    locked = _locked(thread)
    if locked.assigned_to_id == (assignee.pk if assignee is not None else None):
        return
    locked.assigned_to = assignee
    locked.save(update_fields=["assigned_to"])
    staff_change_record(viewer=team_viewer, patient=thread.patient, object_label=LABEL_THREAD, obj=thread)
    _refresh(thread, locked)


@transaction.atomic
def thread_close(*, viewer: Viewer, thread: Thread) -> None:
    """Mark the thread done: nothing is due from the team until the patient writes again."""
    team_viewer = _team_viewer(viewer, care_team=thread.care_team, patient=thread.patient)
    locked = _locked(thread)
    if locked.status == ThreadStatus.DONE:
        raise MessagingError("This conversation is already closed.")
    locked.status = ThreadStatus.DONE
    locked.reply_due_on = None
    locked.closed_at, locked.closed_by = timezone.now(), viewer.user
    locked.save(update_fields=["status", "reply_due_on", "closed_at", "closed_by"])
    staff_change_record(viewer=team_viewer, patient=thread.patient, object_label=LABEL_THREAD, obj=thread)
    _refresh(thread, locked)


@transaction.atomic
def thread_reopen(*, viewer: Viewer, thread: Thread) -> None:
    """Put a closed thread back in the team's NEW list. When the patient's last message is still unanswered, the
    reply is due as it was from that message; otherwise nothing is due (the team reopened it for itself)."""
    team_viewer = _team_viewer(viewer, care_team=thread.care_team, patient=thread.patient)
    locked = _locked(thread)
    if locked.status != ThreadStatus.DONE:
        raise MessagingError("This conversation is not closed.")
    patient_waiting = locked.last_patient_message_at is not None and (
        locked.last_team_message_at is None or locked.last_patient_message_at > locked.last_team_message_at
    )
    locked.status = ThreadStatus.NEW
    locked.reply_due_on = (
        reply_due_on_for(care_team=locked.care_team, sent_at=locked.last_patient_message_at)  # type: ignore[arg-type]
        if patient_waiting
        else None
    )
    locked.closed_at, locked.closed_by = None, None
    locked.save(update_fields=["status", "reply_due_on", "closed_at", "closed_by"])
    staff_change_record(viewer=team_viewer, patient=thread.patient, object_label=LABEL_THREAD, obj=thread)
    _refresh(thread, locked)


@transaction.atomic
def correction_status_set(*, viewer: Viewer, correction: CorrectionRequest, status: str, note: str) -> None:
    """Move a record-correction request on: received → under review → corrected or declined (received may go
    straight to an outcome). Corrected needs what was changed and declined needs the reason: both are the outcome
    the patient reads. Outcomes are final. Each step is kept in the history the patient follows, and the patient
    side is told that there is something new."""
    thread = correction.thread
    team_viewer = _team_viewer(viewer, care_team=thread.care_team, patient=thread.patient)
    if status not in CorrectionStatus.values:
        raise MessagingError("Choose a status for this correction request.")
    text = (note or "").strip()
    if status == CorrectionStatus.DECLINED and not text:
        raise MessagingError("Enter the reason for declining this correction request.")
    if status == CorrectionStatus.CORRECTED and not text:
        raise MessagingError("Enter what was corrected in the record.")
    if len(text) > CORRECTION_NOTE_MAX_LENGTH:
        raise MessagingError(f"The note must be {CORRECTION_NOTE_MAX_LENGTH:,} characters or fewer.")
    _check_storable(text, what="note")
    locked = CorrectionRequest.objects.select_for_update().get(pk=correction.pk)
    if status not in CORRECTION_NEXT[locked.status]:
        current = CorrectionStatus(locked.status).label.lower()
        if not CORRECTION_NEXT[locked.status]:
            raise MessagingError(f"This correction request is already {current}, which is final.")
        if status == locked.status:
            raise MessagingError(f"This correction request is already {current}.")
        raise MessagingError(
            f"A correction request that is {current} cannot go back to {CorrectionStatus(status).label.lower()}."
        )
    now = timezone.now()
    locked.status = status
    locked.updated_at = now
    fields = ["status", "updated_at"]
    if status in {CorrectionStatus.CORRECTED, CorrectionStatus.DECLINED}:
        locked.outcome, locked.decided_at, locked.decided_by = text, now, viewer.user
        fields += ["outcome", "decided_at", "decided_by"]
    locked.save(update_fields=fields)
    CorrectionStatusChange.objects.create(
        request=locked,
        status=status,
        note=text,
        changed_by=viewer.user,
        changed_by_display=author_display_for(team_viewer),
        changed_at=now,
    )
    staff_change_record(viewer=team_viewer, patient=thread.patient, object_label=LABEL_CORRECTION, obj=locked)
    _notify_patient_side(thread)
    for name in ("status", "updated_at", "outcome", "decided_at", "decided_by_id"):
        setattr(correction, name, getattr(locked, name))


# Read markers -------------------------------------------------------------------------------------------------


@transaction.atomic
def thread_mark_read(*, user: User, thread: Thread, at: datetime.datetime | None = None) -> None:
    """Remember that `user` has read `thread` up to `at` (now by default). A marker only moves forward: a page
    opened earlier and answered later must not make newer messages look read, nor read ones unread."""
    at = at or timezone.now()
    if ReadMarker.objects.filter(thread=thread, user=user, read_at__lt=at).update(read_at=at):
        return
    # get_or_create copes with two tabs creating the marker at once (it retries the read on a unique clash).
    ReadMarker.objects.get_or_create(thread=thread, user=user, defaults={"read_at": at})
