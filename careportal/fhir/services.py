"""Connecting and disconnecting apps (writes). Reads are in selectors.py."""

from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import AbstractApplication, Grant, revoke_access_token

from careportal.access.layer import PatientChoice, Viewer
from careportal.accounts.models import User
from careportal.audit.models import AccessAction
from careportal.audit.services import access_event_record
from careportal.fhir.models import AppConnection, GrantConnection


def _connection_label(application: AbstractApplication) -> str:
    # In the patient's access log: "You added the app Health Diary's access to your record on ...".
    return f"the app {application.name or 'with no name'}'s access to your record"[:120]


def _record_change(*, viewer: Viewer, connection: AppConnection, action: AccessAction) -> None:
    access_event_record(
        viewer=viewer,
        patient=connection.patient,
        action=action,
        object_label=_connection_label(connection.application),
        obj=connection,
    )


@transaction.atomic
def app_connection_create(
    *, user: User, application: AbstractApplication, choice: PatientChoice, scopes: list[str], grant: Grant
) -> AppConnection:
    """`user` allows `application` to read `choice`'s record within `scopes`, through the code `grant`. Connecting
    the same app to the same record again replaces the earlier connection (and ends its tokens), so the connected
    apps page always shows what the app can see now."""
    for earlier in AppConnection.objects.filter(
        user=user, application=application, patient=choice.patient, revoked_at__isnull=True
    ):
        app_connection_revoke(connection=earlier)
    connection = AppConnection.objects.create(
        user=user, application=application, patient=choice.patient, scopes=" ".join(scopes)
    )
    GrantConnection.objects.create(grant=grant, connection=connection)
    viewer = Viewer(
        user=user,
        role=choice.role,
        patient=choice.patient,
        scopes=choice.scopes,
        proxy_relationship=choice.relationship,
    )
    _record_change(viewer=viewer, connection=connection, action=AccessAction.CREATE)
    return connection


@transaction.atomic
def app_connection_revoke(*, connection: AppConnection, by: Viewer | None = None) -> None:
    """Disconnect: the app's tokens stop working at once, its refresh tokens cannot mint new ones, and any code
    not yet exchanged is void. `by`, the person disconnecting it, is recorded in the patient's access log."""
    locked = AppConnection.objects.select_for_update().select_related("application", "patient").get(pk=connection.pk)
    if locked.revoked_at is None:
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        if by is not None:
            _record_change(viewer=by, connection=locked, action=AccessAction.DELETE)
    connection.revoked_at = locked.revoked_at
    for context in locked.token_contexts.select_related("access_token"):
        revoke_access_token(context.access_token)
    grant_ids = GrantConnection.objects.filter(connection=locked).values_list("grant_id", flat=True)
    Grant.objects.filter(pk__in=list(grant_ids)).delete()
