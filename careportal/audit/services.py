from typing import TYPE_CHECKING, Any

from careportal.audit.models import AccessAction, AccessEvent, ActorRole

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
) -> AccessEvent:
    """Write one audit event. Called by the access layer only, never by views."""
    if obj is not None:
        object_type, object_id = _object_reference(obj)
    return AccessEvent.objects.create(
        **_event_fields(
            viewer=viewer,
            patient=patient,
            action=action,
            object_label=object_label,
            object_type=object_type,
            object_id=object_id,
            succeeded=succeeded,
        )
    )


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
