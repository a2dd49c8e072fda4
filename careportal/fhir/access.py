"""One of the signed-in person's own app connections by its public id, or the one audited Http404; and who is
changing it, for the patient's access log."""

from uuid import UUID

from django.http import HttpRequest

from careportal.access.layer import Viewer, deny, patient_choices, request_facts
from careportal.accounts.models import User
from careportal.audit.models import ActorRole
from careportal.fhir import selectors
from careportal.fhir.models import AppConnection


def access_connection(*, user: User, public_id: UUID) -> AppConnection:
    connection = selectors.connections_for(user=user).filter(public_id=public_id).first()
    if connection is None:
        deny(
            Viewer(user=user, role=ActorRole.PATIENT),
            object_label="a connected app",
            object_type="fhir.appconnection",
            object_id=str(public_id),
        )
    return connection


def connection_viewer(request: HttpRequest, connection: AppConnection) -> Viewer:
    """The person changing their own connection, as the access log records them: the patient, or a proxy acting
    for the patient whose record the app reads (even if that access has since ended)."""
    choice = next((c for c in patient_choices(request.user) if c.patient.pk == connection.patient_id), None)  # type: ignore[arg-type]
    own = connection.patient.user_id == request.user.pk
    return Viewer(
        user=request.user,  # type: ignore[arg-type]
        role=ActorRole.PATIENT if own else ActorRole.PROXY,
        patient=connection.patient,
        proxy_relationship=choice.relationship if choice is not None else None,
        **request_facts(request),
    )
