"""Receiving HL7 v2 messages: store every message raw, apply it, commit, and only then acknowledge.

The listener (MLLP) and the batch import call `message_receive` once per message; staff call `message_replay` and
`message_dismiss` from the unmatched-messages queue. What a sender is told:

- AA: applied; or already applied before (the same control id from the same sender with the same content, see
  `content_hash`: stored as DUPLICATE and not applied again); or a message type CarePortal stores without applying
  yet (SIU, MDM…: IGNORED);
- AE: readable but not applicable as it stands (unknown patient, identifiers naming different patients, an invalid
  NHS number or value…): stored as ERROR, waiting in the queue with the reason, which MSA-3 and ERR-8 repeat;
- a control id the sender used before for a message with other content (an engine's counter reset after a
  restart, or a mix-up) is never taken for a duplicate: by HL7_CONTROL_ID_REUSE it is applied as the new message it
  is (AA, saying so in MSA-3) or answered AE; either way it is stored with `control_id_reused` and listed in the
  unmatched queue for staff to check;
- AR: not a message we can identify (no or broken MSH, not text in its character set, not HL7 version 2, or a
  message type HL7 does not define), or one CarePortal refuses from this sender: no active inbound interface for
  its MSH-3/MSH-4, a message type that interface does not allow, or (over MLLP) an address outside its networks
  (careportal/hl7/interfaces.py). Stored as REJECTED, nothing applied. AR, not AE, because the refusal has nothing
  to do with the message's content (HL7 table 0008): the same message sent again is refused again until an
  integration administrator configures the interface.

Durability: the ACK is built only after the transaction that stored the message has committed. If storing fails
(the database is down), the exception reaches the caller and no ACK is sent, so the sender sends it again.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.db.models import QuerySet
from django.utils import timezone

from careportal.accounts.models import User
from careportal.audit.models import AccessAction, ActorRole
from careportal.core.bulk_sql import PreparedInsert
from careportal.hl7.ack import AckError, ack_build
from careportal.hl7.handlers import (
    ApplyContext,
    ApplyError,
    ApplyOutcome,
    handler_for,
    is_known_message_type,
)
from careportal.hl7.interfaces import InterfaceRule, Refusal, interface_check, interface_for
from careportal.hl7.models import (
    INTERFACE_REFUSALS,
    AckMode,
    ErrorKind,
    InboundArrival,
    InboundMessage,
    MessageSource,
    MessageStatus,
)
from careportal.hl7.parsing import (
    ERR_APPLICATION,
    ERR_DUPLICATE_KEY,
    ERR_UNSUPPORTED_MESSAGE_TYPE,
    MalformedMessage,
    MessageHeader,
    ParsedMessage,
    content_hash,
    parse_message,
    read_first_header,
    read_header,
)
from careportal.hl7.parsing import _check_header as check_header
from careportal.patients.models import Patient

logger = structlog.get_logger(__name__)

INTERNAL_ERROR_TEXT = (
    "CarePortal could not apply this message because of an internal error; it is kept for staff to look at"
)
REPLAY_AUDIT_LABEL = "a message from a hospital system, matched to your record by staff"
# MSA-3 holds 80 characters: short, and each says what happened.
REUSE_APPLIED_TEXT = "Applied; MSH-10 was used before for a different message: staff will check"
REUSE_ERROR_TEXT = "MSH-10 was used before for a different message: kept for staff, not applied"
REUSE_CHECKED_NOTE = "Matched to a patient by staff and applied"


class MessageNotReplayed(ValueError):
    """Staff asked to replay a message that still cannot be applied, or that is not waiting; the reason is readable
    (field positions, never values)."""


class _AppliedMeanwhile(Exception):
    """The same message was applied by another connection while we applied it (hl7_applied_once)."""


@dataclass
class _Outcome:
    status: MessageStatus
    ack_code: str
    text: str
    error_kind: str = ""
    error: AckError | None = None
    patient: Patient | None = None


_NOT_PRINTABLE = dict.fromkeys(range(32)) | {0x7F: None}


def _clean(value: str, length: int) -> str:
    """MSH values for the stored row: no control characters (PostgreSQL refuses NUL), cut to the column."""
    return value.translate(_NOT_PRINTABLE)[:length]


def _header_fields(header: MessageHeader | None) -> dict[str, str]:
    h = header or MessageHeader()
    return {
        "control_id": _clean(h.control_id, 60),
        "message_type": _clean(h.message_type, 20),
        "sending_application": _clean(h.sending_application, 60),
        "sending_facility": _clean(h.sending_facility, 60),
        "hl7_version": _clean(h.version, 10),
    }


def _same_message(fields: dict[str, str]) -> QuerySet[InboundMessage]:
    # No ORDER BY (the model orders by received_at): these reads only ask what exists. Served by
    # hl7_control_id_idx (sending_application, control_id).
    return InboundMessage.objects.filter(
        sending_application=fields["sending_application"],
        sending_facility=fields["sending_facility"],
        control_id=fields["control_id"],
    ).order_by()


def _already_applied(fields: dict[str, str]) -> bool:
    """Whether this message (same sender, control id and content) was applied. Served by hl7_applied_once."""
    return _same_message(fields).filter(status=MessageStatus.APPLIED, content_hash=fields["content_hash"]).exists()


def _any_applied(fields: dict[str, str]) -> bool:
    """Whether any message was applied under this sender's control id, whatever its content."""
    return _same_message(fields).filter(status=MessageStatus.APPLIED).exists()


_EARLIER_STATUSES = (MessageStatus.APPLIED, MessageStatus.ERROR)


@dataclass(frozen=True)
class _EarlierCopies:
    applied: bool = False  # this message, with this content, was applied before: a duplicate
    applied_other: bool = False  # only messages with other content were applied under this control id: a reuse
    waiting: bool = False  # a copy with this content failed before and still waits in the queue


def _earlier_copies(fields: dict[str, str]) -> _EarlierCopies:
    """In one query: whether this message was applied before, whether another message was applied under the same
    control id, and whether an earlier copy of this one waits in the queue.

    This runs once for every message received, so it is kept cheap to build: a plain IN instead of an OR of
    conditions (Django spends longer compiling the OR than the database spends answering), and the few copies
    a sender may have sent are sorted out here. A row without a hash (never given one: migration 0002 fills
    them all) gets it computed from its raw bytes here, by a second query that then never runs for it again."""
    rows = list(
        _same_message(fields)
        .filter(status__in=_EARLIER_STATUSES)
        .values_list("pk", "status", "resolved_at", "content_hash")
    )
    if any(not digest for _, _, _, digest in rows):
        rows = _with_hashes(rows)
    mine = fields["content_hash"]
    applied = {digest for _, status, _, digest in rows if status == MessageStatus.APPLIED}
    return _EarlierCopies(
        applied=mine in applied,
        applied_other=bool(applied) and mine not in applied,
        waiting=any(
            status == MessageStatus.ERROR and resolved is None and digest == mine
            for _, status, resolved, digest in rows
        ),
    )


_Row = tuple[int, str, datetime.datetime | None, str]


def _with_hashes(rows: list[_Row]) -> list[_Row]:
    unknown = [pk for pk, _, _, digest in rows if not digest]
    found = {
        pk: content_hash(bytes(raw))
        for pk, raw in InboundMessage.objects.filter(pk__in=unknown).order_by().values_list("pk", "raw")
    }
    InboundMessage.objects.bulk_update(
        [InboundMessage(pk=pk, content_hash=digest) for pk, digest in found.items()], ["content_hash"]
    )
    return [(pk, status, resolved, digest or found.get(pk, "")) for pk, status, resolved, digest in rows]


def _error_from(exc: ApplyError) -> AckError:
    return AckError(
        code=exc.code,
        text=exc.text,
        segment=exc.segment_name,
        sequence=exc.segment_position,
        field=exc.field_position,
    )


def _store(
    *,
    raw: bytes,
    peer: str,
    source: str,
    received_at: datetime.datetime,
    header: MessageHeader | None,
    outcome: _Outcome,
    replay_of: InboundMessage | None = None,
    digest: str | None = None,
    control_id_reused: bool = False,
    record: InboundMessage | None = None,
) -> InboundMessage:
    record = _record_fill(
        record or InboundMessage(),
        raw=raw,
        peer=peer,
        source=source,
        received_at=received_at,
        header=header,
        outcome=outcome,
        replay_of=replay_of,
        digest=digest,
        control_id_reused=control_id_reused,
    )
    record.save()
    return record


def _record_fill(
    record: InboundMessage,
    *,
    raw: bytes,
    peer: str,
    source: str,
    received_at: datetime.datetime,
    header: MessageHeader | None,
    outcome: _Outcome,
    replay_of: InboundMessage | None = None,
    digest: str | None = None,
    control_id_reused: bool = False,
) -> InboundMessage:
    """The journal row of a message that was not applied, or is applied now: a new row, or a row stored before it
    was applied (careportal/hl7/bulk_apply.py), which gets the same values. Not saved."""
    record.received_at = received_at
    record.source = source
    record.peer = _clean(peer, 100)
    record.raw = raw
    record.status = outcome.status
    record.ack_code = outcome.ack_code
    record.error_kind = outcome.error_kind
    record.error_text = _clean(outcome.text if outcome.status in _WAITING else "", 500)
    record.patient = outcome.patient
    record.applied_at = timezone.now() if outcome.status == MessageStatus.APPLIED else None
    record.replay_of = replay_of
    record.content_hash = content_hash(raw) if digest is None else digest
    record.control_id_reused = control_id_reused
    for name, value in _header_fields(header).items():
        setattr(record, name, value)
    return record


_WAITING = frozenset({MessageStatus.ERROR, MessageStatus.REJECTED})


def _apply(*, ctx: ApplyContext, fields: dict[str, str], record: InboundMessage, resolve_earlier: bool) -> ApplyOutcome:
    """Apply and store the APPLIED row in one transaction (a savepoint when the caller has one open): if anything
    fails, nothing of the application is left. When the row breaks hl7_applied_once, another connection applied
    the same message first (_AppliedMeanwhile).

    A new `record` is inserted; a row already stored (a STORED message a worker applies, stored_services.py) is
    updated in place to APPLIED, and keeps its earlier status if anything fails."""
    handler = handler_for(ctx.header)
    if handler is None:
        raise AssertionError("callers route message types without a handler elsewhere")
    # A new row is inserted; a row stored before it was applied (after-store mode, a batch) is updated in place.
    new_row = record._state.adding
    status_before = record.status
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                outcome = handler(ctx)
                record.patient = outcome.patient
                record.applied_at = timezone.now()
                record.status = MessageStatus.APPLIED
                record.save(force_insert=new_row)
                if resolve_earlier:
                    _resolve_earlier_failures(fields, record)
                return outcome
        except IntegrityError:
            if new_row:
                record.pk, record._state.adding = None, True
            else:
                record.status, record.patient, record.applied_at = status_before, None, None
            if _already_applied(fields):
                raise _AppliedMeanwhile from None
            # Another connection created the same report or patient at the same moment: now that it has
            # committed, a second try finds its row.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class _Checked:
    """What the checks before applying found: `outcome` when the message is settled without applying it."""

    outcome: _Outcome | None
    rule: InterfaceRule | None = None
    earlier: _EarlierCopies = _EarlierCopies()
    reused: bool = False


_UNSUPPORTED_TEXT = "MSH-9: CarePortal does not accept this message type"


def _receive_checks(
    header: MessageHeader, *, peer: str, source: str, earlier_copies: Callable[[], _EarlierCopies]
) -> _Checked:
    """The checks a readable message passes before it is applied, in order: a type HL7 defines, a sender and type
    its interface accepts, a type CarePortal applies, not applied before (`earlier_copies` is asked only then: the
    database for one message, what a batch read for many), and no control id reuse refused by HL7_CONTROL_ID_REUSE.
    """
    if not is_known_message_type(header):
        return _Checked(
            _Outcome(
                status=MessageStatus.REJECTED,
                ack_code="AR",
                text=_UNSUPPORTED_TEXT,
                error_kind=ErrorKind.UNSUPPORTED,
                error=AckError(
                    code=ERR_UNSUPPORTED_MESSAGE_TYPE, text=_UNSUPPORTED_TEXT, segment="MSH", sequence=1, field=9
                ),
            )
        )
    # A type HL7 defines, from a sender CarePortal may not accept it from (AR, careportal/hl7/interfaces.py).
    rule, refusal = interface_check(header, peer=peer, source=source)
    if refusal is not None:
        return _Checked(_refused(refusal), rule)
    if handler_for(header) is None:
        return _Checked(
            _Outcome(
                status=MessageStatus.IGNORED,
                ack_code="AA",
                text="Accepted and kept: CarePortal does not use this message type yet",
            ),
            rule,
        )
    earlier = earlier_copies()
    if earlier.applied:
        return _Checked(_Outcome(status=MessageStatus.DUPLICATE, ack_code="AA", text="Already applied"), rule, earlier)
    reused = earlier.applied_other
    if reused and settings.HL7_CONTROL_ID_REUSE != "apply":
        return _Checked(_reuse_error(), rule, earlier, reused=True)
    return _Checked(None, rule, earlier, reused)


def _receive_parsed(
    *,
    message: ParsedMessage,
    raw: bytes,
    peer: str,
    source: str,
    received_at: datetime.datetime,
    record: InboundMessage | None = None,
) -> tuple[_Outcome, InboundMessage]:
    """Check and apply a readable message, and store its row: a new one, or `record` (a row stored before it was
    applied), which then gets the same values a new row would."""
    header = message.header
    digest = content_hash(raw)
    fields = {**_header_fields(header), "content_hash": digest}
    stored_before = record is not None and not record._state.adding
    checked = _receive_checks(header, peer=peer, source=source, earlier_copies=lambda: _earlier_copies(fields))
    reused = checked.reused
    if checked.outcome is not None:
        return checked.outcome, _store(
            raw=raw,
            peer=peer,
            source=source,
            received_at=received_at,
            header=header,
            outcome=checked.outcome,
            digest=digest,
            control_id_reused=reused,
            record=record,
        )

    record = _record_fill(
        record or InboundMessage(),
        raw=raw,
        peer=peer,
        source=source,
        received_at=received_at,
        header=header,
        outcome=_Outcome(status=MessageStatus.APPLIED, ack_code="AA", text=""),
        digest=digest,
        control_id_reused=reused,
    )
    record.error_kind = ErrorKind.CONTROL_ID_REUSED if reused else ""
    record.applied_at = None
    ctx = ApplyContext(
        message=message,
        received_at=received_at,
        hospital_number_authority=checked.rule.hospital_number_authority if checked.rule else "",
    )
    try:
        applied = _apply(ctx=ctx, fields=fields, record=record, resolve_earlier=checked.earlier.waiting)
    except _AppliedMeanwhile:
        outcome = _Outcome(status=MessageStatus.DUPLICATE, ack_code="AA", text="Already applied")
    except ApplyError as exc:
        outcome = _Outcome(
            status=MessageStatus.ERROR,
            ack_code="AE",
            text=exc.text,
            error_kind=exc.kind,
            error=_error_from(exc),
        )
    except Exception:
        outcome = _internal_error(header)
    else:
        text = REUSE_APPLIED_TEXT if reused else "Applied"
        return _Outcome(status=MessageStatus.APPLIED, ack_code="AA", text=text, patient=applied.patient), record
    if not stored_before:
        # A new row whose application was undone is stored afresh, not under the id its undone INSERT took.
        record.pk, record._state.adding = None, True
    # A reused control id whose message then failed to apply waits in the queue for its own reason, flagged too.
    return outcome, _store(
        raw=raw,
        peer=peer,
        source=source,
        received_at=received_at,
        header=header,
        outcome=outcome,
        digest=digest,
        control_id_reused=reused and outcome.status != MessageStatus.DUPLICATE,
        record=record,
    )


def _reuse_error() -> _Outcome:
    return _Outcome(
        status=MessageStatus.ERROR,
        ack_code="AE",
        text=REUSE_ERROR_TEXT,
        error_kind=ErrorKind.CONTROL_ID_REUSED,
        error=AckError(code=ERR_DUPLICATE_KEY, text=REUSE_ERROR_TEXT, segment="MSH", sequence=1, field=10),
    )


def _refused(refusal: Refusal) -> _Outcome:
    return _Outcome(
        status=MessageStatus.REJECTED,
        ack_code="AR",
        text=refusal.text,
        error_kind=refusal.kind,
        error=AckError(code=refusal.code, text=refusal.text, segment="MSH", sequence=1, field=refusal.field),
    )


def _internal_error(header: MessageHeader | None) -> _Outcome:
    # The traceback goes to the log without the exception's message (careportal/core/logging.py withholds it):
    # it may quote values from the message.
    logger.exception(
        "hl7_message_apply_failed",
        message_type=(header.message_type if header else "")[:20],
        sending_application=(header.sending_application if header else "")[:60],
    )
    return _Outcome(
        status=MessageStatus.ERROR,
        ack_code="AE",
        text=INTERNAL_ERROR_TEXT,
        error_kind=ErrorKind.INVALID_CONTENT,
        error=AckError(code=ERR_APPLICATION, text=INTERNAL_ERROR_TEXT),
    )


def _resolve_earlier_failures(fields: dict[str, str], record: InboundMessage) -> None:
    """A message that failed before and now applied (the sender sent it again once the patient was registered)
    leaves the queue: staff have nothing left to do for the earlier copy."""
    InboundMessage.objects.filter(
        sending_application=fields["sending_application"],
        sending_facility=fields["sending_facility"],
        control_id=fields["control_id"],
        content_hash=fields["content_hash"],
        status=MessageStatus.ERROR,
        resolved_at__isnull=True,
    ).exclude(pk=record.pk).update(
        resolved_at=record.applied_at, resolution_note="Applied when the sending system sent it again"
    )


# --- Acknowledging after store (AckMode.AFTER_STORE) -------------------------------------------------------------

STORED_TEXT = "Stored: CarePortal will apply it shortly"
_PID = re.compile(rb"(?:^|[\r\n])PID(.)([^\r\n]*)")
PATIENT_KEY_LENGTH = 100


def patient_key(raw: bytes, header: MessageHeader) -> str:
    """Whose record a message is about, as its sender names it: "MSH-3^MSH-4|ID^authority" from the first
    repetition of PID-3, read from the bytes without parsing the message; just the sender when there is no PID. The
    workers keep each key's messages in the order they arrived. A key too long for its column is hashed."""
    key = f"{header.sending_application.upper()}^{header.sending_facility.upper()}|"
    match = _PID.search(raw)
    if match is not None:
        separator = match.group(1)
        fields = match.group(2).split(separator)  # fields[0] is PID-1
        if len(fields) > 2:
            encoding = raw[4:8] if raw[:3] == b"MSH" else b"^~\\&"
            component, repetition = encoding[0:1] or b"^", encoding[1:2] or b"~"
            parts = fields[2].split(repetition)[0].split(component)
            identifier = parts[0].strip()
            authority = parts[3].strip() if len(parts) > 3 else b""
            key += (identifier + b"^" + authority).decode("latin-1").upper()
    if len(key) > PATIENT_KEY_LENGTH:
        key = "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()
    return key


# The most rows one INSERT of `stored_insert` takes (the listener's batches are at most this many messages).
STORED_ROWS_PER_STATEMENT = 25


# Every column of InboundArrival but its id: `stored_prepare` gives each of them, and `_stored_values` lists them in
# this order.
_STORED_INSERT = PreparedInsert(InboundArrival, ["received_at", "source", "peer", "raw", "ack_code"])


def _insert_stored_rows(rows: list[dict[str, Any]]) -> None:
    """INSERT InboundArrival rows, in the order given, in one statement: the after-store path's only query.
    `Model.objects.create` (or `insert_rows`, which looks the fields up again on every call) spends about as long
    building the statement as the database spends storing the rows (bench/bench_mllp.py); `PreparedInsert` builds
    it once per database and row count, and this converts only the value that needs it (the time) as the ORM
    would."""
    _STORED_INSERT.execute(_stored_values(rows))


def _insert_stored(values: dict[str, object]) -> None:
    _insert_stored_rows([values])


def stored_insert_statement(rows: list[dict[str, Any]]) -> tuple[str, list[Any]]:
    """The one INSERT statement (SQL, parameters) that `stored_insert` runs for at most STORED_ROWS_PER_STATEMENT
    rows, for the listener's event loop to run on a connection of its own. Reads nothing."""
    if not 0 < len(rows) <= STORED_ROWS_PER_STATEMENT:
        raise ValueError(f"one statement stores 1 to {STORED_ROWS_PER_STATEMENT} rows, not {len(rows)}")
    return _STORED_INSERT.statement(_stored_values(rows))


def _stored_values(rows: list[dict[str, Any]]) -> list[list[Any]]:
    # The time is the one value to convert (to naive UTC text on SQLite): the backend's own conversion, which the
    # field's get_db_prep_save ends in after checks that a time from timezone.now() does not need.
    adapt_time = connections["default"].ops.adapt_datetimefield_value
    return [[adapt_time(row["received_at"]), row["source"], row["peer"], row["raw"], row["ack_code"]] for row in rows]


def _receive_stored(
    raw: bytes, *, header: MessageHeader, codec: str, peer: str, source: str, received_at: datetime.datetime
) -> bytes | None:
    """After store: check the message as far as its header allows (the interface was checked by the caller), store
    it among the arrivals (InboundArrival) with one INSERT (committed: there is no transaction around it) and return
    its ACK; a worker moves it into the journal and applies it (careportal/hl7/stored_services.py). None for a
    message this path does not take (see `stored_prepare`): the full path answers it as in after-apply mode, so
    refusals stay AR, stored with their reason."""
    prepared = stored_prepare(raw, header=header, codec=codec, peer=peer, source=source, received_at=received_at)
    if prepared is None:
        return None
    _insert_stored(prepared.row)
    stored_wake()
    return prepared.ack


@dataclass(frozen=True)
class StoredPrepared:
    """A message the after-store path takes: its row, ready to INSERT, and the ACK to send once it is committed."""

    row: dict[str, Any]
    ack: bytes


def stored_prepare(
    raw: bytes, *, header: MessageHeader, codec: str, peer: str, source: str, received_at: datetime.datetime
) -> StoredPrepared | None:
    """The after-store checks, without storing: the row of a message that passes them and the ACK it gets once that
    row is committed; None for a message the after-store path does not take (an unreadable or incomplete header, a
    type CarePortal refuses or does not apply, a refusal by the interface, or an interface that acknowledges after
    apply), which the full path (`message_receive`) answers. Reads nothing from the database but the interfaces'
    snapshot. Duplicates are not looked for here: every copy is stored and acknowledged, and the workers apply one
    and mark the others DUPLICATE.

    The ACK is AA in original mode; CA (commit accept) when MSH-15 is present, meaning the sender uses enhanced
    mode. Either way it says the message is safely stored, not that it was applied."""
    try:
        check_header(header, codec)
    except MalformedMessage:
        return None
    if b"\x00" in raw or not is_known_message_type(header) or handler_for(header) is None:
        return None
    rule, refusal = interface_check(header, peer=peer, source=source)
    if refusal is not None or rule is None or rule.ack_mode != AckMode.AFTER_STORE:
        return None
    code = "CA" if header.accept_ack_type else "AA"
    # What cannot be read again from the bytes. The rest of the journal's row is read by the worker that moves the
    # arrival into the journal (`arrival_journal_fields`), while the sender does not wait.
    row = {"received_at": received_at, "source": source, "peer": _clean(peer, 100), "raw": raw, "ack_code": code}
    ack = ack_build(header=header, code=code, text=STORED_TEXT, codec=codec, charset=header.charset)
    return StoredPrepared(row, ack)


def arrival_journal_fields(raw: bytes) -> dict[str, str]:
    """The journal's fields of an arrival (InboundArrival) that are read from its bytes: its header's, its content
    fingerprint and its patient key, read as `stored_prepare` read the header before the ACK (`read_first_header`,
    which gives the same answer for the same bytes). For the worker that moves arrivals into the journal: some
    20 µs a message that the listener's event loop, with senders waiting for their ACKs, no longer spends."""
    quick = read_first_header(raw)
    header = quick[0] if quick is not None else None
    return {
        **_header_fields(header),
        "content_hash": content_hash(raw),
        "patient_key": patient_key(raw, header) if header is not None else "",
    }


def stored_insert(rows: list[dict[str, Any]]) -> None:
    """INSERT the rows of prepared after-store messages (`StoredPrepared.row`) among the arrivals (InboundArrival),
    in the order given, all or none:
    one statement for up to STORED_ROWS_PER_STATEMENT rows, as the listener's group commit sends them. Outside a
    transaction (Django's autocommit) that one statement is its own transaction, so the rows are committed when
    this returns, in one round trip to the database; BEGIN, INSERT and COMMIT would be three, each a wait for the
    database while the senders wait for their ACKs. More rows are split into several statements in one
    transaction. Nothing may be acknowledged before this has returned."""
    if len(rows) <= STORED_ROWS_PER_STATEMENT:
        _insert_stored_rows(rows)
        return
    # A larger batch is split to keep the cache of statements (one per row count) small.
    with transaction.atomic():
        for first in range(0, len(rows), STORED_ROWS_PER_STATEMENT):
            _insert_stored_rows(rows[first : first + STORED_ROWS_PER_STATEMENT])


def stored_wake() -> None:
    """Wake a worker for what was just stored (at most once per HL7_STORED_WAKE_SECONDS in this process)."""
    from careportal.hl7.stored_services import stored_apply_wake

    stored_apply_wake()


def message_receive(raw: bytes, *, peer: str = "", source: str = MessageSource.MLLP) -> bytes:
    """Store the message raw, apply it, commit, and only then return the ACK (an HL7 message, bytes, no MLLP
    framing, segments ending in \\r, encoded in the message's character set).

    From an interface that acknowledges after store, a message that passes the checks is only stored and
    committed before its ACK (`_receive_stored`); workers apply it just after."""
    raw = bytes(raw)
    received_at = timezone.now()
    quick = read_first_header(raw)
    if quick is not None:
        rule = interface_for(quick[0])
        if rule is not None and rule.ack_mode == AckMode.AFTER_STORE:
            stored_ack = _receive_stored(
                raw, header=quick[0], codec=quick[1], peer=peer, source=source, received_at=received_at
            )
            if stored_ack is not None:
                return stored_ack
    header: MessageHeader | None
    codec, charset = "utf-8", ""
    # No transaction around the whole: a rejected or failed message is stored by one INSERT, an applied one in
    # the transaction that applies it. Either way it is committed before the ACK exists.
    try:
        message = parse_message(raw)
    except MalformedMessage as exc:
        header, codec = exc.header, exc.codec
        charset = header.charset if header else ""
        outcome = _unreadable(exc)
        _store(raw=raw, peer=peer, source=source, received_at=received_at, header=header, outcome=outcome)
    except Exception:
        header = _safe_header(raw)
        outcome = _internal_error(header)
        _store(raw=raw, peer=peer, source=source, received_at=received_at, header=header, outcome=outcome)
    else:
        header, codec, charset = message.header, message.encoding.codec, message.charset
        outcome, _ = _receive_parsed(message=message, raw=raw, peer=peer, source=source, received_at=received_at)
    # Committed: only now may the sender be told.
    return ack_build(
        header=header, code=outcome.ack_code, text=outcome.text, error=outcome.error, codec=codec, charset=charset
    )


def _unreadable(exc: MalformedMessage) -> _Outcome:
    segment, sequence, field_position = exc.location or ("", None, None)
    return _Outcome(
        status=MessageStatus.REJECTED,
        ack_code="AR",
        text=exc.reason,
        error_kind=ErrorKind.UNSUPPORTED if exc.unsupported else ErrorKind.MALFORMED,
        error=AckError(code=exc.code, text=exc.reason, segment=segment, sequence=sequence, field=field_position),
    )


def _safe_header(raw: bytes) -> MessageHeader | None:
    try:
        return read_header(raw)
    except Exception:
        return None


def _staff_viewer(user: User):  # type: ignore[no-untyped-def]
    from careportal.access.layer import Viewer

    role = ActorRole.HELPDESK if getattr(user, "is_helpdesk", False) else ActorRole.CLINICIAN
    return Viewer(user=user, role=role)


def is_replayable(message: InboundMessage) -> bool:
    """Waiting in the queue, and read but not applied: either it could not be applied (AE), or it was refused by
    the interface rules (AR), which an integration administrator can change. A message that could not be read at
    all can only be dismissed, and sent again by its system."""
    if message.resolved_at is not None:
        return False
    return message.status == MessageStatus.ERROR or (
        message.status == MessageStatus.REJECTED and message.error_kind in INTERFACE_REFUSALS
    )


@transaction.atomic
def message_replay(*, message: InboundMessage, patient: Patient, by: User) -> InboundMessage:
    """Staff fixed the patient match of a message waiting in the unmatched queue (status ERROR): apply it again for
    this patient. Creates a new InboundMessage(source=REPLAY, replay_of=message); on success marks the original
    REPLAYED + resolved_at/by. Raises a ValueError subclass with a readable message if it still cannot be applied."""
    original = InboundMessage.objects.select_for_update().get(pk=message.pk)
    if not is_replayable(original):
        raise MessageNotReplayed("Only a message waiting in the unmatched queue can be replayed")
    if patient.merged_into_id is not None:
        raise MessageNotReplayed("This patient record was merged into another one: choose the record it became")
    raw = bytes(original.raw)
    try:
        parsed = parse_message(raw)
    except MalformedMessage as exc:
        raise MessageNotReplayed(f"The message cannot be read: {exc.reason}") from exc
    fields = {**_header_fields(parsed.header), "content_hash": original.content_hash or content_hash(raw)}
    # The interface rules apply to a replay as to the message when it arrived (from where it came then), read
    # afresh: a message refused for its sender is replayed only once its interface is configured.
    rule, refusal = interface_check(parsed.header, peer=original.peer, source=original.source, fresh=True)
    if refusal is not None:
        raise MessageNotReplayed(refusal.text.removesuffix("; CarePortal applied nothing"))
    if handler_for(parsed.header) is None:
        raise MessageNotReplayed("CarePortal does not apply this message type")
    # A message that failed and was then sent again under its control id, fixed (its content differs) and applied,
    # must not be applied a second time; only a message flagged for its reused control id is known to be another
    # message than the one applied under it, and is refused only when this very content was applied.
    applied = _already_applied(fields) if original.control_id_reused else _any_applied(fields)
    if applied:
        raise MessageNotReplayed("This message was applied already (the sending system sent it again)")
    now = timezone.now()
    record = InboundMessage(
        received_at=now,
        source=MessageSource.REPLAY,
        peer=original.peer,
        raw=raw,
        status=MessageStatus.APPLIED,
        ack_code="AA",
        replay_of=original,
        # Staff chose to apply it, so a control id reuse it carries counts as checked.
        control_id_reused=original.control_id_reused,
        resolved_at=now if original.control_id_reused else None,
        resolved_by=by if original.control_id_reused else None,
        resolution_note=REUSE_CHECKED_NOTE if original.control_id_reused else "",
        **fields,
    )
    ctx = ApplyContext(
        message=parsed,
        received_at=now,
        patient=patient,
        hospital_number_authority=rule.hospital_number_authority if rule else "",
    )
    try:
        _apply(ctx=ctx, fields=fields, record=record, resolve_earlier=False)
    except ApplyError as exc:
        raise MessageNotReplayed(exc.text) from exc
    except (_AppliedMeanwhile, IntegrityError) as exc:
        raise MessageNotReplayed("This message was applied already (the sending system sent it again)") from exc
    original.status = MessageStatus.REPLAYED
    original.resolved_at = now
    original.resolved_by = by
    original.resolution_note = "Matched to a patient by staff and applied"
    original.save(update_fields=["status", "resolved_at", "resolved_by", "resolution_note"])
    from careportal.audit.services import access_event_record

    access_event_record(
        viewer=_staff_viewer(by),
        patient=patient,
        action=AccessAction.UPDATE,
        object_label=REPLAY_AUDIT_LABEL,
        obj=record,
    )
    return record


@transaction.atomic
def message_reuse_checked(*, message: InboundMessage, by: User, note: str) -> None:
    """Staff checked a message applied under a control id its sender had used for another message (both were
    meant: a counter reset), and it leaves the queue; it stays applied. The note says what they found."""
    note = note.strip()
    if not note:
        raise ValueError("Say what you found when you checked the message")
    original = InboundMessage.objects.select_for_update().get(pk=message.pk)
    if not original.needs_reuse_check:
        raise ValueError("Only an applied message with a reused control id that nobody has checked can be marked")
    original.resolved_at = timezone.now()
    original.resolved_by = by
    original.resolution_note = note[:500]
    original.save(update_fields=["resolved_at", "resolved_by", "resolution_note"])
    message.resolved_at, message.resolved_by, message.resolution_note = (
        original.resolved_at,
        by,
        original.resolution_note,
    )


@transaction.atomic
def message_dismiss(*, message: InboundMessage, by: User, reason: str) -> None:
    """Staff decided a waiting message needs no action (status DISMISSED, resolved, with the reason)."""
    reason = reason.strip()
    if not reason:
        raise ValueError("Give a reason for dismissing the message")
    original = InboundMessage.objects.select_for_update().get(pk=message.pk)
    if original.status not in _WAITING or original.resolved_at is not None:
        raise ValueError("Only a message waiting in the unmatched queue can be dismissed")
    original.status = MessageStatus.DISMISSED
    original.resolved_at = timezone.now()
    original.resolved_by = by
    original.resolution_note = reason[:500]
    original.save(update_fields=["status", "resolved_at", "resolved_by", "resolution_note"])
    message.status, message.resolved_at = original.status, original.resolved_at
    message.resolved_by, message.resolution_note = by, original.resolution_note


# ---------------------------------------------------------------------------------------------------------------
# Messages kept before CarePortal could apply their type


@dataclass(frozen=True)
class StoredApplyResult:
    applied: int = 0
    duplicates: int = 0
    waiting: int = 0  # could not be applied: now in the unmatched queue with the reason


def stored_messages_waiting(message_types: frozenset[str] | None = None) -> QuerySet[InboundMessage]:
    """Messages acknowledged and kept without being applied (IGNORED) whose type CarePortal now applies: appointment
    (SIU) and document (MDM) messages received before those parts existed. Oldest first, the order they arrived."""
    stored = InboundMessage.objects.filter(status=MessageStatus.IGNORED)
    if message_types is not None:
        stored = stored.filter(message_type__in=message_types)
    return stored.order_by("received_at", "pk")


def stored_messages_apply(*, message_types: frozenset[str] | None = None) -> StoredApplyResult:
    """Apply, once and in the order they arrived, the kept messages whose type now has a handler.

    Each message is applied in place, in its own transaction, with the time it was received: its row becomes
    APPLIED (or DUPLICATE, when the sending system sent it again meanwhile and that copy was applied), or ERROR with
    the reason, so that staff find it in the unmatched queue as if it had just failed. The sender was told AA when
    it arrived; it is not told again. Safe to run twice, or on two machines at once: a row is locked while it is
    applied and only IGNORED rows are taken.
    """
    applied = duplicates = waiting = 0
    candidates = stored_messages_waiting(message_types).values_list("pk", flat=True).iterator(chunk_size=500)
    for pk in candidates:
        status = _stored_message_apply(pk)
        if status == MessageStatus.APPLIED:
            applied += 1
        elif status == MessageStatus.DUPLICATE:
            duplicates += 1
        elif status == MessageStatus.ERROR:
            waiting += 1
    if applied or duplicates or waiting:
        logger.info("hl7_stored_messages_applied", applied=applied, duplicates=duplicates, waiting=waiting)
    return StoredApplyResult(applied=applied, duplicates=duplicates, waiting=waiting)


def _stored_message_apply(pk: int) -> MessageStatus | None:
    """Apply one kept message; returns its new status, or None when it is left as it was (another process took it,
    or its type still has no handler)."""
    with transaction.atomic():
        record = (
            InboundMessage.objects.select_for_update(skip_locked=True)
            .filter(pk=pk, status=MessageStatus.IGNORED)
            .first()
        )
        if record is None:
            return None
        raw = bytes(record.raw)
        try:
            parsed = parse_message(raw)
        except MalformedMessage:
            return None  # it was read when it arrived; a parser change that cannot read it leaves it alone
        handler = handler_for(parsed.header)
        if handler is None:
            return None
        fields = {**_header_fields(parsed.header), "content_hash": record.content_hash or content_hash(raw)}
        if _already_applied(fields):
            record.status = MessageStatus.DUPLICATE
            record.save(update_fields=["status"])
            return MessageStatus.DUPLICATE
        rule, _ = interface_check(parsed.header, peer=record.peer, source=record.source, fresh=True)
        ctx = ApplyContext(
            message=parsed,
            received_at=record.received_at,
            hospital_number_authority=rule.hospital_number_authority if rule else "",
        )
        try:
            with transaction.atomic():
                outcome = handler(ctx)
                record.status = MessageStatus.APPLIED
                record.applied_at = timezone.now()
                record.patient = outcome.patient
                record.save(update_fields=["status", "applied_at", "patient"])
        except IntegrityError:
            record.status = MessageStatus.DUPLICATE
        except ApplyError as exc:
            record.status, record.error_kind, record.error_text = MessageStatus.ERROR, exc.kind, _clean(exc.text, 500)
        except Exception:
            failure = _internal_error(parsed.header)
            record.status, record.error_kind, record.error_text = MessageStatus.ERROR, failure.error_kind, failure.text
        if record.status != MessageStatus.APPLIED:
            record.save(update_fields=["status", "error_kind", "error_text"])
        return MessageStatus(record.status)
