"""Storing what the PAS says about an appointment: booked, moved, changed, cancelled, deleted, or not attended.

The HL7 handler (careportal/hl7/handlers/siu.py) reads an SIU message into the plain AppointmentData below; the rules
live here, in one place:

- an appointment is identified by its source system (MSH-3) and the PAS's appointment id;
- a message older (MSH-7) than the last one applied to the appointment changes nothing: the newer data stays;
- S12 books (a booking the PAS sends again updates it), S13 moves, S14 changes details, S15 cancels, S17 deletes
  (entered in error), S26 records that the patient did not attend;
- S13, S14 or S26 for an appointment CarePortal does not know cannot be applied (AppointmentUnknown: AE, staff see
  it in the unmatched queue);
- a cancellation (S15, S17) that arrives before its booking is kept as a cancelled appointment that was never
  booked: the booking, older, then changes nothing, so the patient never sees as booked an appointment CarePortal
  knows is cancelled; staff see the appointment and both messages;
- the clinic's care team (Clinic, Django admin) gets an "appointment" care relationship with the patient, so that
  the team may see them and receive their requests;
- an appointment takes the clinic's sensitive category, else its care team's (Clinic and CareTeam, Django admin):
  proxies without that grant neither see it (careportal/appointments/access.py) nor are told of it;
- a video appointment booked or moved gets its meeting from the video provider after commit
  (careportal/appointments/tasks.py); one cancelled has its meeting cancelled;
- the patient (and proxies with the appointments scope) are told, without detail, when an upcoming appointment
  they could see is moved or cancelled.
"""

from __future__ import annotations

import datetime
import functools
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from careportal.appointments.models import (
    Appointment,
    AppointmentKind,
    AppointmentStatus,
    Clinic,
    MeetingStatus,
)
from careportal.core.tasks import enqueue_on_commit
from careportal.patients.models import CareRelationship, CareRelationshipReason, CareTeam, Patient

BOOK = "S12"
MOVE = "S13"
MODIFY = "S14"
CANCEL = "S15"
DELETE = "S17"
NOSHOW = "S26"
HANDLED_EVENTS = frozenset({BOOK, MOVE, MODIFY, CANCEL, DELETE, NOSHOW})
# Events that say everything about the appointment (time, place, people); the others change its status only.
DETAIL_EVENTS = frozenset({BOOK, MOVE, MODIFY})
# Events that may create an appointment CarePortal has not seen: a booking, and a cancellation that overtook it.
CREATING_EVENTS = frozenset({BOOK, CANCEL, DELETE})
STATUS_FOR_EVENT = {
    CANCEL: AppointmentStatus.CANCELLED,
    DELETE: AppointmentStatus.ENTERED_IN_ERROR,
    NOSHOW: AppointmentStatus.NOSHOW,
}
ENDED_STATUSES = frozenset({AppointmentStatus.CANCELLED, AppointmentStatus.ENTERED_IN_ERROR})


class AppointmentUnknown(LookupError):
    """A change to an appointment CarePortal has never received."""


class AppointmentConflict(ValueError):
    """The message names an appointment id that belongs to another patient."""


@dataclass
class AppointmentData:
    source_system: str
    external_id: str
    # None only in a cancellation, deletion or "did not attend" that leaves the time out.
    start: datetime.datetime | None
    end: datetime.datetime | None
    kind: str = AppointmentKind.IN_PERSON
    clinic_code: str = ""
    clinic_name: str = ""
    service_name: str = ""
    location_name: str = ""
    site_code: str = ""
    clinician_name: str = ""
    cancellation_reason: str = ""


@dataclass
class ApplyResult:
    appointment: Appointment
    # "booked", "updated", "cancelled before booking", "older message ignored", "unchanged", …
    outcome: str


@functools.cache
def _max_length(model: Any, name: str) -> int:
    return int(model._meta.get_field(name).max_length)


def _fit(model: Any, name: str, value: str) -> str:
    return value[: _max_length(model, name)]


def clinic_for(code: str, name: str) -> Clinic | None:
    """The clinic with this PAS code, created (name only) the first time a message names it, so that
    administrators see every clinic in use and can add its team and patient-facing text."""
    if not code:
        return None
    code = _fit(Clinic, "code", code)
    clinic = Clinic.objects.filter(code=code).select_related("care_team").first()
    if clinic is None:
        # ON CONFLICT DO NOTHING: another connection may create the same clinic at the same moment.
        Clinic.objects.bulk_create([Clinic(code=code, name=_fit(Clinic, "name", name))], ignore_conflicts=True)
        clinic = Clinic.objects.select_related("care_team").get(code=code)
    return clinic


def _care_relationship_ensure(*, patient: Patient, care_team_id: int) -> None:
    if not CareRelationship.objects.filter(
        patient=patient, care_team_id=care_team_id, reason=CareRelationshipReason.APPOINTMENT
    ).exists():
        CareRelationship.objects.bulk_create(
            [CareRelationship(patient=patient, care_team_id=care_team_id, reason=CareRelationshipReason.APPOINTMENT)],
            ignore_conflicts=True,
        )


def _sensitive_category_for(appointment: Appointment, clinic: Clinic | None) -> str:
    """The clinic's own sensitive category, else the appointment's care team's (blank for none)."""
    if clinic is not None and clinic.sensitive_category:
        return clinic.sensitive_category
    if clinic is not None and clinic.care_team is not None and clinic.care_team_id == appointment.care_team_id:
        return clinic.care_team.sensitive_category
    if appointment.care_team_id is None:
        return ""
    category = CareTeam.objects.filter(pk=appointment.care_team_id).values_list("sensitive_category", flat=True)
    return category.first() or ""


def _set_details(appointment: Appointment, data: AppointmentData, clinic: Clinic | None) -> None:
    if data.start is None or data.end is None:  # pragma: no cover - the handler requires them for these events
        raise ValueError("a booking, move or change needs its start and end")
    appointment.start = data.start
    appointment.end = data.end
    appointment.kind = data.kind
    appointment.clinic = clinic
    if clinic is not None and clinic.care_team_id is not None:
        appointment.care_team_id = clinic.care_team_id
    appointment.sensitive_category = _sensitive_category_for(appointment, clinic)
    appointment.service_name = _fit(Appointment, "service_name", data.service_name)
    appointment.location_name = _fit(Appointment, "location_name", data.location_name)
    appointment.site_code = _fit(Appointment, "site_code", data.site_code)
    appointment.clinician_name = _fit(Appointment, "clinician_name", data.clinician_name)


# What a patient's calendar entry and the meeting depend on: a change to any of them is a new SEQUENCE.
_SEQUENCED = ("start", "end", "kind", "status", "location_name", "site_code", "clinic_id")


def _snapshot(appointment: Appointment) -> tuple[Any, ...]:
    return tuple(getattr(appointment, name) for name in _SEQUENCED)


def _wants_meeting(appointment: Appointment, now: datetime.datetime) -> bool:
    return (
        appointment.status == AppointmentStatus.BOOKED
        and appointment.kind == AppointmentKind.VIDEO
        and appointment.end > now
    )


def _has_meeting(appointment: Appointment) -> bool:
    return bool(appointment.video_join_url or appointment.video_external_id)


def _meeting_mark(appointment: Appointment, now: datetime.datetime) -> bool:
    """Mark the meeting for the sync task when the appointment now needs one made, moved or cancelled."""
    wants = _wants_meeting(appointment, now)
    if not wants and not _has_meeting(appointment):
        if appointment.video_meeting_status in (MeetingStatus.PENDING, MeetingStatus.FAILED):
            appointment.video_meeting_status = MeetingStatus.NONE
            appointment.video_meeting_next_attempt_at = None
        return False
    if wants and _has_meeting(appointment) and appointment.video_meeting_sequence == appointment.sequence:
        return False
    appointment.video_meeting_status = MeetingStatus.PENDING
    appointment.video_meeting_attempts = 0
    appointment.video_meeting_error = ""
    appointment.video_meeting_next_attempt_at = now
    return True


def _meeting_sync_after_commit(appointment: Appointment) -> None:
    from careportal.appointments.tasks import sync_meeting

    enqueue_on_commit(sync_meeting, appointment.pk)


def appointment_apply(
    *,
    patient: Patient,
    data: AppointmentData,
    event: str,
    message_time: datetime.datetime,
) -> ApplyResult:
    """Create or update the appointment `data` describes. Call inside a transaction (the HL7 service's savepoint).

    Raises AppointmentUnknown (a change to an appointment never received) or AppointmentConflict (the id is
    another patient's)."""
    if event not in HANDLED_EVENTS:
        raise ValueError(f"not an appointment event: {event}")
    now = timezone.now()
    # Locked until the message's transaction ends: two messages about the same appointment on two connections are
    # applied one after the other, each comparing its time with what the other left.
    existing = next(
        iter(
            Appointment.objects.select_for_update()
            .filter(source_system=data.source_system, external_id=data.external_id)
            .order_by()[:1]
        ),
        None,
    )
    if existing is None:
        if event not in CREATING_EVENTS:
            raise AppointmentUnknown(data.external_id)
        return _create(patient=patient, data=data, event=event, message_time=message_time, now=now)
    if existing.patient_id != patient.pk:
        raise AppointmentConflict("this appointment id already belongs to another patient's appointment")
    if message_time < existing.last_message_at:
        return ApplyResult(appointment=existing, outcome="older message ignored")
    return _update(appointment=existing, data=data, event=event, message_time=message_time, now=now)


def _create(
    *, patient: Patient, data: AppointmentData, event: str, message_time: datetime.datetime, now: datetime.datetime
) -> ApplyResult:
    clinic = clinic_for(data.clinic_code, data.clinic_name or data.service_name)
    booked = event == BOOK
    appointment = Appointment(
        patient=patient,
        source_system=_fit(Appointment, "source_system", data.source_system),
        external_id=_fit(Appointment, "external_id", data.external_id),
        status=AppointmentStatus.BOOKED if booked else STATUS_FOR_EVENT[event],
        booked_at=now if booked else None,
        last_message_at=message_time,
        last_event=event,
        cancellation_reason=_fit(Appointment, "cancellation_reason", data.cancellation_reason),
    )
    if data.start is None or data.end is None:
        # A cancellation without its time, before its booking: kept (never shown) at the message's time, so that
        # the booking, when it comes, finds it; a newer booking then sets the real time.
        appointment.start = appointment.end = message_time
        appointment.clinic = clinic
        appointment.sensitive_category = _sensitive_category_for(appointment, clinic)
        appointment.service_name = _fit(Appointment, "service_name", data.service_name)
    else:
        _set_details(appointment, data, clinic)
    needs_meeting = _meeting_mark(appointment, now)
    appointment.save()
    if appointment.care_team_id is not None:
        _care_relationship_ensure(patient=patient, care_team_id=appointment.care_team_id)
    if needs_meeting:
        _meeting_sync_after_commit(appointment)
    return ApplyResult(appointment=appointment, outcome="booked" if booked else "cancelled before booking")


def _update(
    *,
    appointment: Appointment,
    data: AppointmentData,
    event: str,
    message_time: datetime.datetime,
    now: datetime.datetime,
) -> ApplyResult:
    before = _snapshot(appointment)
    was_booked_upcoming = (
        appointment.booked_at is not None and appointment.status == AppointmentStatus.BOOKED and appointment.end > now
    )
    old_start = appointment.start
    if event in DETAIL_EVENTS:
        clinic = clinic_for(data.clinic_code, data.clinic_name or data.service_name)
        _set_details(appointment, data, clinic)
        if event in (BOOK, MOVE) or appointment.status == AppointmentStatus.BOOKED:
            # A booking or a move (re)books; a detail change leaves a cancelled or missed appointment as it is.
            appointment.status = AppointmentStatus.BOOKED
    else:
        appointment.status = STATUS_FOR_EVENT[event]
        if event == CANCEL:
            appointment.cancellation_reason = _fit(Appointment, "cancellation_reason", data.cancellation_reason)
    if appointment.status == AppointmentStatus.BOOKED and appointment.booked_at is None:
        appointment.booked_at = now
    appointment.last_message_at = message_time
    appointment.last_event = event
    changed = _snapshot(appointment) != before
    if changed:
        appointment.sequence += 1
    needs_meeting = _meeting_mark(appointment, now)
    appointment.save()
    if appointment.care_team_id is not None:
        _care_relationship_ensure(patient=appointment.patient, care_team_id=appointment.care_team_id)
    if needs_meeting:
        _meeting_sync_after_commit(appointment)
    ended = appointment.status in ENDED_STATUSES
    moved = appointment.status == AppointmentStatus.BOOKED and appointment.start != old_start
    if was_booked_upcoming and (ended or moved):
        from careportal.appointments.services import appointment_changed_notify

        appointment_changed_notify(appointment=appointment)
    if not changed:
        return ApplyResult(appointment=appointment, outcome="unchanged")
    if ended:
        return ApplyResult(appointment=appointment, outcome=appointment.get_status_display().lower())
    return ApplyResult(appointment=appointment, outcome="moved" if moved else "updated")
