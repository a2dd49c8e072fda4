"""Changes to patient records that come from the hospital's patient administration system (PAS): registration,
demographic updates and merges (HL7 ADT^A04/A28, A08/A31 and A40, applied by careportal/hl7/handlers/adt.py).

The PAS is the source of truth for demographics, so an update overwrites what it carries; it never blanks what it
does not carry (an empty field), and it clears a value only when told to (HL7 `""`, passed here as "").
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, fields

from django.contrib.auth.models import AnonymousUser
from django.db import models, transaction
from django.utils import timezone
from nhs_number import is_valid

from careportal.audit.models import AccessAction, ActorRole
from careportal.patients.models import CareRelationship, Patient

MERGE_AUDIT_LABEL = "your record was merged with another hospital record"
UPDATE_AUDIT_LABEL = "your details, updated by the hospital's records system"
# Records merged one into another form a chain; a longer one than this is a loop, which a PAS never sends.
MAX_MERGE_CHAIN = 50


class PatientRecordError(ValueError):
    """A change the records system asked for that would make the records wrong; nothing was changed."""


def nhs_number_is_valid(value: str) -> bool:
    """Ten digits passing the modulus 11 check."""
    return len(value) == 10 and value.isdigit() and bool(is_valid(value))


def patient_surviving(patient: Patient) -> Patient:
    """The record that holds a patient now: the record itself, or the one it was merged into (ADT^A40)."""
    seen = {patient.pk}
    while patient.merged_into_id is not None:
        patient = Patient.objects.get(pk=patient.merged_into_id)
        if patient.pk in seen or len(seen) > MAX_MERGE_CHAIN:
            raise PatientRecordError("These patient records were merged into each other in a loop")
        seen.add(patient.pk)
    return patient


@dataclass
class PatientDetails:
    """Demographics as the PAS sent them. None: not carried (keep what is stored); "": clear the stored value."""

    given_name: str | None = None
    family_name: str | None = None
    birth_date: datetime.date | None = None
    nhs_number: str | None = None
    address_line_1: str | None = None
    address_line_2: str | None = None
    town: str | None = None
    postcode: str | None = None
    email: str | None = None
    mobile_phone: str | None = None
    home_phone: str | None = None

    def carried(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


# Names and date of birth are required on a patient: the PAS can change them, never clear them.
_REQUIRED = frozenset({"given_name", "family_name", "birth_date"})


def _system_viewer():  # type: ignore[no-untyped-def]
    from careportal.access.layer import Viewer

    return Viewer(user=AnonymousUser(), role=ActorRole.SYSTEM)  # type: ignore[arg-type]


def _audit(patient: Patient, label: str) -> None:
    from careportal.audit.services import access_event_record

    access_event_record(
        viewer=_system_viewer(), patient=patient, action=AccessAction.UPDATE, object_label=label, obj=patient
    )


def _fit(name: str, value: object) -> object:
    """Cut text to the column's length: an over-long value from a feed must not fail the whole message."""
    if isinstance(value, str):
        max_length = getattr(Patient._meta.get_field(name), "max_length", None)
        if max_length:
            return value[:max_length].strip()
    return value


def _check_nhs_number_free(nhs_number: str, patient: Patient | None) -> None:
    if not nhs_number:
        return
    if not nhs_number_is_valid(nhs_number):
        raise PatientRecordError("The NHS number fails the modulus 11 check")
    holders = Patient.objects.filter(nhs_number=nhs_number)
    if patient is not None:
        holders = holders.exclude(pk=patient.pk)
    if holders.exists():
        raise PatientRecordError("The NHS number belongs to another patient")


@transaction.atomic
def patient_register(*, hospital_number: str, details: PatientDetails) -> tuple[Patient, bool]:
    """A new patient from the PAS (ADT^A04/A28), or an update when the hospital number is already known.
    Returns the patient and whether it was created."""
    existing = Patient.objects.select_for_update().filter(hospital_number=hospital_number).first()
    if existing is not None:
        return patient_update(patient=patient_surviving(existing), details=details), False
    missing = [name for name in ("family_name", "given_name", "birth_date") if not getattr(details, name)]
    if missing:
        raise PatientRecordError("A new patient needs a name and a date of birth")
    nhs_number = details.nhs_number or None
    if nhs_number:
        _check_nhs_number_free(nhs_number, None)
    values = {name: _fit(name, value) for name, value in details.carried().items() if name != "nhs_number"}
    patient = Patient.objects.create(hospital_number=hospital_number, nhs_number=nhs_number, **values)
    return patient, True


def patient_details_apply(*, patient: Patient, details: PatientDetails) -> list[str]:
    """Write what `details` carries onto the patient and save; returns the names of the fields that changed.

    The one code path for changing demographics: changes from the PAS (ADT^A08/A31, `patient_update`) and changes
    the patient makes in CarePortal (`patient_contact_details_change`) both come through here. It neither audits
    nor tells anyone: its callers do, each in their own way (a PAS change must not be sent back to the PAS)."""
    changed: list[str] = []
    for name, value in details.carried().items():
        if name in _REQUIRED and not value:
            continue
        if name == "nhs_number":
            new_nhs = str(value) or None
            if new_nhs != patient.nhs_number:
                if new_nhs:
                    _check_nhs_number_free(new_nhs, patient)
                patient.nhs_number = new_nhs
                changed.append(name)
            continue
        value = _fit(name, value)
        if getattr(patient, name) != value:
            setattr(patient, name, value)
            changed.append(name)
    if changed:
        patient.save(update_fields=[*changed, "updated_at"])
    return changed


@transaction.atomic
def patient_update(*, patient: Patient, details: PatientDetails) -> Patient:
    """Overwrite what the PAS carried (ADT^A08/A31, or A04/A28 for a known patient). Audited when anything
    changed, so that the patient's access log shows the hospital system changed their details. Never queued back
    to the PAS as an outbound message: it came from there."""
    if patient_details_apply(patient=patient, details=details):
        _audit(patient, UPDATE_AUDIT_LABEL)
    return patient


@dataclass
class MergeResult:
    surviving: Patient
    prior: Patient
    moved: dict[str, int]
    already_merged: bool = False


# Rows that record what happened to the old record itself, append-only: they stay with it.
_KEPT_WITH_PRIOR = frozenset({("audit", "accessevent"), ("helpdesk", "helpdeskaction")})


@transaction.atomic
def patient_merge(*, surviving: Patient, prior: Patient, nhs_number: str = "") -> MergeResult:
    """Merge `prior` into `surviving` (ADT^A40): everything the old record held moves to the survivor, in one
    transaction, audited on both records.

    - results, care relationships, proxy relationships, result preferences, HL7 messages, activation codes, and
      rows of any other app that point at the patient move; a care relationship, live proxy relationship or
      result preference the survivor already has for the same team, proxy or kind stays with the old record;
    - the portal account moves when the survivor has none; when both have one, nothing changes (PatientRecordError):
      two people's sign-ins must not be joined by a message, staff decide;
    - the old record keeps its hospital number, so that later messages with it follow `merged_into`; it gives up
      its NHS number when the survivor takes it (NHS numbers are unique).
    """
    locked = {
        p.pk: p for p in Patient.objects.select_for_update().filter(pk__in=[surviving.pk, prior.pk]).order_by("pk")
    }
    surviving, prior = locked[surviving.pk], locked[prior.pk]
    if surviving.pk == prior.pk:
        raise PatientRecordError("The surviving record and the prior record are the same record")
    if prior.merged_into_id is not None:
        if prior.merged_into_id == surviving.pk:
            return MergeResult(surviving=surviving, prior=prior, moved={}, already_merged=True)
        raise PatientRecordError("The prior record was already merged into another record")
    if surviving.merged_into_id is not None:
        raise PatientRecordError("The surviving record was itself merged into another record")
    if prior.user_id is not None and surviving.user_id is not None:
        raise PatientRecordError(
            "Both records have a portal account: staff must decide which account the patient keeps"
        )
    if nhs_number:
        holder = Patient.objects.filter(nhs_number=nhs_number).exclude(pk__in=[surviving.pk, prior.pk]).first()
        if holder is not None:
            raise PatientRecordError("The NHS number belongs to a third patient")
        if surviving.nhs_number and surviving.nhs_number != nhs_number:
            raise PatientRecordError("The surviving record has a different NHS number")

    moved = _move_related(prior=prior, surviving=surviving)

    now = timezone.now()
    wanted_nhs = nhs_number or (surviving.nhs_number or prior.nhs_number or "")
    user = prior.user
    prior.merged_into = surviving
    prior.merged_at = now
    prior_fields = ["merged_into", "merged_at", "updated_at"]
    if wanted_nhs and prior.nhs_number == wanted_nhs and surviving.nhs_number != wanted_nhs:
        prior.nhs_number = None
        prior_fields.append("nhs_number")
    if user is not None:
        prior.user = None
        prior_fields.append("user")
    # The old record lets go of the unique values first, then the survivor takes them.
    prior.save(update_fields=prior_fields)
    surviving_fields = ["updated_at"]
    if wanted_nhs and not surviving.nhs_number:
        surviving.nhs_number = wanted_nhs
        surviving_fields.append("nhs_number")
    if user is not None:
        surviving.user = user
        surviving_fields.append("user")
        moved["portal account"] = 1
    surviving.save(update_fields=surviving_fields)

    _audit(prior, MERGE_AUDIT_LABEL)
    _audit(surviving, MERGE_AUDIT_LABEL)
    return MergeResult(surviving=surviving, prior=prior, moved=moved)


def _move_related(*, prior: Patient, surviving: Patient) -> dict[str, int]:
    from careportal.proxy.models import ProxyRelationship, ProxyStatus
    from careportal.results.models import ResultPreference

    moved: dict[str, int] = {}

    survivor_teams = set(CareRelationship.objects.filter(patient=surviving).values_list("care_team_id", "reason"))
    relationships = [
        r.pk
        for r in CareRelationship.objects.filter(patient=prior).only("pk", "care_team_id", "reason")
        if (r.care_team_id, r.reason) not in survivor_teams
    ]
    moved["care relationships"] = CareRelationship.objects.filter(pk__in=relationships).update(patient=surviving)

    live = [ProxyStatus.REQUESTED, ProxyStatus.ACTIVE]
    survivor_proxies = set(
        ProxyRelationship.objects.filter(patient=surviving, status__in=live).values_list("proxy_id", flat=True)
    )
    proxies = [
        r.pk
        for r in ProxyRelationship.objects.filter(patient=prior).only("pk", "proxy_id", "status")
        if not (r.status in live and r.proxy_id in survivor_proxies)
    ]
    moved["proxy relationships"] = ProxyRelationship.objects.filter(pk__in=proxies).update(patient=surviving)

    survivor_kinds = set(ResultPreference.objects.filter(patient=surviving).values_list("result_kind", flat=True))
    moved["result preferences"] = (
        ResultPreference.objects.filter(patient=prior).exclude(result_kind__in=survivor_kinds).update(patient=surviving)
    )

    # Records merged into the old one earlier now lead straight to the survivor.
    moved["merged records"] = Patient.objects.filter(merged_into=prior).update(merged_into=surviving)

    handled = {
        (CareRelationship, "patient"),
        (ProxyRelationship, "patient"),
        (ResultPreference, "patient"),
        (Patient, "merged_into"),
    }
    # Everything else that points at a patient (results, HL7 messages, activation codes, and what later apps add:
    # appointments, letters, message threads) moves as it is.
    for relation in Patient._meta.related_objects:
        model = relation.related_model
        field_name = relation.field.name
        if (model, field_name) in handled or (model._meta.app_label, model._meta.model_name) in _KEPT_WITH_PRIOR:
            continue
        if not isinstance(relation.field, models.ForeignKey) or isinstance(relation.field, models.OneToOneField):
            continue
        count = model._default_manager.filter(**{field_name: prior}).update(**{field_name: surviving})
        moved[f"{model._meta.verbose_name_plural}"] = moved.get(f"{model._meta.verbose_name_plural}", 0) + count
    return moved
