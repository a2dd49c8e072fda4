"""Applying a parsed message: which handler applies which message type, the error they raise when a message cannot
be applied, and the patient match from PID that results and updates share.

A handler runs inside a savepoint (careportal/hl7/services.py): raising ApplyError undoes everything it did, and the
message then waits in the unmatched queue with the error's reason, which is also sent back in the ACK (AE).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from careportal.hl7.models import ErrorKind
from careportal.hl7.parsing import (
    ERR_DATA_TYPE,
    ERR_REQUIRED_FIELD_MISSING,
    ERR_UNKNOWN_KEY,
    MessageHeader,
    ParsedMessage,
    Segment,
    parse_timestamp,
)
from careportal.patients.models import Patient
from careportal.patients.services import nhs_number_is_valid, patient_surviving
from careportal.patients.validators import normalise_nhs_number

# HL7 table 0203 identifier type codes, and the assigning authority UK feeds put on NHS numbers.
HOSPITAL_NUMBER_TYPE = "MR"
NHS_NUMBER_TYPE = "NH"
NHS_AUTHORITY = "NHS"
# Patient.hospital_number is 20 characters.
HOSPITAL_NUMBER_LENGTH = 20

# HL7 table 0076 message types CarePortal stores, and acknowledges (AA) without applying when `handler_for` has no
# handler for them (yet): a later issue applies appointments (SIU). Any other message type is answered AR.
KNOWN_MESSAGE_TYPES = frozenset(
    {
        "ACK", "ADR", "ADT", "BAR", "CRM", "DFT", "MDM", "MFN", "OMG", "OML", "ORL", "ORM", "ORR", "ORU", "OSU",
        "PPR", "QBP", "QRY", "RAS", "RDE", "RDS", "REF", "RGV", "RRI", "SIU", "SRM", "SSU", "VXU",
    }
)  # fmt: skip


class ApplyError(ValueError):
    """A message that cannot be applied as it stands: AE, stored with status ERROR for staff.

    `text` is read by staff in the queue and sent in the ACK, so it names field positions, never values.
    """

    def __init__(
        self,
        text: str,
        *,
        kind: ErrorKind = ErrorKind.INVALID_CONTENT,
        code: int = ERR_DATA_TYPE,
        segment: Segment | None = None,
        field_position: int | None = None,
    ) -> None:
        super().__init__(text)
        self.text = text
        self.kind = kind
        self.code = code
        self.segment_name = segment.name if segment is not None else ""
        self.segment_position = segment.occurrence if segment is not None else None
        self.field_position = field_position


@dataclass
class ApplyContext:
    message: ParsedMessage
    received_at: datetime.datetime
    # Set when staff replay a message from the unmatched queue for the patient they chose: PID is not matched then.
    patient: Patient | None = None
    # PID-3 component 4 the sending interface puts on its hospital numbers ("" when it sends none); None only when
    # a handler is called without an interface (unit tests of the mapping), when any authority is taken.
    hospital_number_authority: str | None = None
    # Per-message memo (release rules by test code and category): never shared between messages, so that a rule a
    # member of staff changes applies from the next message on.
    cache: dict[Any, Any] = field(default_factory=dict)

    @property
    def header(self) -> MessageHeader:
        return self.message.header

    @property
    def message_time(self) -> datetime.datetime:
        """MSH-7, or the time we received it when the sender left it blank or unreadable."""
        return self.header.sent_at or self.received_at


@dataclass
class ApplyOutcome:
    patient: Patient | None = None
    note: str = ""


Handler = Callable[[ApplyContext], ApplyOutcome]


def handler_for(header: MessageHeader) -> Handler | None:
    """The handler for a message type, or None for one CarePortal acknowledges without applying."""
    from careportal.hl7.handlers import adt, mdm, oru

    if header.message_code == "ORU" and header.trigger_event == "R01":
        return oru.apply_oru
    if header.message_code == "ADT" and header.trigger_event in adt.HANDLED_EVENTS:
        return adt.apply_adt
    if header.message_code == "MDM" and header.trigger_event in mdm.HANDLED_EVENTS:
        return mdm.apply_mdm
    return None


def is_known_message_type(header: MessageHeader) -> bool:
    return header.message_code in KNOWN_MESSAGE_TYPES


# ---------------------------------------------------------------------------------------------------------------
# Values every handler reads the same way


def timestamp(segment: Segment, position: int, label: str, *, component: int = 1) -> datetime.datetime | None:
    try:
        return parse_timestamp(segment.value(position, component))
    except ValueError as exc:
        raise ApplyError(
            f"{segment.name}-{position} ({label}) is not a valid HL7 date and time",
            code=ERR_DATA_TYPE,
            segment=segment,
            field_position=position,
        ) from exc


def name_case(value: str) -> str:
    """OKAFOR → Okafor, O'SULLIVAN → O'Sullivan, SIOBHÁN → Siobhán: systems that send names in capitals. A name
    already in mixed case is kept as the sender wrote it."""
    if value != value.upper():
        return value
    return re.sub(r"[^\W\d_]+", lambda m: m.group(0).capitalize(), value.lower())


@dataclass(frozen=True)
class PatientIdentifiers:
    hospital_number: str
    nhs_number: str


def is_own_authority(authority: str, expected: str | None) -> bool:
    """Whether an identifier's assigning authority (CX-4) is the one the sending interface uses for this trust's
    hospital numbers. A number with no authority is the sender's own; one naming another authority (another
    trust, a GP system) is never taken as the hospital number."""
    return expected is None or not authority or authority == expected.upper()


def pid_identifiers(pid: Segment, *, authority: str | None = None) -> PatientIdentifiers:
    """Hospital number (identifier type MR) and NHS number (type NH, or assigning authority NHS) from PID-3.

    An identifier with no type code and no NHS authority is taken as the hospital number when none is typed: PID-3
    is the patient identifier list, and older feeds send the local number alone, untyped. `authority` is the
    sending interface's assigning authority for hospital numbers: a repetition naming another is skipped.
    """
    hospital_number = ""
    untyped = ""
    nhs_number = ""
    for rep in pid.repetitions(3):
        value = rep.value(1)
        if not value:
            continue
        type_code = rep.value(5).upper()
        rep_authority = rep.value(4).upper()
        if type_code == NHS_NUMBER_TYPE or (rep_authority == NHS_AUTHORITY and type_code in ("", NHS_NUMBER_TYPE)):
            nhs_number = nhs_number or normalise_nhs_number(value)
        elif not is_own_authority(rep_authority, authority):
            continue
        elif type_code == HOSPITAL_NUMBER_TYPE:
            hospital_number = hospital_number or value
        elif not type_code:
            untyped = untyped or value
    return PatientIdentifiers(hospital_number=hospital_number or untyped, nhs_number=nhs_number)


def check_nhs_number(nhs_number: str, pid: Segment) -> None:
    if nhs_number and not nhs_number_is_valid(nhs_number):
        raise ApplyError(
            "PID-3: the NHS number fails the modulus 11 check",
            kind=ErrorKind.INVALID_NHS_NUMBER,
            code=ERR_DATA_TYPE,
            segment=pid,
            field_position=3,
        )


def check_hospital_number(hospital_number: str, pid: Segment) -> None:
    if not hospital_number:
        raise ApplyError(
            "PID-3: no hospital number (identifier type MR)",
            kind=ErrorKind.UNKNOWN_PATIENT,
            code=ERR_REQUIRED_FIELD_MISSING,
            segment=pid,
            field_position=3,
        )
    if len(hospital_number) > HOSPITAL_NUMBER_LENGTH:
        raise ApplyError(
            f"PID-3: the hospital number is longer than {HOSPITAL_NUMBER_LENGTH} characters",
            code=ERR_DATA_TYPE,
            segment=pid,
            field_position=3,
        )


def patient_match(pid: Segment, *, authority: str | None = None) -> Patient:
    """The patient a PID names. Read from the database every time (no cache): a patient registered a moment ago
    by an ADT message on another connection must match.

    - the hospital number must match a patient; a record merged into another (ADT^A40) leads to the survivor;
    - an NHS number, when sent, must pass modulus 11 and must not name someone else;
    - a patient with no NHS number yet keeps none: a result message does not set identifiers.
    """
    ids = pid_identifiers(pid, authority=authority)
    check_hospital_number(ids.hospital_number, pid)
    check_nhs_number(ids.nhs_number, pid)
    found = _patient_where(hospital_number=ids.hospital_number)
    if found is None:
        raise ApplyError(
            "PID-3: no patient with this hospital number",
            kind=ErrorKind.UNKNOWN_PATIENT,
            code=ERR_UNKNOWN_KEY,
            segment=pid,
            field_position=3,
        )
    patient = patient_surviving(found)
    if ids.nhs_number:
        nhs_matches_patient(ids.nhs_number, patient, pid)
    return patient


def _patient_where(**unique: str) -> Patient | None:
    """The patient with this unique identifier, or None. Without `.first()`'s ORDER BY: the column is unique, and
    this runs for every message."""
    return next(iter(Patient.objects.filter(**unique).order_by()[:1]), None)


def nhs_number_holder(nhs_number: str) -> Patient | None:
    holder = _patient_where(nhs_number=nhs_number)
    return patient_surviving(holder) if holder is not None else None


def nhs_matches_patient(nhs_number: str, patient: Patient, pid: Segment) -> None:
    """Hospital number and NHS number must name the same person."""
    mismatch = ApplyError(
        "PID-3: the hospital number and the NHS number belong to different patients",
        kind=ErrorKind.PATIENT_MISMATCH,
        code=ERR_UNKNOWN_KEY,
        segment=pid,
        field_position=3,
    )
    if patient.nhs_number == nhs_number:
        return
    # The old record of a merge may still hold the number the sender knows the patient by: the holder is followed
    # to the record it was merged into.
    holder = nhs_number_holder(nhs_number)
    if holder is None:
        if patient.nhs_number:
            raise mismatch
        return
    if holder.pk != patient.pk:
        raise mismatch
