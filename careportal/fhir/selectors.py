"""Reading connected apps: which of them the signed-in person sees on /your-apps/, and whether each still works.

Who sees which connection (docs/smart-on-fhir.md, "Connected apps"):
- a patient sees every app connected to their own record, whoever connected it (themself, or a proxy on their
  behalf), and may disconnect any of them;
- a proxy sees, for each record they act for now, only the apps they connected to it themself. Not the patient's
  own apps, nor another proxy's: which apps read a record is the patient's own information, like their access log
  and the list of people who act for them (the own-only scope, which no proxy is given), and an app's name alone
  can tell something sensitive (a sexual-health or mental-health app). A proxy whose access has ended sees none of
  that record's apps; their connections already refuse every token, and the patient can disconnect them.
"""

from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils import timezone

from careportal.access.layer import PatientChoice
from careportal.access.proxy_policy import effective_proxy_scopes
from careportal.access.scopes import Scope
from careportal.audit.models import ActorRole
from careportal.fhir import smart
from careportal.fhir.models import AppConnection
from careportal.proxy.models import ProxyPolicy, ProxyRelationship, ProxyStatus


def _visible(choices: list[PatientChoice], *, user_id: int) -> Q | None:
    """The live connections this person may see and disconnect, given the records they may open now."""
    own = [c.patient.pk for c in choices if c.role == ActorRole.PATIENT]
    acted_for = [c.patient.pk for c in choices if c.role == ActorRole.PROXY]
    condition = Q(patient_id__in=own) if own else None
    if acted_for:
        by_me = Q(user_id=user_id, patient_id__in=acted_for)
        condition = by_me if condition is None else condition | by_me
    return condition


def connections_visible_to(*, user_id: int, choices: list[PatientChoice]) -> QuerySet[AppConnection]:
    """Live connections for the connected-apps page: the patient's own record's (by anyone), and those this person
    connected to a record they act for now. One query."""
    condition = _visible(choices, user_id=user_id)
    if condition is None:
        return AppConnection.objects.none()
    return (
        AppConnection.objects.filter(condition, revoked_at__isnull=True)
        .select_related("application", "patient", "user")
        .order_by("-created_at", "-pk")
    )


@dataclass(frozen=True)
class ConnectionState:
    connection: AppConnection
    # False once whoever connected the app no longer sees all it was allowed to read (their access ended or
    # narrowed): its tokens are then refused (careportal/fhir/authentication.py) and the page says it has stopped.
    working: bool


def connection_still_allowed(connection: AppConnection, *, record_scopes: frozenset[Scope]) -> bool:
    """Whether someone who now sees `record_scopes` of the record may still have this app read what it was given."""
    return bool(record_scopes) and smart.record_scopes_needed(connection.scopes.split()) <= record_scopes


def connection_states(
    connections: list[AppConnection], *, user_id: int, choices: list[PatientChoice]
) -> list[ConnectionState]:
    """Each connection the person sees, with whether it still works. Their own connections are judged by their own
    current access (`choices`); the ones proxies made to the person's own record by each proxy's current access:
    one query, only when there are such connections."""
    mine = {c.patient.pk: c.scopes for c in choices}
    by_others = [c for c in connections if c.user_id != user_id]
    theirs: dict[tuple[int, int], frozenset[Scope]] = {}
    if by_others:
        today, policy = timezone.localdate(), ProxyPolicy.current()
        relationships = ProxyRelationship.objects.filter(
            status=ProxyStatus.ACTIVE,
            patient_id__in={c.patient_id for c in by_others},
            proxy_id__in={c.user_id for c in by_others},
        ).select_related("patient")
        for relationship in relationships:
            key = (relationship.patient_id, relationship.proxy_id)
            theirs[key] = theirs.get(key, frozenset()) | effective_proxy_scopes(
                relationship, today=today, policy=policy
            )
    states = []
    for connection in connections:
        if connection.user_id == user_id:
            scopes = mine.get(connection.patient_id, frozenset())
        else:
            scopes = theirs.get((connection.patient_id, connection.user_id), frozenset())
        states.append(
            ConnectionState(connection=connection, working=connection_still_allowed(connection, record_scopes=scopes))
        )
    return states
