from typing import TYPE_CHECKING, Any

from django.db import connections
from django.utils import timezone

from careportal.audit.models import AccessAction, AccessEvent, ActorRole
from careportal.core.bulk_sql import PreparedInsert

if TYPE_CHECKING:
    from careportal.access.layer import Viewer
    from careportal.patients.models import Patient


def _object_reference(obj: Any) -> tuple[str, str]:
    if obj is None:
        return "", ""
    meta = obj._meta
    identifier = getattr(obj, "public_id", None) or obj.pk
    return f"{meta.app_label}.{meta.model_name}", str(identifier)


def access_event_record(
    *,
    viewer: "Viewer",
    patient: "Patient | None",
    action: AccessAction,
    object_label: str,
    obj: Any = None,
    object_type: str = "",
    object_id: str = "",
    succeeded: bool = True,
) -> None:
    """Write one audit event, committed (or rolled back) with the transaction around it, if any. Called by the
    access layer only, never by views."""
    if obj is not None:
        object_type, object_id = _object_reference(obj)
    fields = _event_fields(
        viewer=viewer,
        patient=patient,
        action=action,
        object_label=object_label,
        object_type=object_type,
        object_id=object_id,
        succeeded=succeeded,
    )
    _insert_event(fields)


# Every read of a patient's record writes one event, so the INSERT is built once per database rather than by
# `AccessEvent.objects.create` on every request: the ORM's save path (a model instance, every field's pre_save and
# get_db_prep_save, the statement compiled again) cost as much CPU as the page's heaviest query. The columns are
# the model's, looked up once; only the time and the address are converted, as the fields themselves convert them.
_EVENT_COLUMNS = [field.attname for field in AccessEvent._meta.concrete_fields if not field.primary_key]
_EVENT_INSERT = PreparedInsert(AccessEvent, _EVENT_COLUMNS)
# Written as `_event_fields` gives them.
_PLAIN_EVENT_FIELDS = (
    "actor_name",
    "actor_role",
    "object_label",
    "object_type",
    "object_id",
    "succeeded",
    "request_id",
    "app_name",
)


def _insert_event(fields: dict[str, Any]) -> None:
    db = connections["default"]
    meta = AccessEvent._meta
    row = {
        "occurred_at": meta.get_field("occurred_at").get_db_prep_save(timezone.now(), db),  # auto_now_add
        "actor_id": fields["actor"].pk if fields["actor"] is not None else None,
        "care_team_id": fields["care_team"].pk if fields["care_team"] is not None else None,
        "patient_id": fields["patient"].pk if fields["patient"] is not None else None,
        "on_behalf_of_id": fields["on_behalf_of"].pk if fields["on_behalf_of"] is not None else None,
        **{name: fields[name] for name in _PLAIN_EVENT_FIELDS},
        "action": str(fields["action"]),
        "ip_address": meta.get_field("ip_address").get_db_prep_save(fields["ip_address"], db),
    }
    _EVENT_INSERT.execute([[row[name] for name in _EVENT_COLUMNS]])


def access_events_record_many(
    *,
    viewer: "Viewer",
    patients: "list[Patient]",
    action: AccessAction,
    object_label: str,
) -> list[AccessEvent]:
    """One audit event per patient, written in a single query (a staff search that lists several patients)."""
    return AccessEvent.objects.bulk_create(
        [
            AccessEvent(
                **_event_fields(
                    viewer=viewer,
                    patient=patient,
                    action=action,
                    object_label=object_label,
                    object_type="patients.patient",
                    object_id=str(patient.public_id),
                    succeeded=True,
                )
            )
            for patient in patients
        ]
    )


def _event_fields(
    *,
    viewer: "Viewer",
    patient: "Patient | None",
    action: AccessAction,
    object_label: str,
    object_type: str,
    object_id: str,
    succeeded: bool,
) -> dict[str, Any]:
    return {
        "actor": viewer.user if viewer.user.is_authenticated else None,
        "actor_name": viewer.user.audit_name if viewer.user.is_authenticated else "",
        "actor_role": viewer.role.value,
        "care_team": viewer.care_team,
        "patient": patient,
        "on_behalf_of": viewer.patient if viewer.role == ActorRole.PROXY else None,
        "action": action,
        "object_label": object_label,
        "object_type": object_type,
        "object_id": object_id[:64],
        "succeeded": succeeded,
        "ip_address": viewer.ip_address,
        "request_id": viewer.request_id[:64],
        "app_name": viewer.app_name[:100],
    }
