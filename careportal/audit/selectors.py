from django.db.models import QuerySet

from careportal.audit.models import AccessEvent
from careportal.patients.models import Patient


def access_events_for_patient(*, patient: Patient) -> QuerySet[AccessEvent]:
    """The events a patient sees in "who has viewed your record": successful reads and changes, newest first.

    Refused attempts stay in the security log for the trust; they are not about this patient's data.
    """
    return (
        AccessEvent.objects.filter(patient=patient, succeeded=True)
        .select_related("actor", "care_team", "on_behalf_of")
        .order_by("-occurred_at", "-id")
    )
