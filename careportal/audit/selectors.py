import datetime

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from careportal.audit.models import AccessEvent
from careportal.patients.models import Patient


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


def access_events_for_patient(*, patient: Patient) -> QuerySet[AccessEvent]:
    """The events a patient sees in "who has viewed your record": successful reads and changes, newest first,
    including those of records merged into theirs.

    Refused attempts stay in the security log for the trust; they are not about this patient's data. Events older
    than CAREPORTAL_AUDIT_PATIENT_VIEW_YEARS are not shown (and never deleted).
    """
    since = timezone.now() - datetime.timedelta(days=365 * settings.CAREPORTAL_AUDIT_PATIENT_VIEW_YEARS)
    return (
        AccessEvent.objects.filter(patient__in=record_ids_of(patient), succeeded=True, occurred_at__gte=since)
        .select_related("actor", "care_team", "on_behalf_of")
        .order_by("-occurred_at", "-id")
    )
