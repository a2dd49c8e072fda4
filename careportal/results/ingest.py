"""Storing a report that arrived from a lab: a new one, the final that replaces a preliminary, a correction, a
re-sent copy, or an old version that arrives after a newer one.

The HL7 handler (careportal/hl7/handlers/oru.py) reads the message into the plain ReportData below; everything here
is about reports, not HL7. The rules, in one place:

- a report is identified by its source system (MSH-3) and filler order number;
- a new report goes to the care team its routing names, with a "result" care relationship, and takes its release
  rule (release mode, kind of result, sensitive category) from the most specific ReleaseRule; it is due for release
  only once final (or corrected);
- a later message replaces the values and keeps the earlier ones as a DiagnosticReportVersion: "preliminary
  replaced" when the report was provisional, "corrected" (and the report shows as amended) when it was final;
- a message older than what is stored (by report time, OBR-22, else MSH-7) never overwrites it: it is kept only as
  an earlier version;
- a released report stays released when corrected (the patient sees the amended values and the earlier version);
  a held or retracted report stays held or retracted; a cancelled report is never released automatically.
"""

from __future__ import annotations

import datetime
import functools
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from careportal.patients.models import CareRelationship, CareRelationshipReason, Patient
from careportal.results.models import (
    ABNORMAL_INTERPRETATIONS,
    CRITICAL_INTERPRETATIONS,
    DiagnosticReport,
    DiagnosticReportVersion,
    Observation,
    ReleaseMode,
    ReleaseRule,
    ReportActionKind,
    ReportStatus,
    ReportVersionReason,
    ResultKind,
    ResultRouting,
    ResultRoutingMatch,
)
from careportal.results.release_rules import release_due_at_for, release_rule_for
from careportal.results.services import report_action_record

PROVISIONAL = frozenset({ReportStatus.REGISTERED, ReportStatus.PARTIAL, ReportStatus.PRELIMINARY})
RELEASABLE = frozenset({ReportStatus.FINAL, ReportStatus.CORRECTED})
ATTACHMENT_FOLDER = "results/attachments/"
ATTACHMENT_EXTENSIONS = {
    "application/pdf": ".pdf",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/tiff": ".tif",
    "text/plain": ".txt",
    "text/html": ".html",
    "application/rtf": ".rtf",
}
# The Observation fields the report page shows: what an earlier version keeps, and what decides whether a re-sent
# report changed anything.
SNAPSHOT_FIELDS = (
    "sequence",
    "code",
    "name",
    "coding_system",
    "value_type",
    "value_text",
    "value_numeric",
    "value_comparator",
    "value_code",
    "value_code_system",
    "unit",
    "reference_range",
    "reference_low",
    "reference_high",
    "interpretation",
    "status",
    "observed_at",
    "comment",
    "attachment_content_type",
)


class ReportConflict(ValueError):
    """The message names a report that cannot be this one (another patient's order number)."""


@dataclass
class ObservationData:
    sequence: int
    code: str
    name: str
    value_type: str
    coding_system: str = ""
    value_text: str = ""
    value_numeric: Decimal | None = None
    value_comparator: str = ""
    value_code: str = ""
    value_code_system: str = ""
    unit: str = ""
    reference_range: str = ""
    reference_low: Decimal | None = None
    reference_high: Decimal | None = None
    interpretation: str = ""
    status: str = ""
    observed_at: datetime.datetime | None = None
    comment: str = ""
    attachment_data: bytes | None = None
    attachment_content_type: str = ""
    # Set once the attachment is in storage.
    attachment: str = ""


@dataclass
class ReportData:
    source_system: str
    filler_order_number: str
    test_code: str
    test_name: str
    status: str
    placer_order_number: str = ""
    test_coding_system: str = ""
    category: str = ""
    specimen: str = ""
    collected_at: datetime.datetime | None = None
    specimen_received_at: datetime.datetime | None = None
    # OBR-22, or the message time when the lab left it blank: what decides which of two versions is newer.
    reported_at: datetime.datetime | None = None
    ordering_clinician: str = ""
    ordering_clinician_code: str = ""
    lab_comment: str = ""
    observations: list[ObservationData] = field(default_factory=list)
    # Routing keys: PV1-10 hospital service, PV1-3 location; the clinician code and category are above.
    service: str = ""
    location: str = ""


@dataclass
class ApplyResult:
    report: DiagnosticReport
    created: bool
    # What happened, for the report's action history: "arrived", "replaced", "corrected", "older version kept",
    # "unchanged".
    outcome: str


@functools.cache
def _max_length(model: Any, name: str) -> int | None:
    return model._meta.get_field(name).max_length  # type: ignore[no-any-return]


def _fit(model: Any, name: str, value: str) -> str:
    max_length = _max_length(model, name)
    return value[:max_length] if max_length else value


def _rule(test_code: str, category: str, cache: dict[Any, Any]) -> ReleaseRule | None:
    key = ("release_rule", test_code, category)
    if key not in cache:
        cache[key] = release_rule_for(test_code=test_code, category=category)
    return cache[key]  # type: ignore[no-any-return]


def care_team_for(data: ReportData) -> int | None:
    """The care team id from ResultRouting, in one query: the first match in the order service, location,
    clinician, category, then the default routing."""
    return care_team_routed(
        service=data.service,
        location=data.location,
        clinician_code=data.ordering_clinician_code,
        category=data.category,
    )


def care_team_routed(*, service: str, location: str, clinician_code: str, category: str = "") -> int | None:
    """`care_team_for` by its routing keys, for anything else a hospital system sends to a team (letters)."""
    keys = [
        (ResultRoutingMatch.SERVICE, service),
        (ResultRoutingMatch.LOCATION, location),
        (ResultRoutingMatch.CLINICIAN, clinician_code),
        (ResultRoutingMatch.CATEGORY, category),
    ]
    # Two IN lists rather than an OR of pairs: the same index (one_routing_per_code), far cheaper for Django to
    # build on every message; the few extra pairs it may return are ignored below.
    matches = [ResultRoutingMatch.DEFAULT, *(match for match, code in keys if code)]
    codes = {"", *(code for _, code in keys if code)}
    found = {
        (m, c): team
        for m, c, team in ResultRouting.objects.filter(match__in=matches, code__in=codes)
        .order_by()
        .values_list("match", "code", "care_team")
    }
    for match, code in [*keys, (ResultRoutingMatch.DEFAULT, "")]:
        if (match, code) in found and (code or match == ResultRoutingMatch.DEFAULT):
            return found[(match, code)]  # type: ignore[no-any-return]
    return None


def _store_attachments(observations: list[ObservationData]) -> None:
    for obs in observations:
        if obs.attachment_data is not None and not obs.attachment:
            extension = ATTACHMENT_EXTENSIONS.get(obs.attachment_content_type, ".bin")
            # A random name: the file name must say nothing about the patient or the test.
            obs.attachment = default_storage.save(
                f"{ATTACHMENT_FOLDER}{uuid.uuid4().hex}{extension}", ContentFile(obs.attachment_data)
            )


# Observation's decimal columns keep 6 places: a re-sent value is rounded the same way before it is compared.
_DECIMAL_PLACES = Decimal("0.000001")


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        # Plain digits without trailing zeros ("90", not "9E+1" or "90.000000"): as PostgreSQL and SQLite both
        # return it, so that a stored value and a re-sent one compare equal.
        return format(value.quantize(_DECIMAL_PLACES).normalize(), "f")
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return value


def _stored_value(name: str, value: Any) -> Any:
    """A value as its column keeps it: text cut to the column's length (as _new_observations stores it), so that
    a re-sent report with an over-long unit or name compares equal to the row made from the first copy."""
    if isinstance(value, str):
        return _fit(Observation, name, value)
    return _json_value(value)


def _snapshot(observation: Any) -> dict[str, Any]:
    """An observation (a row or ObservationData) as a dict of what the page shows, each value as stored."""
    data = {name: _stored_value(name, getattr(observation, name)) for name in SNAPSHOT_FIELDS}
    attachment = getattr(observation, "attachment", "")
    data["attachment"] = getattr(attachment, "name", attachment) or ""
    return data


def _comparable(observations: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        tuple(obs.get(name) for name in SNAPSHOT_FIELDS if name not in ("status", "observed_at"))
        for obs in observations
    ]


def _new_observations(report: DiagnosticReport, observations: list[ObservationData]) -> None:
    _store_attachments(observations)
    Observation.objects.bulk_create(observation_rows(report, observations))


def observation_rows(report: DiagnosticReport, observations: list[ObservationData]) -> list[Observation]:
    """The Observation rows of a report, not saved (attachments already in storage)."""
    return [
        Observation(
            report=report,
            sequence=obs.sequence,
            code=_fit(Observation, "code", obs.code),
            name=_fit(Observation, "name", obs.name),
            coding_system=_fit(Observation, "coding_system", obs.coding_system),
            value_type=obs.value_type,
            value_text=obs.value_text,
            value_numeric=obs.value_numeric,
            value_comparator=obs.value_comparator,
            value_code=_fit(Observation, "value_code", obs.value_code),
            value_code_system=_fit(Observation, "value_code_system", obs.value_code_system),
            unit=_fit(Observation, "unit", obs.unit),
            reference_range=_fit(Observation, "reference_range", obs.reference_range),
            reference_low=obs.reference_low,
            reference_high=obs.reference_high,
            interpretation=obs.interpretation,
            status=obs.status[:2],
            observed_at=obs.observed_at,
            comment=obs.comment,
            attachment=obs.attachment,
            attachment_content_type=_fit(Observation, "attachment_content_type", obs.attachment_content_type),
        )
        for obs in observations
    ]


def _flags(observations: list[ObservationData]) -> tuple[bool, bool]:
    flags = {obs.interpretation for obs in observations}
    return bool(flags & ABNORMAL_INTERPRETATIONS), bool(flags & CRITICAL_INTERPRETATIONS)


def _copy_rule(report: DiagnosticReport, rule: ReleaseRule | None) -> None:
    if rule is None:
        # No rule at all (a trust that deleted the default): nothing is released without a clinician.
        report.release_mode = ReleaseMode.AFTER_REVIEW
        report.release_rule_description = ""
        report.result_kind = ResultKind.LAB
        report.sensitive_category = ""
        return
    report.release_mode = rule.mode
    report.release_rule_description = rule.description
    report.result_kind = rule.result_kind
    report.sensitive_category = rule.sensitive_category


# What a message from the lab may change on a report that exists. An update writes these and nothing else: release,
# hold, withdrawal and the clinician's comment belong to clinicians and the release job, and a message must never
# write back an old copy of them (the row is locked as well: see report_apply).
_HEADER_FIELDS = (
    "placer_order_number",
    "test_code",
    "test_name",
    "test_coding_system",
    "category",
    "specimen",
    "collected_at",
    "specimen_received_at",
    "reported_at",
    "ordering_clinician",
    "ordering_clinician_code",
    "lab_comment",
    "is_abnormal",
    "is_critical",
)
_RULE_FIELDS = ("release_mode", "release_rule_description", "result_kind", "sensitive_category")
UPDATE_FIELDS = (
    *_HEADER_FIELDS,
    *_RULE_FIELDS,
    "version",
    "status",
    "is_amended",
    "reviewed_at",
    "reviewed_by",
    "release_due_at",
    "updated_at",
)


def _set_header(report: DiagnosticReport, data: ReportData) -> None:
    report.placer_order_number = _fit(DiagnosticReport, "placer_order_number", data.placer_order_number)
    report.test_code = _fit(DiagnosticReport, "test_code", data.test_code)
    report.test_name = _fit(DiagnosticReport, "test_name", data.test_name)
    report.test_coding_system = _fit(DiagnosticReport, "test_coding_system", data.test_coding_system)
    report.category = _fit(DiagnosticReport, "category", data.category)
    report.specimen = _fit(DiagnosticReport, "specimen", data.specimen)
    report.collected_at = data.collected_at or report.collected_at
    report.specimen_received_at = data.specimen_received_at or report.specimen_received_at
    report.reported_at = data.reported_at
    report.ordering_clinician = _fit(DiagnosticReport, "ordering_clinician", data.ordering_clinician)
    report.ordering_clinician_code = _fit(DiagnosticReport, "ordering_clinician_code", data.ordering_clinician_code)
    report.lab_comment = data.lab_comment
    report.is_abnormal, report.is_critical = _flags(data.observations)


def report_apply(
    *, patient: Patient, data: ReportData, received_at: datetime.datetime, cache: dict[Any, Any] | None = None
) -> ApplyResult:
    """Create or update the report `data` describes. Call inside a transaction (the HL7 service's savepoint)."""
    cache = cache if cache is not None else {}
    # The row is locked until the message's transaction ends: the release job (which skips locked rows) and a
    # clinician's action (which waits for the lock) cannot change it between this read and the write below, so
    # neither their change nor this one is lost. Unique (one_report_per_order): no ORDER BY needed.
    existing = next(
        iter(
            DiagnosticReport.objects.select_for_update()
            .filter(source_system=data.source_system, filler_order_number=data.filler_order_number)
            .order_by()[:1]
        ),
        None,
    )
    if existing is None:
        return ApplyResult(
            report=_create(patient=patient, data=data, received_at=received_at, cache=cache),
            created=True,
            outcome="arrived",
        )
    if existing.patient_id != patient.pk:
        raise ReportConflict("this order number already belongs to a report for another patient")
    return _update(report=existing, data=data, received_at=received_at, cache=cache)


def _create(
    *, patient: Patient, data: ReportData, received_at: datetime.datetime, cache: dict[Any, Any]
) -> DiagnosticReport:
    status = data.status
    report = report_new(
        patient=patient, data=data, received_at=received_at, cache=cache, care_team_id=care_team_for(data)
    )
    report.save()
    _new_observations(report, data.observations)
    if report.care_team_id is not None:
        _care_relationship_ensure(patient=patient, care_team_id=report.care_team_id)
    report_action_record(
        report=report, kind=ReportActionKind.ARRIVED, actor=None, at=received_at, note=_status_note(status)
    )
    return report


def report_new(
    *,
    patient: Patient,
    data: ReportData,
    received_at: datetime.datetime,
    cache: dict[Any, Any],
    care_team_id: int | None,
) -> DiagnosticReport:
    """A new report as `data` describes it, with its release rule and due time; not saved. `care_team_id` is
    `care_team_for(data)`: applying many messages at once (careportal/hl7/bulk_apply.py) reads each routing once."""
    report = DiagnosticReport(
        patient=patient,
        care_team_id=care_team_id,
        source_system=_fit(DiagnosticReport, "source_system", data.source_system),
        filler_order_number=_fit(DiagnosticReport, "filler_order_number", data.filler_order_number),
        status=data.status,
        arrived_at=received_at,
        # A correction that arrives before its original: the amended state is known only once the original comes.
        is_amended=False,
    )
    _set_header(report, data)
    rule = _rule(report.test_code, report.category, cache)
    _copy_rule(report, rule)
    if data.status in RELEASABLE:
        report.release_due_at = _due_at(rule, data.reported_at or received_at, cache)
    return report


def _due_at(rule: ReleaseRule | None, final_at: datetime.datetime, cache: dict[Any, Any]) -> datetime.datetime | None:
    """release_due_at_for, read once per rule and day of the final report: the bank holidays it reads are the
    same for every report that became final that day."""
    if rule is None or rule.mode == ReleaseMode.AFTER_REVIEW or rule.working_days == 0:
        return release_due_at_for(rule, final_at=final_at)
    day = timezone.localtime(final_at, timezone.get_default_timezone()).date()
    key = ("release_due_at", rule.pk, rule.working_days, day)
    if key not in cache:
        cache[key] = release_due_at_for(rule, final_at=final_at)
    return cache[key]  # type: ignore[no-any-return]


def _care_relationship_ensure(*, patient: Patient, care_team_id: int) -> None:
    """The routed team's "result" care relationship, created when missing; an ended one is left ended.

    Once a patient has one, every later result finds it with one read. A missing one is inserted with ON CONFLICT
    DO NOTHING (one_relationship_per_reason) rather than get_or_create's savepoint: a result for the same patient
    on another connection may insert it at the same moment, and that is no error."""
    relationships = CareRelationship.objects.filter(
        patient=patient, care_team_id=care_team_id, reason=CareRelationshipReason.RESULT
    )
    if not relationships.exists():
        CareRelationship.objects.bulk_create(
            [CareRelationship(patient=patient, care_team_id=care_team_id, reason=CareRelationshipReason.RESULT)],
            ignore_conflicts=True,
        )


def _status_note(status: str) -> str:
    return f"Status: {ReportStatus(status).label.lower()}" if status in ReportStatus.values else ""


def _current_snapshot(report: DiagnosticReport) -> list[dict[str, Any]]:
    return [_snapshot(obs) for obs in report.observations.all().order_by("sequence")]


def _version_add(**fields: Any) -> None:
    """Store the earlier version `version_row` describes (one by one; tests/results/test_locking.py hooks in here)."""
    version_row(**fields).save()


def version_row(
    *,
    report: DiagnosticReport,
    version: int,
    status: str,
    reported_at: datetime.datetime | None,
    reason: ReportVersionReason,
    was_released: bool,
    lab_comment: str,
    observations: list[dict[str, Any]],
    at: datetime.datetime,
) -> DiagnosticReportVersion:
    """The earlier version `_version_add` stores, not saved (the batch applier writes many at once)."""
    return DiagnosticReportVersion(
        report=report,
        version=version,
        status=status,
        reported_at=reported_at,
        replaced_at=at,
        reason=reason,
        was_released=was_released,
        lab_comment=lab_comment,
        observations=observations,
    )


@dataclass
class ReportChange:
    """What a later message changes on a report, worked out in memory by `report_change`: the earlier version to
    keep (`_version_add`'s arguments; None when nothing changed, and then the values stay), and the history note."""

    version: dict[str, Any] | None
    note: str
    outcome: str


def report_change(
    *,
    report: DiagnosticReport,
    current: list[dict[str, Any]],
    data: ReportData,
    received_at: datetime.datetime,
    cache: dict[Any, Any],
) -> ReportChange:
    """The rules of a message that is not older than the stored report, applied to `report` in memory (its fields
    are set, nothing is written). `current` is the snapshot of its stored values (`_current_snapshot`). Shared by
    `_update` (one message) and the batch applier (careportal/hl7/bulk_apply.py), which writes the same rows for
    many reports at once: one set of rules, so the two cannot drift apart."""
    incoming = [_snapshot(obs) for obs in data.observations]
    values_changed = _comparable(current) != _comparable(incoming) or report.lab_comment != data.lab_comment
    status = data.status
    if status == ReportStatus.FINAL and report.status == ReportStatus.CORRECTED:
        # A final sent again after a correction is still the corrected report.
        status = ReportStatus.CORRECTED
    if not values_changed and status == report.status:
        return ReportChange(version=None, note="Sent again by the lab: no change", outcome="unchanged")

    was_provisional = report.status in PROVISIONAL
    reason = ReportVersionReason.PRELIMINARY_REPLACED if was_provisional else ReportVersionReason.CORRECTED
    version = {
        "report": report,
        "version": report.version,
        "status": report.status,
        "reported_at": report.reported_at,
        "reason": reason,
        "was_released": report.released_at is not None,
        "lab_comment": report.lab_comment,
        "observations": current,
        "at": received_at,
    }
    report.version += 1
    report.status = status
    _set_header(report, data)
    if reason == ReportVersionReason.CORRECTED and (values_changed or status == ReportStatus.CORRECTED):
        report.is_amended = True
        # Clinicians look at a report again when the lab changes it after it was final.
        report.reviewed_at = None
        report.reviewed_by = None
    if report.released_at is None:
        if status in RELEASABLE:
            if report.release_due_at is None:
                rule = _rule(report.test_code, report.category, cache)
                _copy_rule(report, rule)
                report.release_due_at = _due_at(rule, data.reported_at or received_at, cache)
        else:
            # Back to provisional, or cancelled: nothing is released automatically.
            report.release_due_at = None
    outcome = "replaced" if reason == ReportVersionReason.PRELIMINARY_REPLACED else "corrected"
    note = {
        "replaced": "The lab replaced the preliminary report",
        "corrected": "The lab corrected the report",
    }[outcome]
    if status == ReportStatus.CANCELLED:
        note = "The lab cancelled the report"
    return ReportChange(version=version, note=note, outcome=outcome)


def is_older(report: DiagnosticReport, data: ReportData) -> bool:
    """Whether `data` is older than the stored report (by report time): then it never overwrites it."""
    return report.reported_at is not None and data.reported_at is not None and data.reported_at < report.reported_at


def _update(
    *, report: DiagnosticReport, data: ReportData, received_at: datetime.datetime, cache: dict[Any, Any]
) -> ApplyResult:
    if is_older(report, data):
        return _keep_older(report=report, data=data, received_at=received_at)
    change = report_change(
        report=report, current=_current_snapshot(report), data=data, received_at=received_at, cache=cache
    )
    if change.version is not None:
        _version_add(**change.version)
        report.save(update_fields=UPDATE_FIELDS)
        report.observations.all().delete()
        _new_observations(report, data.observations)
    report_action_record(report=report, kind=ReportActionKind.UPDATED, actor=None, at=received_at, note=change.note)
    return ApplyResult(report=report, created=False, outcome=change.outcome)


def _already_kept(*, report: DiagnosticReport, data: ReportData, incoming: list[dict[str, Any]]) -> bool:
    """Whether an older message says nothing new: the same values and comment as the report now (the same report
    sent again with an earlier message time), or as an earlier version already kept with the same report time and
    status (the original sent again after its correction)."""
    same_status = data.status == report.status or (
        data.status == ReportStatus.FINAL and report.status == ReportStatus.CORRECTED
    )
    if (
        same_status
        and data.lab_comment == report.lab_comment
        and _comparable(incoming) == _comparable(_current_snapshot(report))
    ):
        return True
    kept = DiagnosticReportVersion.objects.filter(
        report=report, reported_at=data.reported_at, status=data.status, lab_comment=data.lab_comment
    ).values_list("observations", flat=True)
    return any(_comparable(observations) == _comparable(incoming) for observations in kept)


def _keep_older(*, report: DiagnosticReport, data: ReportData, received_at: datetime.datetime) -> ApplyResult:
    """A version older than the stored one (a correction came first): keep it as an earlier version only, unless
    it is one CarePortal has already (then nothing changes, and the report is not marked amended)."""
    incoming = [_snapshot(obs) for obs in data.observations]
    if _already_kept(report=report, data=data, incoming=incoming):
        report_action_record(
            report=report,
            kind=ReportActionKind.UPDATED,
            actor=None,
            at=received_at,
            note="Sent again by the lab: no change",
        )
        return ApplyResult(report=report, created=False, outcome="unchanged")
    _store_attachments(data.observations)
    provisional = data.status in PROVISIONAL
    reason = ReportVersionReason.PRELIMINARY_REPLACED if provisional else ReportVersionReason.CORRECTED
    # Versions are numbered in the order CarePortal received them; the history shows them by report time.
    _version_add(
        report=report,
        version=report.version,
        status=data.status,
        reported_at=data.reported_at,
        reason=reason,
        was_released=False,
        lab_comment=data.lab_comment,
        observations=[_snapshot(obs) for obs in data.observations],
        at=received_at,
    )
    report.version += 1
    fields = ["version", "updated_at"]
    if reason == ReportVersionReason.CORRECTED:
        report.is_amended = True
        fields.append("is_amended")
    # The older message may be the only one that says when the sample was taken or received.
    if report.collected_at is None and data.collected_at is not None:
        report.collected_at = data.collected_at
        fields.append("collected_at")
    if report.specimen_received_at is None and data.specimen_received_at is not None:
        report.specimen_received_at = data.specimen_received_at
        fields.append("specimen_received_at")
    report.save(update_fields=fields)
    report_action_record(
        report=report,
        kind=ReportActionKind.UPDATED,
        actor=None,
        at=received_at,
        note="An earlier version arrived late: kept in the history, the newer values stay",
    )
    return ApplyResult(report=report, created=False, outcome="older version kept")
