"""SIU (scheduling information, unsolicited) from the PAS: S12 booked, S13 rescheduled, S14 modified, S15 cancelled,
S17 deleted, S26 did not attend. The message is read into the plain AppointmentData that
careportal/appointments/ingest.py stores; the rules (older messages, a cancellation before its booking) live there.
Field mapping: docs/appointments.md.
"""

from __future__ import annotations

import datetime

from careportal.appointments.ingest import (
    DETAIL_EVENTS,
    HANDLED_EVENTS,
    AppointmentConflict,
    AppointmentData,
    AppointmentUnknown,
    appointment_apply,
)
from careportal.appointments.models import AppointmentKind
from careportal.hl7.handlers import ApplyContext, ApplyError, ApplyOutcome, patient_match, timestamp
from careportal.hl7.handlers.oru import clinician_name
from careportal.hl7.models import ErrorKind
from careportal.hl7.parsing import (
    ERR_DATA_TYPE,
    ERR_DUPLICATE_KEY,
    ERR_REQUIRED_FIELD_MISSING,
    ERR_SEGMENT_SEQUENCE,
    ERR_UNKNOWN_KEY,
    Segment,
)

# SCH-8 appointment type codes (and AIL-3 location codes) that say how the appointment happens. Anything else is in
# person. Local PAS codes vary: these are the common ones, upper case.
VIDEO_CODES = frozenset({"VIDEO", "VID", "VC", "VIRTUAL", "VIDEOCONS", "ATTEND ANYWHERE", "AA"})
TELEPHONE_CODES = frozenset({"TEL", "TELE", "TELEPHONE", "PHONE", "PHONECONS", "TC"})
# HL7 table 0249-style duration units (SCH-10, AIS-8) to minutes.
UNIT_MINUTES = {"MIN": 1, "M": 1, "MINUTES": 1, "S": 1 / 60, "SEC": 1 / 60, "H": 60, "HR": 60, "HOURS": 60}
DEFAULT_DURATION = datetime.timedelta(minutes=30)
# Nothing in a hospital lasts this long: a message saying so is a mistake, not an appointment.
LONGEST_APPOINTMENT = datetime.timedelta(hours=24)


def apply_siu(ctx: ApplyContext) -> ApplyOutcome:
    event = ctx.header.trigger_event
    if event not in HANDLED_EVENTS:  # pragma: no cover - handler_for routes only these
        raise ApplyError("MSH-9: not an appointment event CarePortal applies", code=ERR_DATA_TYPE)
    sch = ctx.message.first("SCH")
    if sch is None:
        raise ApplyError("The message has no SCH segment: there is no appointment in it", code=ERR_SEGMENT_SEQUENCE)
    if ctx.patient is not None:
        patient = ctx.patient
    else:
        pid = ctx.message.first("PID")
        if pid is None:
            raise ApplyError(
                "No PID segment: the patient is unknown",
                kind=ErrorKind.UNKNOWN_PATIENT,
                code=ERR_SEGMENT_SEQUENCE,
                segment=sch,
            )
        patient = patient_match(pid, authority=ctx.hospital_number_authority)
    data = appointment_data(ctx, sch, event)
    try:
        result = appointment_apply(patient=patient, data=data, event=event, message_time=ctx.message_time)
    except AppointmentUnknown as exc:
        raise ApplyError(
            f"SCH-2: no appointment with this id from this system: a {event} changes an appointment CarePortal "
            "must first receive booked (S12)",
            kind=ErrorKind.UNKNOWN_APPOINTMENT,
            code=ERR_UNKNOWN_KEY,
            segment=sch,
            field_position=2,
        ) from exc
    except AppointmentConflict as exc:
        raise ApplyError(
            f"SCH-2: {exc}", kind=ErrorKind.PATIENT_MISMATCH, code=ERR_DUPLICATE_KEY, segment=sch, field_position=2
        ) from exc
    return ApplyOutcome(patient=patient, note=f"Appointment {result.outcome}")


def _first(ctx: ApplyContext, name: str) -> Segment | None:
    return ctx.message.first(name)


def _duration(value: str, units: str) -> datetime.timedelta | None:
    value = value.strip()
    if not value:
        return None
    try:
        amount = float(value)
    except ValueError:
        return None
    factor = UNIT_MINUTES.get((units or "MIN").strip().upper())
    if factor is None or amount <= 0:
        return None
    return datetime.timedelta(minutes=amount * factor)


def _times(
    ctx: ApplyContext, sch: Segment, *, required: bool
) -> tuple[datetime.datetime, datetime.datetime] | tuple[None, None]:
    """Start and end: SCH-11 (timing quantity: start in component 4, end in 5), else the first AIS (AIS-4 start,
    AIS-7/AIS-8 duration), else TQ1-7/TQ1-8; a missing end is the start plus the duration (SCH-9/SCH-10). A
    cancellation, deletion or missed appointment may leave the time out (None, None): it changes the status only."""
    start = timestamp(sch, 11, "appointment timing start", component=4)
    end = timestamp(sch, 11, "appointment timing end", component=5)
    start_field = (sch, 11)
    ais = _first(ctx, "AIS")
    tq1 = _first(ctx, "TQ1")
    if start is None and ais is not None:
        start = timestamp(ais, 4, "start date and time")
        start_field = (ais, 4)
    if start is None and tq1 is not None:
        start = timestamp(tq1, 7, "start date and time")
        end = end or timestamp(tq1, 8, "end date and time")
        start_field = (tq1, 7)
    if start is None and not required:
        return None, None
    if start is None:
        raise ApplyError(
            "SCH-11: the appointment has no start time (SCH-11.4, AIS-4 or TQ1-7)",
            code=ERR_REQUIRED_FIELD_MISSING,
            segment=sch,
            field_position=11,
        )
    if end is None:
        duration = _duration(sch.value(9), sch.value(10, 1)) or (
            _duration(ais.value(7), ais.value(8, 1)) if ais is not None else None
        )
        end = start + (duration or DEFAULT_DURATION)
    segment, position = start_field
    if end <= start:
        raise ApplyError(
            f"{segment.name}-{position}: the appointment ends before it starts",
            code=ERR_DATA_TYPE,
            segment=segment,
            field_position=position,
        )
    if end - start > LONGEST_APPOINTMENT:
        raise ApplyError(
            f"{segment.name}-{position}: the appointment lasts longer than 24 hours",
            code=ERR_DATA_TYPE,
            segment=segment,
            field_position=position,
        )
    return start, end


def _kind(sch: Segment, ail: Segment | None) -> str:
    codes = {sch.value(8, 1).strip().upper(), sch.value(8, 2).strip().upper()}
    if ail is not None:
        codes |= {ail.value(3, 1).strip().upper(), ail.value(3, 4).strip().upper()}
    if codes & VIDEO_CODES:
        return AppointmentKind.VIDEO
    if codes & TELEPHONE_CODES:
        return AppointmentKind.TELEPHONE
    return AppointmentKind.IN_PERSON


def _location_name(ail: Segment | None) -> str:
    """AIL-3 (PL): the location description (component 9), else room, floor and building as sent."""
    if ail is None:
        return ""
    description = ail.value(3, 9)
    if description:
        return description
    parts = [ail.value(3, 2), ail.value(3, 8), ail.value(3, 7)]
    return ", ".join(part for part in parts if part)


def appointment_data(ctx: ApplyContext, sch: Segment, event: str) -> AppointmentData:
    external_id = sch.value(2, 1) or sch.value(1, 1)
    if not external_id:
        raise ApplyError(
            "SCH-2 and SCH-1 are both empty: the appointment has no id",
            code=ERR_REQUIRED_FIELD_MISSING,
            segment=sch,
            field_position=2,
        )
    ais = _first(ctx, "AIS")
    ail = _first(ctx, "AIL")
    aip = _first(ctx, "AIP")
    start, end = _times(ctx, sch, required=event in DETAIL_EVENTS)
    clinic_code = (ais.value(3, 1) if ais is not None else "") or sch.value(7, 1)
    service_name = (ais.value(3, 2) if ais is not None else "") or sch.value(7, 2)
    if event in DETAIL_EVENTS and not clinic_code:
        raise ApplyError(
            "AIS-3: the appointment names no clinic or service (AIS-3, else SCH-7)",
            code=ERR_REQUIRED_FIELD_MISSING,
            segment=ais or sch,
            field_position=3 if ais is not None else 7,
        )
    person = next(iter(aip.repetitions(3)), None) if aip is not None else None
    if person is None or not (person.value(2) or person.value(3)):
        person = next(iter(sch.repetitions(16)), None)
    return AppointmentData(
        source_system=ctx.header.sending_application,
        external_id=external_id,
        start=start,
        end=end,
        kind=_kind(sch, ail),
        clinic_code=clinic_code,
        clinic_name=service_name,
        service_name=service_name,
        location_name=_location_name(ail),
        site_code=ail.value(3, 4) if ail is not None else "",
        clinician_name=clinician_name(person) if person is not None else "",
        cancellation_reason=sch.value(6, 2) or sch.value(6, 1),
    )
