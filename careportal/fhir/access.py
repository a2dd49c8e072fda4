"""Connected apps through the access layer: the connections the signed-in person may see and disconnect (see
careportal/fhir/selectors.py for who sees which, and why), one of them by its public id or the one audited Http404,
and who is disconnecting it, for the patient's access log."""

from uuid import UUID

from django.http import HttpRequest

from careportal.access.layer import PatientChoice, Viewer, deny, patient_choices, request_facts
from careportal.accounts.models import User
from careportal.audit.models import AccessAction, ActorRole
from careportal.audit.services import access_event_record
from careportal.fhir import selectors

CONNECTION_LABEL = "a connected app"
LIST_LABEL = "the apps connected to your record"


def _viewer(request: HttpRequest, choice: PatientChoice) -> Viewer:
    return Viewer(
        user=request.user,  # type: ignore[arg-type]
        role=choice.role,
        patient=choice.patient,
        scopes=choice.scopes,
        proxy_relationship=choice.relationship,
        **request_facts(request),
    )


def visible_connections(*, request: HttpRequest) -> list[selectors.ConnectionState]:
    """The connections for /your-apps/, each with whether it still works. Each record whose apps are listed gets
    one "viewed the apps connected to your record" in its access log (by the patient, or the proxy on their
    behalf). A fixed number of queries however many apps there are."""
    user: User = request.user  # type: ignore[assignment]
    choices = patient_choices(user)
    connections = list(selectors.connections_visible_to(user_id=user.pk, choices=choices))
    shown = {c.patient_id for c in connections}
    for choice in choices:
        if choice.patient.pk in shown:
            access_event_record(
                viewer=_viewer(request, choice),
                patient=choice.patient,
                action=AccessAction.VIEW,
                object_label=LIST_LABEL,
            )
    return selectors.connection_states(connections, user_id=user.pk, choices=choices)


def access_connection(*, request: HttpRequest, public_id: UUID) -> tuple[Viewer, selectors.ConnectionState]:
    """One connection the signed-in person may disconnect, with the viewer who would disconnect it (the patient, or
    the proxy who connected it for a record they act for now). Http404, audited and naming no patient, for an
    unknown id, another patient's connection, or the patient's own app (or another proxy's) asked for by a proxy."""
    user: User = request.user  # type: ignore[assignment]
    choices = patient_choices(user)
    connection = selectors.connections_visible_to(user_id=user.pk, choices=choices).filter(public_id=public_id).first()
    if connection is None:
        deny(
            Viewer(user=user, role=ActorRole.PATIENT, **request_facts(request)),
            object_label=CONNECTION_LABEL,
            object_type="fhir.appconnection",
            object_id=str(public_id),
        )
    choice = next(c for c in choices if c.patient.pk == connection.patient_id)
    viewer = _viewer(request, choice)
    (state,) = selectors.connection_states([connection], user_id=user.pk, choices=choices)
    return viewer, state
