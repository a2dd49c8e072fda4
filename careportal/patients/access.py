"""The access layer for patients: which patients a member of staff may look up, and one patient for them.

Built on the shared primitives in `careportal/access/layer.py`; every refusal is the one audited `Http404`.
"""

from dataclasses import replace
from uuid import UUID

from django.db.models import QuerySet

from careportal.access.layer import Viewer, deny
from careportal.access.scopes import Scope
from careportal.audit.models import AccessAction, ActorRole
from careportal.audit.services import access_event_record
from careportal.patients.models import CareTeam, Patient


def patients_for_staff(viewer: Viewer) -> QuerySet[Patient]:
    """Patients a member of staff may look up: for a clinician, those with an active relationship to one of
    their care teams; for the helpdesk, every patient (account data only: see HELPDESK_SCOPES)."""
    if viewer.role == ActorRole.HELPDESK:
        return Patient.objects.all()
    if viewer.role != ActorRole.CLINICIAN:
        return Patient.objects.none()
    teams = viewer.user.care_team_memberships.filter(is_active=True, care_team__is_active=True)
    if viewer.care_team is not None:
        teams = teams.filter(care_team=viewer.care_team)
    return Patient.objects.filter(
        care_relationships__care_team__in=teams.values("care_team"),
        care_relationships__ended_at__isnull=True,
    ).distinct()


def access_patient_as_staff(
    *,
    viewer: Viewer,
    public_id: UUID | str,
    scope: Scope,
    object_label: str,
    action: AccessAction = AccessAction.VIEW,
) -> tuple[Viewer, Patient]:
    """A patient a member of staff may see, with the viewer now naming that patient; Http404 otherwise."""
    patient = None
    if viewer.can(scope):
        patient = patients_for_staff(viewer).filter(public_id=public_id).first()
    if patient is None:
        deny(viewer, object_label=object_label, object_type="patients.patient", object_id=str(public_id))
    care_team = viewer.care_team
    if care_team is None and viewer.role == ActorRole.CLINICIAN:
        # Name the team through which the clinician reached the record, so the patient's log can say
        # "Dr A Okafor, Haematology, viewed ...".
        care_team = CareTeam.objects.filter(
            memberships__user=viewer.user,
            memberships__is_active=True,
            care_relationships__patient=patient,
            care_relationships__ended_at__isnull=True,
        ).first()
    viewer = replace(viewer, patient=patient, care_team=care_team)
    access_event_record(viewer=viewer, patient=patient, action=action, object_label=object_label)
    return viewer, patient
