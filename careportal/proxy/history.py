"""The one way to record a change to a proxy relationship (`ProxyRelationshipEvent`). Every service that changes a
relationship calls `relationship_event_record` inside its own transaction, so the change and its history are
written together or not at all."""

from collections.abc import Iterable, Mapping
from typing import Any

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


def relationship_events_record_many(events: Iterable[Mapping[str, Any]]) -> list[ProxyRelationshipEvent]:
    """Record many changes made by the system (the daily age rules) in one insert. Each mapping holds the keyword
    arguments of `relationship_event_record` except `actor`, which is the system."""
    rows = [
        ProxyRelationshipEvent(
            relationship=event["relationship"],
            kind=event["kind"],
            actor=None,
            actor_name="CarePortal",
            scopes_before=sorted(event.get("scopes_before", ())),
            scopes_after=sorted(event.get("scopes_after", ())),
            note=event.get("note", ""),
        )
        for event in events
    ]
    return ProxyRelationshipEvent.objects.bulk_create(rows) if rows else []
