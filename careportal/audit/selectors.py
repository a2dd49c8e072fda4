import datetime

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from careportal.audit.models import AccessEvent
from careportal.patients.models import Patient


def access_events_for_patient(*, patient: Patient) -> QuerySet[AccessEvent]:
    """The events a patient sees in "who has viewed your record": successful reads and changes, newest first.

    Refused attempts stay in the security log for the trust; they are not about this patient's data. Events older
    than CAREPORTAL_AUDIT_PATIENT_VIEW_YEARS are not shown (and never deleted).
    """
    since = timezone.now() - datetime.timedelta(days=365 * settings.CAREPORTAL_AUDIT_PATIENT_VIEW_YEARS)
    return (
        AccessEvent.objects.filter(patient=patient, succeeded=True, occurred_at__gte=since)
        .select_related("actor", "care_team", "on_behalf_of")
        .order_by("-occurred_at", "-id")
    )
