"""Configuring the inbound interfaces (/staff/hl7/interfaces/): who may, the reads for the pages, and the changes,
each one recorded as an InboundInterfaceChange (who, when, each field before and after).

Integration administrators (the "Integration administrators" group, created by migration hl7 0002) and superusers
hold `hl7.change_inboundinterface`. The pages show no patient data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from django.contrib.auth.models import Group, Permission
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from careportal.accounts.models import User
from careportal.hl7.interfaces import interfaces_cache_clear
from careportal.hl7.models import AckMode, InboundInterface, InboundInterfaceChange, InterfaceChangeAction

logger = structlog.get_logger(__name__)

INTERFACE_PERMISSION = "hl7.change_inboundinterface"
INTEGRATION_GROUP = "Integration administrators"
# The fields a change record compares, with the words the history uses for them.
TRACKED_FIELDS = {
    "name": "Name",
    "sending_application": "Sending application (MSH-3)",
    "sending_facility": "Sending facility (MSH-4)",
    "message_types": "Message types",
    "source_networks": "Source networks",
    "hospital_number_authority": "Assigning authority for hospital numbers",
    "ack_mode": "When messages are acknowledged",
    "is_active": "Active",
}


# What the group holds (migration hl7 0002 creates it with these; integration_group_ensure restores it).
INTEGRATION_PERMISSIONS = (
    "add_inboundinterface",
    "change_inboundinterface",
    "view_inboundinterface",
    "view_inboundinterfacechange",
    "change_inboundmessage",
    "view_inboundmessage",
)


def integration_group_ensure() -> Group:
    """The "Integration administrators" group with its permissions, created if missing (the demo loader, and a
    database emptied since its migrations ran)."""
    group, _ = Group.objects.get_or_create(name=INTEGRATION_GROUP)
    group.permissions.add(
        *Permission.objects.filter(content_type__app_label="hl7", codename__in=INTEGRATION_PERMISSIONS)
    )
    return group


class InterfaceError(ValueError):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def can_manage_interfaces(user: Any) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    return bool(user.has_perm(INTERFACE_PERMISSION))


# --- Reads ---------------------------------------------------------------------------------------------------


def interfaces_listed() -> list[InboundInterface]:
    """Active interfaces first, then by name."""
    return list(InboundInterface.objects.select_related("updated_by").order_by("-is_active", "name"))


def interface_get(pk: int) -> InboundInterface:
    interface = InboundInterface.objects.filter(pk=pk).first()
    if interface is None:
        raise Http404("Page not found")
    return interface


def interface_changes(*, interface: InboundInterface) -> list[InboundInterfaceChange]:
    return list(interface.changes.order_by("-changed_at", "-pk"))


def sender_taken_by(
    *, sending_application: str, sending_facility: str, exclude_pk: int | None
) -> InboundInterface | None:
    queryset = InboundInterface.objects.filter(
        sending_application__iexact=sending_application, sending_facility__iexact=sending_facility
    )
    if exclude_pk is not None:
        queryset = queryset.exclude(pk=exclude_pk)
    return queryset.first()


def name_taken(*, name: str, exclude_pk: int | None) -> bool:
    queryset = InboundInterface.objects.filter(name__iexact=name)
    if exclude_pk is not None:
        queryset = queryset.exclude(pk=exclude_pk)
    return queryset.exists()


# --- Changes -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InterfaceValues:
    name: str
    sending_application: str
    sending_facility: str
    message_types: list[str]
    source_networks: list[str]
    hospital_number_authority: str
    ack_mode: str = AckMode.AFTER_APPLY


def _snapshot(interface: InboundInterface) -> dict[str, Any]:
    return {field: getattr(interface, field) for field in TRACKED_FIELDS}


def _record(
    *, interface: InboundInterface, by: User, action: InterfaceChangeAction, before: dict[str, Any] | None
) -> InboundInterfaceChange:
    after = _snapshot(interface)
    changes = {
        field: {"from": None if before is None else before[field], "to": after[field]}
        for field in TRACKED_FIELDS
        if before is None or before[field] != after[field]
    }
    change = InboundInterfaceChange.objects.create(
        interface=interface,
        changed_at=timezone.now(),
        changed_by=by,
        changed_by_name=by.audit_name[:150],
        action=action,
        changes=changes,
    )
    # Ids and field names only: the values are configuration, but the log line does not need them.
    logger.info(
        "hl7_interface_changed",
        interface_id=interface.pk,
        action=str(action),
        fields=sorted(changes),
        by_user_id=by.pk,
    )
    transaction.on_commit(interfaces_cache_clear)
    return change


@transaction.atomic
def interface_save(*, interface: InboundInterface | None, by: User, values: InterfaceValues) -> InboundInterface:
    """Add an interface (`interface` None) or change one; the change is recorded, and the receiving path of this
    process reads the interfaces again from the next message (others within HL7_INTERFACE_CACHE_SECONDS)."""
    if not values.message_types:
        raise InterfaceError("Enter at least one message type, like ORU^R01", field="message_types")
    if not values.source_networks:
        raise InterfaceError("Enter at least one address or network", field="source_networks")
    exclude = interface.pk if interface is not None else None
    if sender_taken_by(
        sending_application=values.sending_application, sending_facility=values.sending_facility, exclude_pk=exclude
    ):
        raise InterfaceError("There is already an interface for this sending application and facility",
                             field="sending_facility")  # fmt: skip
    created = interface is None
    before = None if interface is None else _snapshot(interface)
    interface = interface or InboundInterface()
    if values.ack_mode not in AckMode.values:
        raise InterfaceError("Choose when messages are acknowledged", field="ack_mode")
    for field in ("name", "sending_application", "sending_facility", "hospital_number_authority", "ack_mode"):
        setattr(interface, field, getattr(values, field))
    interface.message_types = list(values.message_types)
    interface.source_networks = list(values.source_networks)
    interface.updated_by = by
    try:
        with transaction.atomic():
            interface.save()
    except IntegrityError:
        # Two administrators adding the same sender at once: the unique constraints decide.
        raise InterfaceError(
            "There is already an interface with this name, or for this sending application and facility",
            field="sending_facility",
        ) from None
    if created or before != _snapshot(interface):
        _record(
            interface=interface,
            by=by,
            action=InterfaceChangeAction.CREATED if created else InterfaceChangeAction.CHANGED,
            before=before,
        )
    return interface


@transaction.atomic
def interface_set_active(*, interface: InboundInterface, by: User, active: bool) -> InboundInterface:
    """Deactivate (its messages are refused from the next one on) or reactivate an interface."""
    locked = InboundInterface.objects.select_for_update().get(pk=interface.pk)
    if locked.is_active == active:
        return locked
    before = _snapshot(locked)
    locked.is_active = active
    locked.updated_by = by
    locked.save(update_fields=["is_active", "updated_by", "updated_at"])
    _record(
        interface=locked,
        by=by,
        action=InterfaceChangeAction.REACTIVATED if active else InterfaceChangeAction.DEACTIVATED,
        before=before,
    )
    return locked


@transaction.atomic
def interface_record_admin_save(*, interface: InboundInterface, by: User, created: bool) -> None:
    """Save an interface changed in the Django admin (already validated by the staff form's rules) and record the
    change as the staff pages do."""
    before = None
    if not created:
        stored = InboundInterface.objects.filter(pk=interface.pk).first()
        before = _snapshot(stored) if stored is not None else None
    interface.updated_by = by
    interface.save()
    if before is None or before != _snapshot(interface):
        if before is None:
            action = InterfaceChangeAction.CREATED
        elif before["is_active"] != interface.is_active:
            action = InterfaceChangeAction.REACTIVATED if interface.is_active else InterfaceChangeAction.DEACTIVATED
        else:
            action = InterfaceChangeAction.CHANGED
        _record(interface=interface, by=by, action=action, before=before)
