"""The access layer for "download my record": who may ask for a copy of which record, which parts it may hold, and
one copy by its public id. Built on careportal/access/layer.py; every refusal is the one audited Http404.

A copy belongs to the person who asked for it, for the record they asked about: the patient does not see a copy
their proxy made (nor the other way round), and another patient's copy, or an unknown id, is "not found". A copy
is served only while its requester can still see every part it holds: a proxy whose access narrowed since cannot
download what they could see before.
"""

from uuid import UUID

from careportal.access.layer import PatientChoice, Viewer, deny, patient_choices
from careportal.access.scopes import Scope
from careportal.audit.models import AccessAction, ActorRole
from careportal.audit.services import access_event_record
from careportal.fhir.models import RecordExport, RecordExportRole

# The parts of a record a copy can hold. The access log is the patient's own (Scope.ACCESS_LOG is never a proxy's).
EXPORTABLE_SCOPES = frozenset(
    {Scope.DETAILS, Scope.RESULTS, Scope.APPOINTMENTS, Scope.LETTERS, Scope.MESSAGES, Scope.ACCESS_LOG}
)
LABEL_COPY = "a copy of your record"


class ExportAccessEnded(Exception):
    """The requester can no longer see (all of) the record the copy is of. `reason` is plain words for them."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def export_scopes(viewer: Viewer) -> frozenset[Scope]:
    """What a copy asked for now by `viewer` may hold: their scopes, less anything a copy never holds. A proxy's
    copy never has the access log, whatever they hold."""
    scopes = viewer.scopes & EXPORTABLE_SCOPES
    if viewer.role != ActorRole.PATIENT:
        scopes -= {Scope.ACCESS_LOG}
    return scopes


def access_export_request(*, viewer: Viewer, action: AccessAction | None = None) -> frozenset[Scope]:
    """The parts of the record in view that `viewer` may have a copy of; Http404 (audited) when there are none
    or they are not a patient or proxy. Audited as `action` when one is given (asking for the copy)."""
    scopes = export_scopes(viewer)
    if viewer.patient is None or viewer.role not in (ActorRole.PATIENT, ActorRole.PROXY) or not scopes:
        deny(viewer, object_label=LABEL_COPY, object_type="scope", object_id="record_export")
    if action is not None:
        access_event_record(viewer=viewer, patient=viewer.patient, action=action, object_label=LABEL_COPY)
    return scopes


def access_record_export(
    *, viewer: Viewer, public_id: UUID | str, action: AccessAction | None = None, object_label: str = LABEL_COPY
) -> RecordExport:
    """One copy asked for by this person for the record in view, or the audited Http404. Audited as `action` when
    one is given (a download)."""
    export = None
    if viewer.patient is not None and export_scopes(viewer):
        export = (
            RecordExport.objects.filter(patient=viewer.patient, requested_by=viewer.user, public_id=public_id)
            .select_related("patient")
            .first()
        )
    if export is None or not set(export.scopes) <= set(export_scopes(viewer)):
        deny(viewer, object_label=object_label, object_type="fhir.recordexport", object_id=str(public_id))
    if action is not None:
        access_event_record(viewer=viewer, patient=viewer.patient, action=action, object_label=object_label, obj=export)
    return export


def export_viewer(export: RecordExport) -> Viewer:
    """The requester as they are now, for the record the copy is of, seeing only the parts the copy may hold
    (rebuilt when the copy is made, so access that ended meanwhile is noticed). Raises ExportAccessEnded."""
    user = export.requested_by
    if not user.is_active:
        raise ExportAccessEnded("The account that asked for this copy is no longer active.")
    wanted_role = ActorRole.PATIENT if export.requested_as == RecordExportRole.PATIENT else ActorRole.PROXY
    choice: PatientChoice | None = next(
        (c for c in patient_choices(user) if c.patient.pk == export.patient_id and c.role == wanted_role), None
    )
    if choice is None:
        raise ExportAccessEnded("Access to this record ended after the copy was asked for.")
    wanted = frozenset(Scope(s) for s in export.scopes)
    viewer = Viewer(
        user=user,
        role=choice.role,
        patient=choice.patient,
        scopes=choice.scopes,
        proxy_relationship=choice.relationship,
    )
    if not wanted <= export_scopes(viewer):
        raise ExportAccessEnded("Access to part of this record changed after the copy was asked for.")
    return Viewer(
        user=user, role=choice.role, patient=choice.patient, scopes=wanted, proxy_relationship=choice.relationship
    )
