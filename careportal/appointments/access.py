"""The access layer for appointments: which appointments a viewer may see, and one appointment by its public id.

Built on the shared primitives in `careportal/access/layer.py`; every refusal is the one audited `Http404`. The
patient and every proxy with the appointments scope see the patient's appointments, except two kinds the patient
never saw as real: one whose cancellation arrived before its booking (never booked) and one the PAS deleted as
entered in error. A proxy also never sees one in a sensitive category (its clinic's or care team's) that staff have
not granted them: not in a list, not by its id (page, calendar file, joining, request to change).
"""

from uuid import UUID

from django.db.models import QuerySet

from careportal.access.layer import (
    Viewer,
    access_object,
    access_patient_record,
    scoped_to_patient,
    without_ungranted_sensitive,
)
from careportal.access.scopes import Scope
from careportal.appointments.models import Appointment, AppointmentStatus
from careportal.audit.models import AccessAction
from careportal.patients.models import Patient


def visible_appointments(*, viewer: Viewer) -> QuerySet[Appointment]:
    """The viewer's patient's appointments they may see. Not audited: read them through `access_appointments` or
    `access_appointment`."""
    appointments = (
        scoped_to_patient(viewer=viewer, queryset=Appointment.objects.all(), scope=Scope.APPOINTMENTS)
        .filter(booked_at__isnull=False)
        .exclude(status=AppointmentStatus.ENTERED_IN_ERROR)
    )
    return without_ungranted_sensitive(viewer=viewer, queryset=appointments)


def access_appointments(*, viewer: Viewer, object_label: str = "appointments") -> Patient:
    """The patient in view, for a page listing their appointments; audited, or Http404 without the scope."""
    patient: Patient = access_patient_record(viewer=viewer, scope=Scope.APPOINTMENTS, object_label=object_label)
    return patient


def access_appointment(
    *,
    viewer: Viewer,
    public_id: UUID | str,
    object_label: str = "appointment",
    action: AccessAction = AccessAction.VIEW,
) -> Appointment:
    """One appointment of the patient in view, with its clinic, team and patient; Http404 (audited) otherwise."""
    return access_object(
        viewer=viewer,
        queryset=visible_appointments(viewer=viewer).select_related("clinic", "care_team", "patient"),
        public_id=public_id,
        scope=Scope.APPOINTMENTS,
        object_label=object_label,
        action=action,
    )
