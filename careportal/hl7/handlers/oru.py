"""ORU^R01 (observation results): each order group (OBR with its OBX and NTE segments) becomes one DiagnosticReport,
stored by careportal/results/ingest.py. Field mapping: docs/hl7.md.

Comments (NTE): before the first OBX of a group they are the lab's comment on the report; directly after an OBX they
belong to that value; after the last OBX of the group they are the report's comment again, since labs (WinPath and
others) put their end-of-report comment there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from careportal.hl7.handlers import (
    ApplyContext,
    ApplyError,
    ApplyOutcome,
    name_case,
    patient_match,
    timestamp,
)
from careportal.hl7.models import ErrorKind
from careportal.hl7.parsing import (
    ERR_DATA_TYPE,
    ERR_DUPLICATE_KEY,
    ERR_REQUIRED_FIELD_MISSING,
    ERR_SEGMENT_SEQUENCE,
    ERR_TABLE_VALUE_NOT_FOUND,
    Repetition,
    Segment,
    decode_base64,
    parse_number,
)
from careportal.patients.models import Patient
from careportal.results.ingest import ObservationData, ReportConflict, ReportData, report_apply
from careportal.results.models import Interpretation, ObservationValueType, ReportStatus

# HL7 table 0123 (result status, OBR-25) to FHIR DiagnosticReport.status.
REPORT_STATUS = {
    "P": ReportStatus.PRELIMINARY,
    "F": ReportStatus.FINAL,
    "C": ReportStatus.CORRECTED,
    "X": ReportStatus.CANCELLED,
    "I": ReportStatus.REGISTERED,
    "O": ReportStatus.REGISTERED,
    "S": ReportStatus.REGISTERED,
    "R": ReportStatus.PARTIAL,
    "A": ReportStatus.PARTIAL,
}
INTERPRETATIONS = frozenset(Interpretation.values)
TEXT_TYPES = frozenset({"ST", "TX", "FT"})
CODED_TYPES = {"CE": "CE", "CWE": "CWE", "CNE": "CWE", "CF": "CWE"}
# ED type of data (component 2) and subtype (component 3) to a content type.
ED_CONTENT_TYPES = {
    ("AP", "PDF"): "application/pdf",
    ("APPLICATION", "PDF"): "application/pdf",
    ("AP", "RTF"): "application/rtf",
    ("IM", "JPEG"): "image/jpeg",
    ("IM", "JPG"): "image/jpeg",
    ("IM", "PNG"): "image/png",
    ("IM", "GIF"): "image/gif",
    ("IM", "TIFF"): "image/tiff",
    ("TEXT", "PLAIN"): "text/plain",
    ("TEXT", "HTML"): "text/html",
    ("TEXT", "RTF"): "application/rtf",
}
# What those files start with: a document that is not what its label says is not stored as one.
FILE_SIGNATURES = {
    "application/pdf": (b"%PDF-",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/tiff": (b"II*\x00", b"MM\x00*"),
}
SN_COMPARATORS = frozenset({">", "<", ">=", "<=", "=", "<>"})
_NUMBER_TEXT = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"
_RANGE = re.compile(rf"^\s*({_NUMBER_TEXT})\s*(?:-|–|to)\s*({_NUMBER_TEXT})\s*$")
_BOUND = re.compile(rf"^\s*(>=|<=|>|<|≥|≤)\s*({_NUMBER_TEXT})\s*$")


@dataclass
class OrderGroup:
    pid: Segment | None
    pv1: Segment | None
    obr: Segment
    notes: list[Segment] = field(default_factory=list)
    results: list[tuple[Segment, list[Segment]]] = field(default_factory=list)
    spm: Segment | None = None


def order_groups(segments: list[Segment]) -> list[OrderGroup]:
    groups: list[OrderGroup] = []
    pid: Segment | None = None
    pv1: Segment | None = None
    current: OrderGroup | None = None
    for segment in segments:
        name = segment.name
        if name == "PID":
            pid, pv1, current = segment, None, None
        elif name == "PV1":
            pv1 = segment
        elif name == "OBR":
            current = OrderGroup(pid=pid, pv1=pv1, obr=segment)
            groups.append(current)
        elif name == "OBX":
            if current is None:
                raise ApplyError(
                    "OBX before any OBR: the values do not belong to a report",
                    code=ERR_SEGMENT_SEQUENCE,
                    segment=segment,
                )
            current.results.append((segment, []))
        elif name == "NTE":
            if current is None:
                continue  # notes on the patient or visit: CarePortal keeps none
            if current.results:
                current.results[-1][1].append(segment)
            else:
                current.notes.append(segment)
        elif name == "SPM" and current is not None and current.spm is None:
            current.spm = segment
        # Anything else (ORC, TQ1, PD1, Z-segments…) carries nothing CarePortal shows.
    return groups


def apply_oru(ctx: ApplyContext) -> ApplyOutcome:
    groups = order_groups(ctx.message.segments)
    if not groups:
        raise ApplyError("The message has no OBR segment: there is no report in it", code=ERR_SEGMENT_SEQUENCE)
    matched: dict[int, Patient] = {}
    first_patient: Patient | None = None
    for group in groups:
        if ctx.patient is not None:
            patient = ctx.patient
        else:
            if group.pid is None:
                raise ApplyError(
                    "No PID segment before the OBR: the patient is unknown",
                    kind=ErrorKind.UNKNOWN_PATIENT,
                    code=ERR_SEGMENT_SEQUENCE,
                    segment=group.obr,
                )
            if group.pid.position not in matched:
                matched[group.pid.position] = patient_match(group.pid, authority=ctx.hospital_number_authority)
            patient = matched[group.pid.position]
        data = report_data(group, ctx)
        try:
            report_apply(patient=patient, data=data, received_at=ctx.received_at, cache=ctx.cache)
        except ReportConflict as exc:
            raise ApplyError(f"OBR-3: {exc}", code=ERR_DUPLICATE_KEY, segment=group.obr, field_position=3) from exc
        first_patient = first_patient or patient
    return ApplyOutcome(patient=first_patient)


def _notes_text(notes: list[Segment]) -> str:
    lines: list[str] = []
    for note in notes:
        lines.extend(rep.text().strip() for rep in note.repetitions(3))
    return "\n".join(line for line in lines if line)


def clinician_name(rep: Repetition) -> str:
    """XCN: ID ^ family ^ given ^ middle ^ suffix ^ prefix → "Dr Chidi Okafor"."""
    prefix, given, family = rep.value(6), rep.value(3), rep.value(2)
    words = [name_case(prefix).rstrip(".") if prefix else "", name_case(given), name_case(family)]
    return " ".join(word for word in words if word)


def _report_status(group: OrderGroup) -> str:
    code = group.obr.value(25).upper()
    if not code:
        # OBR-25 is required; senders that leave it out still mark each value (OBX-11).
        statuses = {obx.value(11).upper()[:1] for obx, _ in group.results}
        if "C" in statuses:
            return ReportStatus.CORRECTED
        if statuses and statuses <= {"F"}:
            return ReportStatus.FINAL
        return ReportStatus.PRELIMINARY
    if code not in REPORT_STATUS:
        raise ApplyError(
            "OBR-25: not an HL7 result status (table 0123)",
            code=ERR_TABLE_VALUE_NOT_FOUND,
            segment=group.obr,
            field_position=25,
        )
    return REPORT_STATUS[code]


def _specimen(group: OrderGroup) -> str:
    obr = group.obr
    text = obr.value(15, 2) or obr.value(15, 1, 2) or obr.value(15, 1)
    if not text and group.spm is not None:
        text = group.spm.value(4, 2) or group.spm.value(4, 1)
    return text


def report_data(group: OrderGroup, ctx: ApplyContext) -> ReportData:
    obr = group.obr
    filler = obr.value(3) or obr.value(2)
    if not filler:
        raise ApplyError(
            "OBR-3 and OBR-2 are both empty: the report has no order number",
            code=ERR_REQUIRED_FIELD_MISSING,
            segment=obr,
            field_position=3,
        )
    test_code = obr.value(4, 1) or obr.value(4, 4)
    if not test_code:
        raise ApplyError(
            "OBR-4: the test code is missing", code=ERR_REQUIRED_FIELD_MISSING, segment=obr, field_position=4
        )
    test_name = (obr.value(4, 2) if obr.value(4, 1) else obr.value(4, 5)) or test_code
    test_system = obr.value(4, 3) if obr.value(4, 1) else obr.value(4, 6)
    clinician = next(iter(obr.repetitions(16)), None)
    notes = list(group.notes)
    results = list(group.results)
    if results and results[-1][1]:
        notes.extend(results[-1][1])
        results[-1] = (results[-1][0], [])
    pv1 = group.pv1
    return ReportData(
        source_system=ctx.header.sending_application,
        filler_order_number=filler,
        placer_order_number=obr.value(2),
        test_code=test_code,
        test_name=test_name,
        test_coding_system=test_system,
        category=obr.value(24).upper(),
        specimen=_specimen(group),
        collected_at=timestamp(obr, 7, "collection time"),
        specimen_received_at=timestamp(obr, 14, "specimen received time"),
        reported_at=timestamp(obr, 22, "report time") or ctx.message_time,
        ordering_clinician=clinician_name(clinician) if clinician else "",
        ordering_clinician_code=clinician.value(1) if clinician else "",
        status=_report_status(group),
        lab_comment=_notes_text(notes),
        observations=[observation_data(obx, comments, index) for index, (obx, comments) in enumerate(results, 1)],
        service=pv1.value(10) if pv1 else "",
        location=pv1.value(3) if pv1 else "",
    )


def reference_range(text: str) -> tuple[Decimal | None, Decimal | None]:
    """ "115-165" → (115, 165); ">60" → (60, None); "<5" → (None, 5); anything else → (None, None), kept as text."""
    match = _RANGE.match(text)
    if match:
        low, high = Decimal(match.group(1)), Decimal(match.group(2))
        return (low, high) if low <= high else (None, None)
    match = _BOUND.match(text)
    if match:
        bound = Decimal(match.group(2))
        return (bound, None) if match.group(1) in (">", ">=", "≥") else (None, bound)
    return None, None


def _bad_value(obx: Segment, set_id: str, what: str, code: int = ERR_DATA_TYPE) -> ApplyError:
    return ApplyError(f"OBX-5 (set id {set_id}): {what}", code=code, segment=obx, field_position=5)


def _number(value: str, obx: Segment, set_id: str) -> Decimal | None:
    try:
        return parse_number(value)
    except ValueError as exc:
        raise _bad_value(obx, set_id, "not a number, as value type NM requires") from exc


def _structured_numeric(rep: Repetition, obx: Segment, set_id: str) -> tuple[str, Decimal | None, str]:
    """SN: comparator ^ number ^ separator/suffix ^ number: (text, single number, comparator)."""
    comparator, first, separator, second = rep.value(1), rep.value(2), rep.value(3), rep.value(4)
    if comparator and comparator not in SN_COMPARATORS:
        raise _bad_value(obx, set_id, "not a structured number (SN comparator)")
    first_number = _number(first, obx, set_id)
    _number(second, obx, set_id)
    text = f"{comparator if comparator != '=' else ''}{first}{separator}{second}"
    if first_number is not None and not separator and not second:
        return text, first_number, "" if comparator == "=" else comparator
    return text, None, ""


def _attachment(rep: Repetition, obx: Segment, set_id: str) -> tuple[bytes, str]:
    kind, subtype, encoding, data = rep.value(2).upper(), rep.value(3).upper(), rep.value(4).upper(), rep.value(5)
    if not data:
        raise _bad_value(obx, set_id, "the encapsulated document is empty", code=ERR_REQUIRED_FIELD_MISSING)
    try:
        if encoding == "BASE64":
            content = decode_base64(data)
        elif encoding == "HEX":
            content = bytes.fromhex(data)
        elif encoding in ("A", "NONE", ""):
            content = data.encode("utf-8")
        else:
            raise ValueError("unknown encoding")
    except ValueError as exc:
        raise _bad_value(obx, set_id, f"the encapsulated document is not valid {encoding or 'data'}") from exc
    content_type = ED_CONTENT_TYPES.get((kind, subtype), "application/octet-stream")
    signatures = FILE_SIGNATURES.get(content_type)
    if signatures and not content.startswith(signatures):
        raise _bad_value(obx, set_id, f"the encapsulated document is not a {subtype} file as OBX-5 says")
    return content, content_type


def observation_data(obx: Segment, comments: list[Segment], index: int) -> ObservationData:
    set_id = obx.value(1) or str(index)
    value_type = obx.value(2).upper()
    code = obx.value(3, 1) or obx.value(3, 4)
    if not code:
        raise ApplyError(
            f"OBX-3 (set id {set_id}): the observation code is missing",
            code=ERR_REQUIRED_FIELD_MISSING,
            segment=obx,
            field_position=3,
        )
    primary = bool(obx.value(3, 1))
    range_text = obx.value(7)
    low, high = reference_range(range_text)
    flags = [rep.value(1).upper() for rep in obx.repetitions(8)]
    data = ObservationData(
        sequence=index,
        code=code,
        name=(obx.value(3, 2) if primary else obx.value(3, 5)) or code,
        coding_system=obx.value(3, 3) if primary else obx.value(3, 6),
        value_type=ObservationValueType.STRING,
        unit=obx.value(6, 1) or obx.value(6, 2),
        reference_range=range_text,
        reference_low=low,
        reference_high=high,
        interpretation=next((flag for flag in flags if flag in INTERPRETATIONS), ""),
        status=obx.value(11).upper()[:1],
        observed_at=timestamp(obx, 14, "observation time"),
        comment=_notes_text(comments),
    )
    repetitions = obx.repetitions(5)
    if value_type == "NM":
        data.value_type = ObservationValueType.NUMERIC
        values = [rep.value(1) for rep in repetitions]
        numbers = [_number(value, obx, set_id) for value in values]
        data.value_text = "\n".join(values)
        data.value_numeric = numbers[0] if len(numbers) == 1 else None
    elif value_type == "SN":
        data.value_type = ObservationValueType.STRUCTURED_NUMERIC
        parts = [_structured_numeric(rep, obx, set_id) for rep in repetitions]
        data.value_text = "\n".join(text for text, _, _ in parts)
        if len(parts) == 1:
            _, data.value_numeric, data.value_comparator = parts[0]
    elif value_type in CODED_TYPES:
        data.value_type = CODED_TYPES[value_type]
        data.value_text = "\n".join(rep.value(2) or rep.value(1) for rep in repetitions)
        if repetitions:
            data.value_code = repetitions[0].value(1)
            data.value_code_system = repetitions[0].value(3)
    elif value_type == "ED":
        data.value_type = ObservationValueType.ENCAPSULATED_DATA
        if not repetitions:
            raise _bad_value(obx, set_id, "the encapsulated document is empty", code=ERR_REQUIRED_FIELD_MISSING)
        data.attachment_data, data.attachment_content_type = _attachment(repetitions[0], obx, set_id)
        data.value_text = "Attached document"
    elif value_type in TEXT_TYPES:
        data.value_type = value_type
        data.value_text = "\n".join(rep.text().strip("\n ") for rep in repetitions)
    else:
        # Dates, identifiers and the other simple types are shown as the text they are.
        data.value_text = "\n".join(" ".join(part for part in _components(rep) if part) for rep in repetitions)
    return data


def _components(rep: Repetition) -> list[str]:
    return [rep.value(n) for n in range(1, 10)]
