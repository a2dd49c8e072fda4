"""Applying many HL7 messages at once: the same outcome, row for row, as `message_receive` one message after another,
in a fraction of the queries. Used by `manage.py hl7_import` (backfill) and by workers that apply messages stored
before they were applied.

How (docs/hl7.md, "Backfill speed and batching"):

- every message is parsed once, and checked in the order it arrived with the one-by-one checks (services.py
  `_receive_checks`); what earlier copies of each message exist is read for the whole batch in one query, and the
  messages before it in the batch are added as they are settled;
- the patients the batch's PID segments name and the reports its OBR segments name are read in one query each;
  release rules, bank holidays and result routing are read once per batch (`cache`), not once per message;
- a result message (ORU^R01) that only brings new reports for a patient matched without doubt is applied in memory,
  and its reports, values, history entries, care relationships and journal rows are written with one bulk INSERT
  per table when the batch ends (or before the next message that is not applied that way);
- anything else (an update or correction of a report, a report the batch already holds, an unknown patient, a
  merged record, an NHS number to check against another record, a message that fails a check, another message
  type, a message an earlier copy of which waits in the queue) goes through the one-by-one path (`_receive_parsed`),
  after what is pending has been written whenever it could see any of it (another message type, or a result message
  naming a pending order or control id), so it sees every earlier message of the batch as it would have one by one.
  Messages are thus applied with the outcome of the order they arrived in, and a patient's messages in their order.

A message that cannot be applied spoils nothing: the one-by-one path applies it in a savepoint and stores it for
the unmatched queue with its reason. If a bulk INSERT fails (another connection created the same report at the same
moment), the pending messages are applied again one by one.
"""

from __future__ import annotations

import copy
import datetime
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from careportal.core.bulk_sql import insert_instances, update_instances
from careportal.hl7 import services
from careportal.hl7.handlers import (
    ApplyContext,
    ApplyError,
    check_hospital_number,
    check_nhs_number,
    handler_for,
    oru,
    pid_identifiers,
)
from careportal.hl7.models import InboundMessage, MessageStatus
from careportal.hl7.parsing import MalformedMessage, MessageHeader, ParsedMessage, content_hash, parse_message
from careportal.patients.models import CareRelationship, CareRelationshipReason, Patient
from careportal.results.ingest import (
    UPDATE_FIELDS,
    ObservationData,
    ReportData,
    _fit,
    _snapshot,
    _status_note,
    _store_attachments,
    care_team_routed,
    is_older,
    observation_rows,
    report_change,
    report_new,
    version_row,
)
from careportal.results.models import (
    DiagnosticReport,
    DiagnosticReportVersion,
    Observation,
    ReportAction,
    ReportActionKind,
    ReportStatus,
)
from careportal.results.services import SYSTEM_ACTOR_NAME

# Fields a stored row gets when it is settled (the others it had when it was stored).
_SETTLED_FIELDS = (
    "status",
    "ack_code",
    "error_kind",
    "error_text",
    "patient",
    "applied_at",
    "control_id_reused",
    "content_hash",
    "control_id",
    "message_type",
    "sending_application",
    "sending_facility",
    "hl7_version",
)
BATCH_SIZE = 500


@dataclass(frozen=True)
class MessageOutcome:
    """What became of one message: its status and the ACK code and text the sender is (or would have been) told."""

    status: str
    ack_code: str
    text: str
    bulk: bool = False  # applied in memory and written with the batch's bulk INSERTs


@dataclass
class BatchResult:
    outcomes: list[MessageOutcome] = field(default_factory=list)

    @property
    def bulk_applied(self) -> int:
        return sum(1 for o in self.outcomes if o.bulk)


@dataclass
class _Slot:
    record: InboundMessage
    raw: bytes
    parsed: ParsedMessage | None = None
    header: MessageHeader | None = None
    unreadable: services._Outcome | None = None
    fields: dict[str, str] = field(default_factory=dict)
    stored: bool = False  # a row saved before it was applied: updated in place


# The statuses whose later versions the batch applies itself; a cancelled report (or a cancellation) goes one by
# one, as does any status not listed.
_BATCHED_STATUSES = frozenset(
    {
        ReportStatus.REGISTERED,
        ReportStatus.PARTIAL,
        ReportStatus.PRELIMINARY,
        ReportStatus.FINAL,
        ReportStatus.CORRECTED,
    }
)


@dataclass
class _Tracked:
    """A report as the batch knows it: read with the batch (locked, as report_apply locks it) or created by it,
    with its current values as `_current_snapshot` would read them, and what is still to be written."""

    report: DiagnosticReport
    # The snapshot of its values; worked out from `observations` only when a later version needs it.
    current: list[dict[str, Any]] | None
    new: bool = False  # to be INSERTed
    changed: bool = False  # to be UPDATEd (its UPDATE_FIELDS)
    # Its values when the batch brought them (None when read from the database), and whether they are to be written.
    observations: list[ObservationData] | None = None
    values_pending: bool = False

    def snapshot(self) -> list[dict[str, Any]]:
        if self.current is None:
            self.current = [_snapshot_stored(row) for row in observation_rows(self.report, self.observations or [])]
        return self.current


_Key = tuple[str, str, str]  # sending application, facility, control id


class _Batch:
    def __init__(self, slots: list[_Slot]) -> None:
        self.slots = slots
        # Release rules, bank holidays (careportal/results/ingest.py) and routing: read once per batch.
        self.cache: dict[Any, Any] = {}
        self.copies: dict[_Key, list[services._Row]] = defaultdict(list)
        self.patients: dict[str, Patient | None] | None = None
        self.reports: set[tuple[str, str]] | None = None
        # The reports the batch may apply later versions to itself, by (source system, filler order number).
        self.tracked: dict[tuple[str, str], _Tracked] = {}
        self.pending_slots: list[tuple[_Slot, services._Outcome, bool]] = []
        self.pending_reports: list[_Tracked] = []  # in the order they were first touched
        self.pending_versions: list[DiagnosticReportVersion] = []
        self.pending_actions: list[ReportAction] = []
        self.pending_relationships: set[tuple[int, int]] = set()
        # What the pending rows name: a message applied one by one that names none of it need not wait for them.
        self.pending_orders: set[tuple[str, str]] = set()
        self.pending_controls: set[_Key] = set()

    # --- reads for the whole batch ------------------------------------------------------------------------------

    def read_copies(self) -> None:
        """Earlier copies of every message in the batch, in one query (services._earlier_copies does one per
        message)."""
        control_ids = {slot.fields["control_id"] for slot in self.slots if slot.parsed is not None}
        found = list(
            InboundMessage.objects.filter(control_id__in=control_ids, status__in=services._EARLIER_STATUSES)
            .order_by()
            .values_list(
                "sending_application", "sending_facility", "control_id", "pk", "status", "resolved_at", "content_hash"
            )
        )
        rows: list[services._Row] = [(pk, status, resolved, digest) for _, _, _, pk, status, resolved, digest in found]
        if any(not row[3] for row in rows):
            rows = services._with_hashes(rows)  # as services._earlier_copies: once for a row without a hash
        for (application, facility, control_id, *_), row in zip(found, rows, strict=True):
            self.copies[(application, facility, control_id)].append(row)

    def earlier(self, fields: dict[str, str]) -> services._EarlierCopies:
        """services._earlier_copies, from what the batch read and what it settled since."""
        rows = self.copies.get((fields["sending_application"], fields["sending_facility"], fields["control_id"]), [])
        mine = fields["content_hash"]
        applied = {digest for _, status, _, digest in rows if status == MessageStatus.APPLIED}
        return services._EarlierCopies(
            applied=mine in applied,
            applied_other=bool(applied) and mine not in applied,
            waiting=any(
                status == MessageStatus.ERROR and resolved is None and digest == mine
                for _, status, resolved, digest in rows
            ),
        )

    def settled(self, slot: _Slot, status: str, *, pending: bool) -> None:
        f = slot.fields
        if pending:
            self.pending_controls.add((f["sending_application"], f["sending_facility"], f["control_id"]))
        if status in services._EARLIER_STATUSES:
            self.copies[(f["sending_application"], f["sending_facility"], f["control_id"])].append(
                (slot.record.pk or 0, status, None, f["content_hash"])
            )

    @property
    def known_reports(self) -> set[tuple[str, str]]:
        return self.reports if self.reports is not None else set()

    def read_patients_and_reports(self, start: int) -> tuple[dict[str, Patient | None], set[tuple[str, str]]]:
        """The patients named by hospital number and the reports named by order number in the messages from
        `start` on, in one query each; read again only after a message applied one by one may have changed them."""
        if self.patients is not None and self.reports is not None:
            return self.patients, self.reports
        numbers: set[str] = set()
        fillers: set[str] = set()
        for slot in self.slots[start:]:
            if slot.parsed is None or handler_for(slot.parsed.header) is not oru.apply_oru:
                continue
            for segment in slot.parsed.segments:
                if segment.name == "PID":
                    numbers.add(pid_identifiers(segment).hospital_number)
                    for rep in segment.repetitions(3):
                        numbers.add(rep.value(1))
                elif segment.name == "OBR":
                    fillers.add(_fit(DiagnosticReport, "filler_order_number", segment.value(3) or segment.value(2)))
        numbers.discard("")
        if self.patients is None:
            self.patients = dict.fromkeys(numbers)
            for patient in Patient.objects.filter(hospital_number__in=numbers).order_by():
                self.patients[patient.hospital_number] = patient
        # Whole rows, locked as report_apply locks each (the release job skips them, a clinician's action waits):
        # a later version of one of them is applied in memory from this read (see `plan`).
        found = list(DiagnosticReport.objects.select_for_update().filter(filler_order_number__in=fillers).order_by())
        self.reports = {(report.source_system, report.filler_order_number) for report in found}
        current: dict[int, list[dict[str, Any]]] = {report.pk: [] for report in found}
        if found:
            for observation in Observation.objects.filter(report_id__in=list(current)).order_by(
                "report_id", "sequence"
            ):
                current[observation.report_id].append(_snapshot(observation))
        self.tracked = {
            (report.source_system, report.filler_order_number): _Tracked(report=report, current=current[report.pk])
            for report in found
        }
        return self.patients, self.reports

    # --- the fast path ------------------------------------------------------------------------------------------

    def plan(self, ctx: ApplyContext, index: int) -> list[tuple[Patient, ReportData, _Tracked | None]] | None:
        """The reports a result message brings, each with its patient and, for a later version of a report the
        batch knows, that report; when it can be applied in memory with the same outcome as one by one. None
        otherwise (the one-by-one path then applies it, or says why not)."""
        patients, reports = self.read_patients_and_reports(index)
        try:
            groups = oru.order_groups(ctx.message.segments)
            planned: list[tuple[Patient, ReportData, _Tracked | None]] = []
            keys: set[tuple[str, str]] = set()
            for group in groups:
                if group.pid is None:
                    return None
                patient = self._patient(patients, group.pid, ctx.hospital_number_authority)
                if patient is None:
                    return None
                data = oru.report_data(group, ctx)
                key = (
                    _fit(DiagnosticReport, "source_system", data.source_system),
                    _fit(DiagnosticReport, "filler_order_number", data.filler_order_number),
                )
                if key in keys:
                    return None  # two versions of one report in one message: one by one
                keys.add(key)
                tracked = None
                if key in reports:
                    tracked = self.tracked.get(key)
                    if tracked is None or not _later_version_batched(tracked, patient, data):
                        return None  # see _later_version_batched: one by one
                planned.append((patient, data, tracked))
        except ApplyError:
            return None  # the one-by-one path raises it again, with the same reason
        return planned or None

    def _patient(self, patients: dict[str, Patient | None], pid: Any, authority: str | None) -> Patient | None:
        """handlers.patient_match for a patient found without doubt: known hospital number, not merged, and the
        NHS number (when sent) the one on the record. Anything else is left to patient_match."""
        ids = pid_identifiers(pid, authority=authority)
        check_hospital_number(ids.hospital_number, pid)
        check_nhs_number(ids.nhs_number, pid)
        if ids.hospital_number not in patients:
            # Not read with the batch (an identifier the batch did not expect): patient_match reads it.
            return None
        patient = patients[ids.hospital_number]
        if patient is None or patient.merged_into_id is not None:
            return None
        if ids.nhs_number and patient.nhs_number != ids.nhs_number:
            return None
        return patient

    def add(
        self,
        slot: _Slot,
        planned: list[tuple[Patient, ReportData, _Tracked | None]],
        received_at: datetime.datetime,
    ) -> None:
        for patient, data, tracked in planned:
            if tracked is None:
                self._create(patient, data, received_at)
            else:
                self._change(tracked, data, received_at)

    def _create(self, patient: Patient, data: ReportData, received_at: datetime.datetime) -> None:
        """ingest._create in memory."""
        team = self._care_team(data)
        report = report_new(patient=patient, data=data, received_at=received_at, cache=self.cache, care_team_id=team)
        key = (report.source_system, report.filler_order_number)
        self.known_reports.add(key)
        new = _Tracked(report=report, current=None, new=True, observations=data.observations, values_pending=True)
        self.pending_reports.append(new)
        if not any(obs.attachment_data is not None for obs in data.observations):
            # A snapshot of a value with a document names the file, stored only when the batch is written: a later
            # version of such a report goes one by one, after the flush.
            self.tracked[key] = new
        self.pending_orders.add(key)
        self.pending_actions.append(_action(report, ReportActionKind.ARRIVED, _status_note(report.status), received_at))
        if team is not None:
            self.pending_relationships.add((patient.pk, team))

    def _change(self, tracked: _Tracked, data: ReportData, received_at: datetime.datetime) -> None:
        """ingest._update in memory, by the same rules (report_change) on the report as the batch knows it."""
        report = tracked.report
        change = report_change(
            report=report, current=tracked.snapshot(), data=data, received_at=received_at, cache=self.cache
        )
        key = (report.source_system, report.filler_order_number)
        self.pending_orders.add(key)
        if change.version is not None:
            self.pending_versions.append(version_row(**change.version))
            # auto_now, as report.save() would set it.
            report.updated_at = timezone.now()
            tracked.current, tracked.observations, tracked.values_pending = None, data.observations, True
            if not tracked.new and not tracked.changed:
                tracked.changed = True
                self.pending_reports.append(tracked)
        self.pending_actions.append(_action(report, ReportActionKind.UPDATED, change.note, received_at))

    def must_flush_before(self, slot: _Slot) -> bool:
        """Whether the one-by-one path must see the pending rows before it applies this message: always, but for a
        result message that names none of their orders and none of their control ids (it reads and writes
        nothing they hold: its care relationship is inserted with ON CONFLICT DO NOTHING, as the batch's are)."""
        if not self.pending_slots:
            return False
        if slot.parsed is None or handler_for(slot.parsed.header) is not oru.apply_oru:
            return True
        f = slot.fields
        if (f["sending_application"], f["sending_facility"], f["control_id"]) in self.pending_controls:
            return True
        return bool(_orders_named(slot.parsed) & self.pending_orders)

    def _care_team(self, data: ReportData) -> int | None:
        key = ("routing", data.service, data.location, data.ordering_clinician_code, data.category)
        if key not in self.cache:
            self.cache[key] = care_team_routed(
                service=data.service,
                location=data.location,
                clinician_code=data.ordering_clinician_code,
                category=data.category,
            )
        return self.cache[key]  # type: ignore[no-any-return]

    # --- writing --------------------------------------------------------------------------------------------------

    def flush(self) -> list[tuple[_Slot, services._Outcome]] | None:
        """Write what is pending with one INSERT per table (Django splits one that has more values than the
        database takes). Returns the pending messages for the one-by-one path when the INSERT failed."""
        if not self.pending_slots:
            return None
        slots, reports, relationships = self.pending_slots, self.pending_reports, self.pending_relationships
        versions, actions = self.pending_versions, self.pending_actions
        self.pending_slots, self.pending_reports, self.pending_relationships = [], [], set()
        self.pending_versions, self.pending_actions = [], []
        self.pending_orders, self.pending_controls = set(), set()
        try:
            with transaction.atomic():
                self._write(slots, reports, versions, actions, relationships)
        except IntegrityError:
            # Another connection created one of these reports (or applied one of these messages) meanwhile: the
            # savepoint undid the writes, and the messages go the one-by-one way, which sees that connection's rows
            # (and reads the reports again: the ones changed in memory no longer say what is stored).
            for tracked in reports:
                if tracked.new:
                    tracked.report.pk, tracked.report._state.adding = None, True
            for slot, _, _ in slots:
                if not slot.stored:
                    slot.record.pk, slot.record._state.adding = None, True
            self.reports, self.tracked = None, {}
            return [(slot, outcome) for slot, outcome, _ in slots]
        for tracked in reports:
            tracked.new = tracked.changed = tracked.values_pending = False
        return None

    def _write(
        self,
        slots: list[tuple[_Slot, services._Outcome, bool]],
        reports: list[_Tracked],
        versions: list[DiagnosticReportVersion],
        actions: list[ReportAction],
        relationships: set[tuple[int, int]],
    ) -> None:
        if reports:
            # The observations name their report by the id the INSERT returns (PostgreSQL, SQLite 3.35 and later).
            if not connection.features.can_return_rows_from_bulk_insert:
                raise NotImplementedError("Applying in batches needs PostgreSQL, or SQLite 3.35 or later")
            for tracked in reports:
                _store_attachments(tracked.observations or [])
            # insert_instances, not bulk_create: the same rows, without the ORM's per-value preparation and
            # client-side array quoting that cost more than the INSERTs (careportal/core/bulk_sql.py).
            insert_instances([tracked.report for tracked in reports if tracked.new])
            changed = [tracked.report for tracked in reports if not tracked.new]
            if changed:
                # A later version: the fields ingest._update saves, and its values replace the stored ones.
                update_instances(changed, UPDATE_FIELDS)
                Observation.objects.filter(report_id__in=[report.pk for report in changed]).delete()
            insert_instances(
                [row for tracked in reports for row in observation_rows(tracked.report, tracked.observations or [])]
            )
        insert_instances(versions)
        insert_instances(actions)
        if relationships:
            patients = {p for p, _ in relationships}
            teams = {t for _, t in relationships}
            existing = set(
                CareRelationship.objects.filter(
                    patient_id__in=patients, care_team_id__in=teams, reason=CareRelationshipReason.RESULT
                )
                .order_by()
                .values_list("patient_id", "care_team_id")
            )
            CareRelationship.objects.bulk_create(
                [
                    CareRelationship(patient_id=p, care_team_id=t, reason=CareRelationshipReason.RESULT)
                    for p, t in sorted(relationships - existing)
                ],
                ignore_conflicts=True,
            )
        new_rows: list[InboundMessage] = []
        stored_rows: list[InboundMessage] = []
        for slot, outcome, _ in slots:
            record = self.fill(slot, outcome)
            (stored_rows if slot.stored else new_rows).append(record)
        insert_instances(new_rows)
        if stored_rows:
            InboundMessage.objects.bulk_update(stored_rows, list(_SETTLED_FIELDS))

    def fill(self, slot: _Slot, outcome: services._Outcome) -> InboundMessage:
        record = slot.record
        reused = outcome.error_kind == services.ErrorKind.CONTROL_ID_REUSED
        services._record_fill(
            record,
            raw=slot.raw,
            peer=record.peer,
            source=record.source,
            received_at=record.received_at,
            header=slot.header,
            outcome=outcome,
            digest=slot.fields.get("content_hash") or content_hash(slot.raw),
            control_id_reused=reused,
        )
        return record


def messages_apply_in_batch(messages: Sequence[InboundMessage]) -> BatchResult:
    """Apply `messages`, oldest first, with the same outcome as `message_receive` for each in turn (see the module
    docstring). Each message is an InboundMessage with `raw`, `peer`, `source` and `received_at` set: a row stored
    before it was applied (it is updated in place) or one not saved yet (it is inserted). On return every row is
    saved with its status, ACK code and error fields; a message that could not be applied waits in the unmatched
    queue with its reason. One transaction: a database error undoes the whole batch (and is raised)."""
    slots = [_slot(message) for message in messages]
    result = BatchResult()
    if not slots:
        return result
    with transaction.atomic():
        batch = _Batch(slots)
        batch.read_copies()
        outcomes: list[MessageOutcome | None] = [None] * len(slots)
        positions = {id(slot): i for i, slot in enumerate(slots)}
        for index, slot in enumerate(slots):
            outcomes[index] = _one(batch, slot, index)
        failed = batch.flush()
        if failed:
            for slot, _ in failed:
                outcomes[positions[id(slot)]] = _one_by_one(batch, slot)
    result.outcomes = [o for o in outcomes if o is not None]
    return result


def _slot(message: InboundMessage) -> _Slot:
    raw = bytes(message.raw)
    slot = _Slot(record=message, raw=raw)
    slot.stored = not message._state.adding
    try:
        slot.parsed = parse_message(raw)
    except MalformedMessage as exc:
        slot.header, slot.unreadable = exc.header, services._unreadable(exc)
    except Exception:
        slot.header = services._safe_header(raw)
        slot.unreadable = services._internal_error(slot.header)
    else:
        slot.header = slot.parsed.header
        slot.fields.update(services._header_fields(slot.header))
    slot.fields["content_hash"] = content_hash(raw)
    return slot


def _one(batch: _Batch, slot: _Slot, index: int) -> MessageOutcome:
    record = slot.record
    if slot.unreadable is not None or slot.parsed is None:
        unreadable = slot.unreadable or services._internal_error(slot.header)
        batch.pending_slots.append((slot, unreadable, False))
        return _outcome(unreadable)
    header = slot.parsed.header
    checked = services._receive_checks(
        header, peer=record.peer, source=record.source, earlier_copies=lambda: batch.earlier(slot.fields)
    )
    if checked.outcome is not None:
        batch.pending_slots.append((slot, checked.outcome, False))
        batch.settled(slot, checked.outcome.status, pending=True)
        return _outcome(checked.outcome)
    if handler_for(header) is oru.apply_oru and not checked.reused and not checked.earlier.waiting:
        ctx = ApplyContext(
            message=slot.parsed,
            received_at=record.received_at,
            hospital_number_authority=checked.rule.hospital_number_authority if checked.rule else "",
            cache=batch.cache,
        )
        planned = batch.plan(ctx, index)
        if planned is not None:
            batch.add(slot, planned, record.received_at)
            outcome = services._Outcome(
                status=MessageStatus.APPLIED, ack_code="AA", text="Applied", patient=planned[0][0]
            )
            batch.pending_slots.append((slot, outcome, True))
            batch.settled(slot, MessageStatus.APPLIED, pending=True)
            return MessageOutcome(status=MessageStatus.APPLIED, ack_code="AA", text="Applied", bulk=True)
    if batch.must_flush_before(slot):
        for earlier_slot, _ in batch.flush() or []:
            _one_by_one(batch, earlier_slot)
    return _one_by_one(batch, slot)


def _one_by_one(batch: _Batch, slot: _Slot) -> MessageOutcome:
    """`message_receive`'s path for one message, on its row; what it changed is then read again by the batch."""
    record = slot.record
    if slot.unreadable is not None or slot.parsed is None:
        unreadable = slot.unreadable or services._internal_error(slot.header)
        batch.fill(slot, unreadable).save()
        return _outcome(unreadable)
    outcome, _ = services._receive_parsed(
        message=slot.parsed,
        raw=slot.raw,
        peer=record.peer,
        source=record.source,
        received_at=record.received_at,
        record=record,
    )
    batch.settled(slot, outcome.status, pending=False)
    if handler_for(slot.parsed.header) is not oru.apply_oru:
        # Patient registrations and merges (ADT) change who the next messages name: read again when needed.
        batch.patients, batch.reports, batch.tracked = None, None, {}
    else:
        named = _orders_named(slot.parsed)
        # The reports it changed are no longer as the batch read them: their later versions go one by one too.
        for key in named:
            batch.tracked.pop(key, None)
        if batch.reports is not None:
            # The reports it may have created count as existing (more than it did is safe: those go one by one).
            batch.reports.update(named)
    return _outcome(outcome)


def _later_version_batched(tracked: _Tracked, patient: Patient, data: ReportData) -> bool:
    """Whether the batch applies this later version of a report it knows itself (with report_change, the rules
    ingest._update applies): the same patient, a status it knows on both sides (not cancelled), not older than the
    report (an older version is kept in its history by ingest._keep_older, one by one), and no document among the
    values (stored only when the batch is written)."""
    report = tracked.report
    return (
        report.patient_id == patient.pk
        and report.status in _BATCHED_STATUSES
        and data.status in _BATCHED_STATUSES
        and not is_older(report, data)
        and not any(obs.attachment_data is not None for obs in data.observations)
    )


def _snapshot_stored(row: Observation) -> dict[str, Any]:
    """ingest._snapshot of a value not yet written, as it will read once stored: both databases return times in
    UTC, and the snapshot keeps their text."""
    observed_at = row.observed_at
    if observed_at is not None:
        row = copy.copy(row)
        row.observed_at = observed_at.astimezone(datetime.UTC)
    return _snapshot(row)


def _action(report: DiagnosticReport, kind: str, note: str, at: datetime.datetime) -> ReportAction:
    """results.services.report_action_record, not saved."""
    return ReportAction(report=report, kind=kind, actor=None, actor_name=SYSTEM_ACTOR_NAME, note=note[:500], at=at)


def _orders_named(message: ParsedMessage) -> set[tuple[str, str]]:
    """(source system, filler order number) of every OBR, as the report columns keep them."""
    source = _fit(DiagnosticReport, "source_system", message.header.sending_application)
    return {
        (source, _fit(DiagnosticReport, "filler_order_number", obr.value(3) or obr.value(2)))
        for obr in message.segments
        if obr.name == "OBR"
    }


def _outcome(outcome: services._Outcome) -> MessageOutcome:
    return MessageOutcome(status=outcome.status, ack_code=outcome.ack_code, text=outcome.text)


def raw_messages_apply(
    raws: Sequence[bytes], *, peer: str, source: str, batch_size: int = BATCH_SIZE
) -> list[MessageOutcome]:
    """Receive raw messages as `message_receive` would each, `batch_size` at a time (for `manage.py hl7_import`)."""
    outcomes: list[MessageOutcome] = []
    for start in range(0, len(raws), batch_size):
        chunk = [
            InboundMessage(raw=bytes(raw), peer=peer, source=source, received_at=timezone.now())
            for raw in raws[start : start + batch_size]
        ]
        outcomes += messages_apply_in_batch(chunk).outcomes
    return outcomes
