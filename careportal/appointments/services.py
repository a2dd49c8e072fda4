"""Things that change appointments or happen because of them: telling people, reminding them, the video meeting, and
the patient's request to cancel or rebook.

- Notices (APPOINTMENT_CHANGED, APPOINTMENT_REMINDER) go to the patient's own account and every proxy whose
  relationship gives the appointments scope today (and, for an appointment in a sensitive category, the grant of
  that category); they say the day and time at most, never the clinic, the team or the kind of appointment, and
  never a video link.
- Reminders: `appointment_reminders_send_due`, run by the scheduler (careportal/appointments/jobs.py), sends each
  reminder of APPOINTMENT_REMINDER_DAYS once: a unique row per appointment, offset and start time, written in the
  transaction that queues the notices, with the appointments claimed by SELECT … FOR UPDATE SKIP LOCKED.
- Video meetings: `appointment_meeting_sync` asks the configured provider to create, move or cancel the meeting
  (outside any transaction), then stores it; a failure is kept on the appointment for staff, and tried again later.
- A request to cancel or rebook becomes a message thread in the clinic team's inbox: it never changes the
  appointment, which only the PAS changes.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import CharField, Exists, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, NullIf
from django.utils import timezone

from careportal.access.layer import Viewer
from careportal.access.scopes import Scope
from careportal.accounts.models import User
from careportal.appointments.models import (
    Appointment,
    AppointmentKind,
    AppointmentReminder,
    AppointmentStatus,
    Clinic,
    MeetingStatus,
)
from careportal.appointments.wording import spoken_when
from careportal.audit.models import AccessAction, ActorRole
from careportal.audit.services import access_event_record
from careportal.messaging.models import Thread, Topic
from careportal.messaging.services import MessagingError, thread_start_by_patient
from careportal.notifications.kinds import Kind
from careportal.notifications.services import notification_send, notifications_send_many
from careportal.patients.models import CareTeam
from careportal.proxy.selectors import people_to_tell
from careportal.video.providers import Meeting, MeetingRequest, video_provider

logger = structlog.get_logger(__name__)

DEFAULT_BATCH_SIZE = 500
# While one worker talks to the provider, the sweep leaves the appointment alone for this long.
MEETING_LEASE = datetime.timedelta(minutes=5)
MEETING_FIRST_RETRY = datetime.timedelta(minutes=1)
MEETING_LONGEST_RETRY = datetime.timedelta(hours=1)


class AppointmentRequestError(ValueError):
    """A request to cancel or rebook that cannot be sent; str(error) is a sentence for the person."""


# Recipients ----------------------------------------------------------------------------------------------------


def recipients_for(
    targets: Sequence[tuple[int, str]], *, today: datetime.date | None = None
) -> dict[tuple[int, str], list[User]]:
    """For each (patient id, sensitive category) of appointments, the people to tell about them, in two queries
    however many patients: the patient's own active account, and every active proxy whose relationship gives the
    appointments scope today (the age rules apply: a parent of a 16-year-old keeps appointments) and, for an
    appointment in a sensitive category, whom staff granted that category (a proxy who cannot see the appointment
    is not told of it). The users carry only their id, first name and email address."""
    people = people_to_tell({patient_id for patient_id, _ in targets}, scope=Scope.APPOINTMENTS, today=today)
    return {
        (patient_id, category): [person.user for person in people.get(patient_id, []) if person.may_see(category)]
        for patient_id, category in targets
    }


def appointment_changed_notify(*, appointment: Appointment) -> None:
    """Tell the patient and their proxies that an appointment they could see was moved or cancelled: their first
    name only. Queued in the caller's transaction, delivered after it commits."""
    target = (appointment.patient_id, appointment.sensitive_category)
    users = recipients_for([target]).get(target, [])
    notifications_send_many(kind=Kind.APPOINTMENT_CHANGED, users=users)


@transaction.atomic
def appointments_sensitive_category_refresh(
    *, care_team_ids: Sequence[int] = (), clinic_ids: Sequence[int] = ()
) -> int:
    """Give the appointments of these care teams or clinics the sensitive category they would get now (the
    clinic's own, else their team's), in one UPDATE, after an administrator changed a team's or a clinic's: a
    proxy without the grant stops seeing them at once. Returns how many appointments were looked at."""
    clinic_category = Clinic.objects.filter(pk=OuterRef("clinic_id")).values("sensitive_category")[:1]
    team_category = CareTeam.objects.filter(pk=OuterRef("care_team_id")).values("sensitive_category")[:1]
    return Appointment.objects.filter(Q(care_team_id__in=care_team_ids) | Q(clinic_id__in=clinic_ids)).update(
        sensitive_category=Coalesce(
            NullIf(Subquery(clinic_category), Value("")), Subquery(team_category), Value(""), output_field=CharField()
        )
    )


# Reminders -----------------------------------------------------------------------------------------------------


def reminder_days() -> list[int]:
    """APPOINTMENT_REMINDER_DAYS ("7,1") as whole days, most first; blank turns reminders off."""
    value = settings.APPOINTMENT_REMINDER_DAYS
    days = {int(part) for part in str(value).replace(" ", "").split(",") if part}
    return sorted((day for day in days if day > 0), reverse=True)


def _reminder_batch(*, now: datetime.datetime, days_before: int, batch_size: int) -> int:
    """Send one batch of the `days_before` reminder: booked appointments starting within that many days that have
    had neither this reminder nor a later (closer) one for their current start time."""
    already = AppointmentReminder.objects.filter(
        appointment=OuterRef("pk"), start=OuterRef("start"), days_before__lte=days_before
    )
    with transaction.atomic():
        claimed = list(
            Appointment.objects.filter(
                ~Exists(already),
                status=AppointmentStatus.BOOKED,
                booked_at__isnull=False,
                start__gt=now,
                start__lte=now + datetime.timedelta(days=days_before),
            )
            .select_for_update(skip_locked=True)
            .order_by("start", "pk")
            .only("pk", "patient_id", "start", "sensitive_category")[:batch_size]
        )
        if not claimed:
            return 0
        AppointmentReminder.objects.bulk_create(
            AppointmentReminder(appointment=appointment, days_before=days_before, start=appointment.start, sent_at=now)
            for appointment in claimed
        )
        recipients = recipients_for(
            [(appointment.patient_id, appointment.sensitive_category) for appointment in claimed],
            today=timezone.localdate(now),
        )
        for appointment in claimed:
            when = spoken_when(appointment.start)
            for user in recipients.get((appointment.patient_id, appointment.sensitive_category), []):
                notification_send(kind=Kind.APPOINTMENT_REMINDER, user=user, personalisation={"when": when})
    return len(claimed)


def appointment_reminders_send_due(
    *, now: datetime.datetime | None = None, batch_size: int = DEFAULT_BATCH_SIZE
) -> int:
    """Send every reminder now due, once; returns how many appointments were reminded. The closest reminder goes
    first, so an appointment booked two days ahead gets the 7-day reminder now and the 1-day one the day before, and
    one booked this morning for tomorrow gets only the 1-day one. Safe on several workers at once: appointments are
    claimed with SKIP LOCKED, and the unique reminder row refuses a second copy."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    now = now or timezone.now()
    sent = 0
    for days_before in sorted(reminder_days()):
        while True:
            try:
                count = _reminder_batch(now=now, days_before=days_before, batch_size=batch_size)
            except IntegrityError:
                # Another worker reminded one of these appointments between our read and our write: its batch
                # stands, ours rolled back whole (nothing sent); the next batch skips what it sent.
                continue
            sent += count
            if count < batch_size:
                break
    logger.info("appointment_reminders_sent", appointments=sent)
    return sent


# Video meetings ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _MeetingWork:
    sequence: int
    wants: bool
    existing: Meeting | None
    request: MeetingRequest


def _retry_delay(attempts: int) -> datetime.timedelta:
    return min(MEETING_FIRST_RETRY * (2 ** max(attempts - 1, 0)), MEETING_LONGEST_RETRY)


def _claim_meeting_work(appointment_id: int, now: datetime.datetime) -> _MeetingWork | None:
    with transaction.atomic():
        appointment = (
            Appointment.objects.select_for_update(skip_locked=True)
            .filter(
                pk=appointment_id,
                video_meeting_status__in=[MeetingStatus.PENDING, MeetingStatus.FAILED],
                video_meeting_next_attempt_at__lte=now,
            )
            .first()
        )
        if appointment is None:
            return None
        appointment.video_meeting_next_attempt_at = now + MEETING_LEASE
        appointment.save(update_fields=["video_meeting_next_attempt_at", "updated_at"])
    wants = (
        appointment.status == AppointmentStatus.BOOKED
        and appointment.kind == AppointmentKind.VIDEO
        and appointment.end > now
    )
    existing = None
    if appointment.video_join_url or appointment.video_external_id:
        existing = Meeting(
            provider=appointment.video_provider,
            external_id=appointment.video_external_id,
            join_url=appointment.video_join_url,
        )
    return _MeetingWork(
        sequence=appointment.sequence,
        wants=wants,
        existing=existing,
        request=MeetingRequest(reference=str(appointment.public_id), start=appointment.start, end=appointment.end),
    )


def _failure_text(exc: Exception) -> str:
    # A VideoProviderError promises a message without a link or patient data; anything else
    # (a library's error may quote a URL) is named by its type only.
    from careportal.video.providers import VideoProviderError

    if isinstance(exc, VideoProviderError):
        return f"{type(exc).__name__}: {exc}"[:300]
    return type(exc).__name__


def appointment_meeting_sync(*, appointment_id: int, now: datetime.datetime | None = None) -> str:
    """Create, move or cancel the video meeting of one appointment, as it now needs; returns what happened. The
    provider is called outside any transaction; the result is stored on the appointment afterwards. If the
    appointment changed again meanwhile, the meeting is stored and the appointment stays pending for another try."""
    now = now or timezone.now()
    work = _claim_meeting_work(appointment_id, now)
    if work is None:
        return "nothing to do"
    meeting: Meeting | None = work.existing
    error = ""
    try:
        if work.wants:
            provider = video_provider()
            if work.existing is not None:
                meeting = provider.meeting_update(work.existing, work.request)
            else:
                meeting = provider.meeting_create(work.request)
        elif work.existing is not None:
            video_provider().meeting_cancel(work.existing)
            meeting = None
    except Exception as exc:
        error = _failure_text(exc)
    with transaction.atomic():
        appointment = Appointment.objects.select_for_update().get(pk=appointment_id)
        if error:
            appointment.video_meeting_attempts += 1
            appointment.video_meeting_status = MeetingStatus.FAILED
            appointment.video_meeting_error = error
            # Tried again until it works or the appointment no longer needs a meeting (cancelled, or over): a video
            # appointment without its meeting is a patient who cannot join.
            appointment.video_meeting_next_attempt_at = now + _retry_delay(appointment.video_meeting_attempts)
            outcome = "failed"
        else:
            appointment.video_provider = meeting.provider if meeting else ""
            appointment.video_external_id = meeting.external_id if meeting else ""
            appointment.video_join_url = meeting.join_url if meeting else ""
            appointment.video_meeting_sequence = work.sequence
            appointment.video_meeting_error = ""
            appointment.video_meeting_attempts = 0
            if appointment.sequence != work.sequence:
                appointment.video_meeting_status = MeetingStatus.PENDING
                appointment.video_meeting_next_attempt_at = now
                outcome = "changed meanwhile"
            else:
                if meeting is not None:
                    appointment.video_meeting_status, outcome = MeetingStatus.READY, "ready"
                elif work.existing is not None:
                    appointment.video_meeting_status, outcome = MeetingStatus.CANCELLED, "cancelled"
                else:  # no meeting was ever made, and none is needed now
                    appointment.video_meeting_status, outcome = MeetingStatus.NONE, "not needed"
                appointment.video_meeting_next_attempt_at = None
        appointment.save()
    # The appointment's row id and what happened: never the link.
    logger.info("video_meeting_sync", appointment_id=appointment_id, outcome=outcome, error=error)
    return outcome


def meetings_due_sync(*, now: datetime.datetime | None = None, limit: int = 200) -> int:
    """Try again every meeting whose next try is due (failed, or left pending by a lost task)."""
    now = now or timezone.now()
    ids = list(
        Appointment.objects.filter(
            video_meeting_status__in=[MeetingStatus.PENDING, MeetingStatus.FAILED],
            video_meeting_next_attempt_at__lte=now,
        )
        .order_by("video_meeting_next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in ids:
        appointment_meeting_sync(appointment_id=pk, now=now)
    return len(ids)


@transaction.atomic
def appointment_meeting_retry_now(*, appointment: Appointment) -> None:
    """Staff (Django admin): try a failed meeting again at once."""
    Appointment.objects.filter(pk=appointment.pk, video_meeting_status=MeetingStatus.FAILED).update(
        video_meeting_status=MeetingStatus.PENDING,
        video_meeting_attempts=0,
        video_meeting_next_attempt_at=timezone.now(),
    )
    from careportal.appointments.tasks import sync_meeting
    from careportal.core.tasks import enqueue_on_commit

    enqueue_on_commit(sync_meeting, appointment.pk)


# Joining -------------------------------------------------------------------------------------------------------


def join_window(appointment: Appointment) -> tuple[datetime.datetime, datetime.datetime]:
    opens = appointment.start - datetime.timedelta(minutes=settings.APPOINTMENT_VIDEO_JOIN_MINUTES_BEFORE)
    closes = appointment.end + datetime.timedelta(minutes=settings.APPOINTMENT_VIDEO_JOIN_MINUTES_AFTER)
    return opens, closes


def join_link_for(*, viewer: Viewer, appointment: Appointment, now: datetime.datetime | None = None) -> str | None:
    """The join link, when the appointment (already resolved through the access layer) is a booked video
    appointment with a meeting, and now is within its joining window; the read is audited. None otherwise."""
    now = now or timezone.now()
    opens, closes = join_window(appointment)
    if (
        appointment.kind != AppointmentKind.VIDEO
        or appointment.status != AppointmentStatus.BOOKED
        or appointment.video_meeting_status != MeetingStatus.READY
        or not appointment.video_join_url
        or not opens <= now < closes
    ):
        return None
    access_event_record(
        viewer=viewer,
        patient=appointment.patient,
        action=AccessAction.VIEW,
        object_label="video appointment link",
        obj=appointment,
    )
    return appointment.video_join_url


# Requests to cancel or rebook ----------------------------------------------------------------------------------

CANCEL = "cancel"
REBOOK = "rebook"


def _request_body(
    *, appointment: Appointment, action: str, reason: str, preferred: str, written_for_other: bool
) -> str:
    what = "cancel" if action == CANCEL else "rebook"
    whose = "the patient's" if written_for_other else "my"
    lines = [
        f"Please {what} {whose} appointment on {spoken_when(appointment.start, with_on=False, with_year=True)}.",
        f"Clinic: {appointment.service_name or (appointment.clinic.display_name if appointment.clinic else '')}",
        f"Appointment reference: {appointment.external_id} ({appointment.source_system})",
        "",
        f"Reason: {reason.strip()}",
    ]
    if action == REBOOK and preferred.strip():
        lines += ["", f"Days and times that would suit: {preferred.strip()}"]
    return "\n".join(lines)


def appointment_change_request(
    *, viewer: Viewer, appointment: Appointment, action: str, reason: str, preferred: str = ""
) -> Thread:
    """Send the clinic's team a request to cancel or rebook `appointment` (already resolved through the access
    layer) as a message thread in their inbox. The appointment itself is not changed."""
    if action not in (CANCEL, REBOOK):
        raise AppointmentRequestError("Choose whether you want to cancel or rebook the appointment.")
    if viewer.role not in (ActorRole.PATIENT, ActorRole.PROXY) or viewer.patient is None:
        raise AppointmentRequestError("You cannot ask to change appointments from this account.")
    if not viewer.can(Scope.APPOINTMENTS) or appointment.patient_id != viewer.patient.pk:
        raise AppointmentRequestError("You do not have access to this appointment.")
    if appointment.status != AppointmentStatus.BOOKED or appointment.start <= timezone.now():
        raise AppointmentRequestError("This appointment can no longer be changed online.")
    team = appointment.care_team
    if team is None or not team.is_active:
        raise AppointmentRequestError("This clinic does not take requests online. Call the number on your letter.")
    subject = "Request to cancel an appointment" if action == CANCEL else "Request to rebook an appointment"
    body = _request_body(
        appointment=appointment,
        action=action,
        reason=reason,
        preferred=preferred,
        written_for_other=viewer.role == ActorRole.PROXY,
    )
    try:
        return thread_start_by_patient(
            viewer=viewer,
            care_team=team,
            topic=Topic.APPOINTMENT,
            subject=subject,
            body=body,
            files=[],
            required_scope=Scope.APPOINTMENTS,
            # The request names the clinic: it is as sensitive as the appointment, whatever its team is.
            sensitive_category=appointment.sensitive_category,
        )
    except MessagingError as exc:
        raise AppointmentRequestError(str(exc)) from exc
