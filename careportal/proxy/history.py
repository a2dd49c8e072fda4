"""The one way to record a change to a proxy relationship (`ProxyRelationshipEvent`). Every service that changes a
relationship calls `relationship_event_record` inside its own transaction, so the change and its history are
written together or not at all."""

from collections.abc import Iterable

from careportal.accounts.models import User
from careportal.proxy.models import ProxyEventKind, ProxyRelationship, ProxyRelationshipEvent


def relationship_event_record(
    *,
    relationship: ProxyRelationship,
    kind: ProxyEventKind,
    actor: User | None,
    scopes_before: Iterable[str] = (),
    scopes_after: Iterable[str] = (),
    note: str = "",
) -> ProxyRelationshipEvent:
    """Record one change. `actor` None means the system (the daily age rules)."""
    return ProxyRelationshipEvent.objects.create(
        relationship=relationship,
        kind=kind,
        actor=actor,
        actor_name=actor.audit_name if actor is not None else "CarePortal",
        scopes_before=sorted(scopes_before),
        scopes_after=sorted(scopes_after),
        note=note,
    )
