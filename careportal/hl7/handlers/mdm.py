"""MDM (medical document management): clinic letters from the document system, stored by
careportal/letters/ingest.py. Field mapping: docs/letters.md.

- T02 (original document with content) and T10 (replacement with content): the PDF in OBX-5 (type ED, encoding
  Base64) becomes or replaces the letter with TXA-12's document id (T10: TXA-13's parent id when given);
- T11 (document cancel): the letter TXA-12 (or TXA-13) names is marked sent in error.

Error texts name field positions, never values: they are shown to staff and sent back in the ACK.
"""

from __future__ import annotations

import datetime

from careportal.hl7.handlers import ApplyContext, ApplyError, ApplyOutcome, name_case, patient_match, timestamp
from careportal.hl7.handlers.oru import clinician_name
from careportal.hl7.models import ErrorKind
from careportal.hl7.parsing import (
    ERR_DUPLICATE_KEY,
    ERR_REQUIRED_FIELD_MISSING,
    ERR_SEGMENT_SEQUENCE,
    ERR_TABLE_VALUE_NOT_FOUND,
    ERR_UNKNOWN_KEY,
    Segment,
    decode_base64,
)
from careportal.letters.ingest import LetterConflict, LetterData, LetterUnknown, letter_apply, letter_cancel
from careportal.letters.models import LetterSource
from careportal.letters.pdf import DocumentRejected

HANDLED_EVENTS = frozenset({"T02", "T10", "T11"})
# HL7 table 0271 (document completion status): only a finished letter reaches a patient. Blank is taken as
# finished, since many document systems send only finished letters and leave TXA-17 empty.
FINISHED = frozenset({"", "AU", "LA"})
PDF_SUBTYPES = frozenset({"PDF", "APPLICATION/PDF"})


def apply_mdm(ctx: ApplyContext) -> ApplyOutcome:
    segments = ctx.message.segments
    txa = ctx.message.first("TXA")
    if txa is None:
        raise ApplyError("The message has no TXA segment: there is no document in it", code=ERR_SEGMENT_SEQUENCE)
    patient = ctx.patient
    if patient is None:
        pid = ctx.message.first("PID")
        if pid is None:
            raise ApplyError(
                "No PID segment: the patient is unknown", kind=ErrorKind.UNKNOWN_PATIENT, code=ERR_SEGMENT_SEQUENCE
            )
        patient = patient_match(pid, authority=ctx.hospital_number_authority)
    event = ctx.header.trigger_event
    shift = txa_shift(txa, ctx.header.sending_application)
    document_id = _document_id(txa, event, shift=shift)
    version_at = timestamp(txa, 8, "edit date and time") or ctx.message_time
    try:
        if event == "T11":
            outcome = letter_cancel(
                patient=patient,
                source_system=ctx.header.sending_application,
                document_id=document_id,
                version_at=version_at,
            )
        else:
            outcome = letter_apply(
                patient=patient,
                data=_letter_data(ctx, txa, segments, document_id=document_id, version_at=version_at, shift=shift),
                received_at=ctx.received_at,
            )
    except DocumentRejected as exc:
        raise ApplyError(
            f"OBX-5: {exc.reason}", kind=ErrorKind.INVALID_DOCUMENT, segment=_first_document(segments), field_position=5
        ) from exc
    except LetterConflict as exc:
        raise ApplyError(f"TXA-12: {exc}", code=ERR_DUPLICATE_KEY, segment=txa, field_position=12) from exc
    except LetterUnknown as exc:
        raise ApplyError(f"TXA-12: {exc}", code=ERR_UNKNOWN_KEY, segment=txa, field_position=12) from exc
    return ApplyOutcome(patient=patient, note=f"Letter {outcome.outcome}")


def txa_shift(txa: Segment, sending_application: str) -> int:
    """1 when the sender writes TXA one field early from TXA-11 on (its document number in TXA-11, the parent's in
    TXA-12, the completion status in TXA-16), as some document systems do; 0 for the standard layout.

    Told apart without guessing from a value's shape: TXA-12 is empty and TXA-11, which should be the
    transcriptionist, is an identifier whose namespace (component 2) is the sending application itself (MSH-3), as a
    document number from that system is. A transcriptionist's name never carries it.
    """
    if txa.value(12) or not txa.value(11) or not sending_application:
        return 0
    return 1 if txa.value(11, 2).upper() == sending_application.upper() else 0


def _document_id(txa: Segment, event: str, *, shift: int = 0) -> str:
    own = txa.value(12 - shift)
    parent = txa.value(13 - shift)
    document_id = parent if event in ("T10", "T11") and parent else own
    if not document_id:
        raise ApplyError(
            "TXA-12: the unique document number is missing",
            code=ERR_REQUIRED_FIELD_MISSING,
            segment=txa,
            field_position=12,
        )
    return document_id


def _first_document(segments: list[Segment]) -> Segment | None:
    return next((s for s in segments if s.name == "OBX"), None)


def _document_content(segments: list[Segment]) -> bytes:
    """The PDF from OBX-5 (value type ED). A document split over several OBX segments is joined in order."""
    documents = [s for s in segments if s.name == "OBX" and s.value(2).upper() == "ED"]
    if not documents:
        first = _first_document(segments)
        raise ApplyError(
            "OBX: no OBX segment of value type ED carries the document",
            kind=ErrorKind.INVALID_DOCUMENT,
            code=ERR_REQUIRED_FIELD_MISSING if first is None else ERR_TABLE_VALUE_NOT_FOUND,
            segment=first,
            field_position=2 if first is not None else None,
        )
    parts: list[str] = []
    for obx in documents:
        rep = next(iter(obx.repetitions(5)), None)
        if rep is None or not rep.raw(5):
            raise ApplyError(
                "OBX-5: the document is empty",
                kind=ErrorKind.INVALID_DOCUMENT,
                code=ERR_REQUIRED_FIELD_MISSING,
                segment=obx,
                field_position=5,
            )
        subtype, encoding = rep.value(3).upper(), rep.value(4).upper()
        if subtype and subtype not in PDF_SUBTYPES:
            raise ApplyError(
                "OBX-5: the document is not a PDF (component 3 names another type)",
                kind=ErrorKind.INVALID_DOCUMENT,
                segment=obx,
                field_position=5,
            )
        if encoding != "BASE64":
            raise ApplyError(
                "OBX-5: CarePortal accepts documents encoded as Base64 only (component 4)",
                kind=ErrorKind.INVALID_DOCUMENT,
                segment=obx,
                field_position=5,
            )
        # Base64 has no characters HL7 escapes, so the raw component is the data as sent.
        parts.append(rep.value(5))
    try:
        return decode_base64("".join(parts))
    except ValueError as exc:
        raise ApplyError(
            "OBX-5: the document is not valid Base64",
            kind=ErrorKind.INVALID_DOCUMENT,
            segment=documents[0],
            field_position=5,
        ) from exc


def _letter_data(
    ctx: ApplyContext,
    txa: Segment,
    segments: list[Segment],
    *,
    document_id: str,
    version_at: datetime.datetime,
    shift: int = 0,
) -> LetterData:
    status = txa.value(17 - shift).upper()
    if status not in FINISHED:
        raise ApplyError(
            "TXA-17: only an authenticated document (AU or LA) is shown to patients",
            code=ERR_TABLE_VALUE_NOT_FOUND,
            segment=txa,
            field_position=17,
        )
    content = _document_content(segments)
    author = next(iter(txa.repetitions(5)), None) or next(iter(txa.repetitions(9)), None)
    pv1 = ctx.message.first("PV1")
    letter_date = (
        timestamp(txa, 4, "activity date and time")
        or timestamp(txa, 6, "origination date and time")
        or ctx.message_time
    )
    return LetterData(
        source=LetterSource.HL7,
        source_system=ctx.header.sending_application,
        document_id=document_id,
        document_type=name_case(txa.value(2, 2)) if txa.value(2, 2) else (txa.value(2, 1) or "Letter"),
        document_type_code=txa.value(2, 1),
        letter_date=letter_date,
        version_at=version_at,
        content=content,
        author=clinician_name(author) if author else "",
        author_code=author.value(1) if author else "",
        service=pv1.value(10) if pv1 else "",
        location=pv1.value(3) if pv1 else "",
    )
