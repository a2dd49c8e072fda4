"""ADT messages from the hospital's PAS: A04/A28 register a patient (or update a known one), A08/A31 update one,
A40 merges two records. Other ADT events are acknowledged and stored without being applied. Field mapping:
docs/hl7.md; the record changes themselves: careportal/patients/services.py.
"""

from __future__ import annotations

import re
import unicodedata

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from careportal.hl7.handlers import (
    ApplyContext,
    ApplyError,
    ApplyOutcome,
    check_hospital_number,
    check_nhs_number,
    is_own_authority,
    name_case,
    nhs_number_holder,
    pid_identifiers,
)
from careportal.hl7.models import ErrorKind
from careportal.hl7.parsing import (
    ERR_APPLICATION,
    ERR_DATA_TYPE,
    ERR_REQUIRED_FIELD_MISSING,
    ERR_SEGMENT_SEQUENCE,
    ERR_UNKNOWN_KEY,
    Repetition,
    Segment,
    parse_date,
)
from careportal.patients.models import Patient
from careportal.patients.services import (
    PatientDetails,
    PatientRecordError,
    patient_merge,
    patient_register,
    patient_surviving,
    patient_update,
)

REGISTER_EVENTS = frozenset({"A04", "A28"})
UPDATE_EVENTS = frozenset({"A08", "A31"})
MERGE_EVENT = "A40"
HANDLED_EVENTS = REGISTER_EVENTS | UPDATE_EVENTS | {MERGE_EVENT}
# HL7 table 0201 (telecommunication use) and 0202 (equipment type) values that say where to keep a number.
HOME_USES = frozenset({"PRN", ""})
EMAIL_USES = frozenset({"NET"})
EMAIL_EQUIPMENT = frozenset({"INTERNET", "X.400"})
MOBILE_EQUIPMENT = frozenset({"CP"})
HOME_EQUIPMENT = frozenset({"PH", ""})


def apply_adt(ctx: ApplyContext) -> ApplyOutcome:
    pid = ctx.message.first("PID")
    if pid is None:
        raise ApplyError("The message has no PID segment", code=ERR_SEGMENT_SEQUENCE)
    event = ctx.header.trigger_event
    if event == MERGE_EVENT:
        return _merge(ctx, pid)
    ids = pid_identifiers(pid, authority=ctx.hospital_number_authority)
    check_hospital_number(ids.hospital_number, pid)
    check_nhs_number(ids.nhs_number, pid)
    details = patient_details(pid)
    check_plausible(details, pid)
    if ids.nhs_number:
        details.nhs_number = ids.nhs_number
    try:
        if ctx.patient is not None:
            _check_nhs_holder(ids.nhs_number, ctx.patient, pid)
            return ApplyOutcome(patient=patient_update(patient=ctx.patient, details=details))
        if event in REGISTER_EVENTS:
            known = _patient_by_hospital_number(ids.hospital_number)
            _check_nhs_holder(ids.nhs_number, known, pid)
            if known is not None:
                return ApplyOutcome(patient=patient_update(patient=known, details=details), note="updated")
            _check_new_patient(details, pid)
            registered, _ = patient_register(hospital_number=ids.hospital_number, details=details)
            return ApplyOutcome(patient=registered, note="registered")
        patient = _patient_by_hospital_number(ids.hospital_number)
        if patient is None:
            raise ApplyError(
                "PID-3: no patient with this hospital number",
                kind=ErrorKind.UNKNOWN_PATIENT,
                code=ERR_UNKNOWN_KEY,
                segment=pid,
                field_position=3,
            )
        _check_nhs_holder(ids.nhs_number, patient, pid)
        return ApplyOutcome(patient=patient_update(patient=patient, details=details), note="updated")
    except PatientRecordError as exc:
        raise ApplyError(f"PID: {exc}", code=ERR_APPLICATION, segment=pid) from exc


def _patient_by_hospital_number(hospital_number: str) -> Patient | None:
    found = Patient.objects.filter(hospital_number=hospital_number).first()
    return patient_surviving(found) if found is not None else None


def _check_nhs_holder(nhs_number: str, patient: Patient | None, pid: Segment) -> None:
    """The PAS may set or change a patient's NHS number, but not to one another patient holds."""
    if not nhs_number:
        return
    holder = nhs_number_holder(nhs_number)
    if holder is not None and (patient is None or holder.pk != patient.pk):
        raise ApplyError(
            "PID-3: the NHS number belongs to a different patient",
            kind=ErrorKind.PATIENT_MISMATCH,
            code=ERR_UNKNOWN_KEY,
            segment=pid,
            field_position=3,
        )


def _check_new_patient(details: PatientDetails, pid: Segment) -> None:
    if not details.family_name or not details.given_name:
        raise ApplyError(
            "PID-5: a new patient needs a family name and a given name",
            code=ERR_REQUIRED_FIELD_MISSING,
            segment=pid,
            field_position=5,
        )
    if details.birth_date is None:
        raise ApplyError(
            "PID-7: a new patient needs a date of birth",
            code=ERR_REQUIRED_FIELD_MISSING,
            segment=pid,
            field_position=7,
        )


def _address(pid: Segment) -> Repetition | None:
    repetitions = pid.repetitions(11)
    # XAD-7 address type: the home address ("H") when the PAS sends several.
    return next((rep for rep in repetitions if rep.value(7).upper() == "H"), next(iter(repetitions), None))


def _phone_number(rep: Repetition) -> str:
    # XTN-1 is the number as text (deprecated from 2.3 on, still what most PAS send); 2.3+ splits it into
    # area code (XTN-6) and local number (XTN-7); XTN-12 is the unformatted number.
    return rep.value(1) or " ".join(part for part in (rep.value(6), rep.value(7)) if part) or rep.value(12)


def patient_details(pid: Segment) -> PatientDetails:
    """Demographics the message carries: a field left empty is not carried (None); HL7 "" clears it ("")."""
    details = PatientDetails()
    name = next(iter(pid.repetitions(5)), None)
    if name is not None and not pid.is_null(5):
        details.family_name = name_case(name.value(1)) or None
        details.given_name = name_case(name.value(2)) or None
    if pid.is_present(7) and not pid.is_null(7):
        try:
            details.birth_date = parse_date(pid.value(7))
        except ValueError as exc:
            raise ApplyError(
                "PID-7: not a valid date of birth", code=ERR_DATA_TYPE, segment=pid, field_position=7
            ) from exc
    if pid.is_null(11):
        details.address_line_1 = details.address_line_2 = details.town = details.postcode = ""
    else:
        address = _address(pid)
        if address is not None:
            details.address_line_1 = address.value(1)
            details.address_line_2 = address.value(2)
            details.town = address.value(3)
            details.postcode = address.value(5).upper()
    if pid.is_null(13):
        details.home_phone = details.mobile_phone = details.email = ""
    else:
        for rep in pid.repetitions(13):
            use, equipment = rep.value(2).upper(), rep.value(3).upper()
            if use in EMAIL_USES or equipment in EMAIL_EQUIPMENT:
                email = rep.value(4) or rep.value(1)
                if details.email is None and _is_email(email):
                    details.email = email
            elif equipment in MOBILE_EQUIPMENT:
                details.mobile_phone = details.mobile_phone or _phone_number(rep) or None
            elif equipment in HOME_EQUIPMENT and use in HOME_USES:
                details.home_phone = details.home_phone or _phone_number(rep) or None
    return details


# Where each demographic value comes from. A value longer than its Patient column is cut to it (patients/services);
# one longer than ABSURD_LENGTH is no real name, address or number, and the message is refused instead.
ABSURD_LENGTH = 1000
_DEMOGRAPHIC_FIELDS = (
    ("family_name", 5, "1", "family name", True),
    ("given_name", 5, "2", "given name", True),
    ("address_line_1", 11, "1", "address line 1", False),
    ("address_line_2", 11, "2", "address line 2", False),
    ("town", 11, "3", "town", False),
    ("postcode", 11, "5", "postcode", False),
    ("home_phone", 13, "", "home phone number", False),
    ("mobile_phone", 13, "", "mobile phone number", False),
    ("email", 13, "", "email address", False),
)
_MARKUP = re.compile(r"[<>]")
# Unicode bidirectional controls: they make a name read differently from how it is stored (a spoofing trick).
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _implausibility(value: str, *, is_name: bool) -> str:
    if _MARKUP.search(value):
        return "contains markup (< or >)"
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        return "contains control characters"
    if any(ch in _BIDI_CONTROLS for ch in value):
        return "contains bidirectional text controls"
    if is_name and any(unicodedata.category(ch) in ("Cf", "Co", "Cs", "Cn") for ch in value):
        return "contains invisible or unassigned characters"
    return ""


def check_plausible(details: PatientDetails, pid: Segment) -> None:
    """Refuse names, addresses and numbers no real PAS sends: markup, control characters, bidirectional controls,
    or far more than a real one needs. The reason names the field position, never the value."""
    for name, position, component, label, is_name in _DEMOGRAPHIC_FIELDS:
        value = getattr(details, name)
        if not value:
            continue
        where = f"PID-{position}{'.' + component if component else ''} ({label})"
        problem = _implausibility(value, is_name=is_name)
        if not problem and len(value) > ABSURD_LENGTH:
            problem = f"is longer than {ABSURD_LENGTH} characters"
        if problem:
            raise ApplyError(
                f"{where} {problem}: CarePortal changed nothing",
                kind=ErrorKind.IMPLAUSIBLE_CONTENT,
                code=ERR_DATA_TYPE,
                segment=pid,
                field_position=position,
            )


def _is_email(value: str) -> bool:
    # A mistyped address at the registration desk is not stored (the stored one stays): email notices must
    # reach the patient, and the rest of the update is still applied.
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


def _merge(ctx: ApplyContext, pid: Segment) -> ApplyOutcome:
    mrg = ctx.message.first("MRG")
    if mrg is None:
        raise ApplyError("ADT^A40 without an MRG segment: the prior record is not named", code=ERR_SEGMENT_SEQUENCE)
    ids = pid_identifiers(pid, authority=ctx.hospital_number_authority)
    check_nhs_number(ids.nhs_number, pid)
    prior_number = ""
    for rep in mrg.repetitions(1):
        rep_authority = rep.value(4).upper()
        if (
            rep.value(5).upper() in ("MR", "")
            and rep_authority != "NHS"
            and is_own_authority(rep_authority, ctx.hospital_number_authority)
            and rep.value(1)
        ):
            prior_number = rep.value(1)
            break
    if not prior_number:
        raise ApplyError(
            "MRG-1: no prior hospital number (identifier type MR)",
            code=ERR_REQUIRED_FIELD_MISSING,
            segment=mrg,
            field_position=1,
        )
    if ctx.patient is not None:
        surviving = ctx.patient
    else:
        check_hospital_number(ids.hospital_number, pid)
        found = Patient.objects.filter(hospital_number=ids.hospital_number).first()
        if found is None:
            raise ApplyError(
                "PID-3: no patient with the surviving hospital number",
                kind=ErrorKind.UNKNOWN_PATIENT,
                code=ERR_UNKNOWN_KEY,
                segment=pid,
                field_position=3,
            )
        surviving = patient_surviving(found)
    prior = Patient.objects.filter(hospital_number=prior_number).first()
    if prior is None:
        # The PAS merged away a record CarePortal never had: nothing to move.
        return ApplyOutcome(patient=surviving, note="prior record not known")
    try:
        patient_merge(surviving=surviving, prior=prior, nhs_number=ids.nhs_number)
    except PatientRecordError as exc:
        raise ApplyError(f"ADT^A40: {exc}", code=ERR_APPLICATION, segment=mrg, field_position=1) from exc
    return ApplyOutcome(patient=surviving, note="merged")
