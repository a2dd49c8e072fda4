"""One of the signed-in person's own app connections by its public id, or the one audited Http404."""

from uuid import UUID

from careportal.access.layer import Viewer, deny
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
