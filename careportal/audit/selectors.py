import datetime
import uuid
from collections.abc import Iterable
from enum import StrEnum

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from careportal.audit.models import AccessEvent, ActorRole
from careportal.patients.models import Patient


class WhoFilter(StrEnum):
    """Whose actions the patient's log shows: a fixed set of words in the query string, never a name or an id."""

    OTHERS = "others"
    HOSPITAL = "hospital"
    PROXIES = "acting-for-you"
    YOU = "you"
    EVERYONE = "everyone"

    @classmethod
    def parse(cls, value: str | None) -> "WhoFilter":
        """The filter a request asks for; anything else (or nothing) is the default: everyone but the patient."""
        try:
            return cls(value or cls.OTHERS)
        except ValueError:
            return cls.OTHERS


def record_ids_of(patient: Patient) -> list[int]:
    """The patient's own record and every record the hospital's PAS merged into it (ADT^A40), at any depth.

    Audit events are append-only, so the events of a merged record stay with it; the patient still sees them.
    """
    ids = [patient.pk]
    frontier = [patient.pk]
    while frontier:
        frontier = list(
            Patient.objects.filter(merged_into__in=frontier).exclude(pk__in=ids).values_list("pk", flat=True)
        )
        ids.extend(frontier)
    return ids


def _by_the_patient(patient: Patient) -> Q:
    return Q(actor_role=ActorRole.PATIENT, actor_id=patient.user_id) if patient.user_id else Q(pk__in=[])


def _who_q(who: WhoFilter, *, patient: Patient) -> Q:
    if who == WhoFilter.YOU:
        return _by_the_patient(patient)
    if who == WhoFilter.OTHERS:
        return ~_by_the_patient(patient)
    if who == WhoFilter.PROXIES:
        return Q(actor_role=ActorRole.PROXY)
    if who == WhoFilter.HOSPITAL:
        return Q(actor_role__in=[ActorRole.CLINICIAN, ActorRole.HELPDESK, ActorRole.SYSTEM])
    return Q()


def access_events_for_patient(*, patient: Patient, who: WhoFilter = WhoFilter.EVERYONE) -> QuerySet[AccessEvent]:
    """The events a patient sees in "who has viewed your record": successful reads and changes, newest first,
    including those of records merged into theirs.

    Refused attempts stay in the security log for the trust; they are not about this patient's data. Events older
    than CAREPORTAL_AUDIT_PATIENT_VIEW_YEARS are not shown (and never deleted).
    """
    since = timezone.now() - datetime.timedelta(days=365 * settings.CAREPORTAL_AUDIT_PATIENT_VIEW_YEARS)
    return (
        AccessEvent.objects.filter(patient__in=record_ids_of(patient), succeeded=True, occurred_at__gte=since)
        .filter(_who_q(who, patient=patient))
        .select_related("actor", "care_team", "on_behalf_of")
        .order_by("-occurred_at", "-id")
    )


def event_names(*, patient: Patient, events: Iterable[AccessEvent]) -> tuple[dict[str, str], dict[int, str]]:
    """For one page of the patient's log, in two queries whatever its length: the test name of each of the
    patient's results the events name (public id -> test name), and how each person who acted for the patient is
    related to them (proxy user id -> "mother"). Only this patient's (and merged records') rows are read."""
    from careportal.proxy.models import ProxyRelationship
    from careportal.results.models import DiagnosticReport

    events = list(events)
    report_ids = {e.object_id for e in events if e.object_type == "results.diagnosticreport" and _is_uuid(e.object_id)}
    proxy_ids = {e.actor_id for e in events if e.actor_role == ActorRole.PROXY and e.actor_id}
    records = record_ids_of(patient)
    reports: dict[str, str] = {}
    if report_ids:
        found = DiagnosticReport.objects.filter(patient__in=records, public_id__in=report_ids)
        reports = {str(public_id): name for public_id, name in found.values_list("public_id", "test_name")}
    relationships: dict[int, str] = {}
    if proxy_ids:
        granted = ProxyRelationship.objects.filter(patient__in=records, proxy__in=proxy_ids).order_by("-pk")
        for proxy_id, relationship in granted.values_list("proxy_id", "relationship"):
            relationships.setdefault(proxy_id, relationship)
    return reports, relationships


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
