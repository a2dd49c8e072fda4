"""Reads for the patient's (and proxy's) appointments pages, all starting from the access layer's
`visible_appointments`."""

import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from careportal.access.layer import Viewer
from careportal.appointments.access import visible_appointments
from careportal.appointments.models import Appointment, AppointmentStatus

# Still to come: an appointment that has not ended, booked or cancelled (a cancelled one stays in the list until its
# time has passed, so that the patient sees it was cancelled). Anything else is past.
UPCOMING_STATUSES = (AppointmentStatus.BOOKED, AppointmentStatus.CANCELLED)


def _upcoming(now: datetime.datetime) -> Q:
    return Q(end__gt=now, status__in=UPCOMING_STATUSES)


def upcoming_appointments(*, viewer: Viewer, now: datetime.datetime | None = None) -> QuerySet[Appointment]:
    """Soonest first, with their clinics (one query for the whole list)."""
    now = now or timezone.now()
    return visible_appointments(viewer=viewer).filter(_upcoming(now)).select_related("clinic").order_by("start", "pk")


def past_appointments(*, viewer: Viewer, now: datetime.datetime | None = None) -> QuerySet[Appointment]:
    """Most recent first, with their clinics."""
    now = now or timezone.now()
    return (
        visible_appointments(viewer=viewer).exclude(_upcoming(now)).select_related("clinic").order_by("-start", "-pk")
    )


def upcoming_count(*, viewer: Viewer, now: datetime.datetime | None = None) -> int:
    """How many booked appointments are to come (the home page card: a count, never what they are)."""
    now = now or timezone.now()
    return visible_appointments(viewer=viewer).filter(end__gt=now, status=AppointmentStatus.BOOKED).count()
