"""Who is calling the FHIR API: a bearer token → its connected app → the person and the one record it is for.

Every FHIR read starts here (`caller_for_request`), then goes through the same access layer as the pages with
`FhirCaller.viewer`, which carries the app's name into every audit event. The viewer is rebuilt on every request
from the person's current relationships (`patient_choices`), so a proxy whose access was revoked, or a parent whose
child turned 16, is refused or narrowed through an app exactly as in the portal.

SMART scopes (SMART App Launch 2.0) narrow further: `patient/*.read` or `patient/*.rs` for everything, or
`patient/Observation.read` / `patient/Observation.rs` for one resource type. v1 `read` gives read and search; in v2
`r` gives read and `s` search.
"""

import datetime
import re
from dataclasses import dataclass, replace
from typing import Literal

from django.http import HttpRequest
from django.utils import timezone
from oauth2_provider.oauth2_backends import get_oauthlib_core

from careportal.access.layer import Viewer, patient_choice_for, request_facts
from careportal.fhir import smart
from careportal.fhir.models import AppConnection, TokenContext

Interaction = Literal["read", "search"]
LAST_USED_RESOLUTION = datetime.timedelta(minutes=5)

_PATIENT_SCOPE = re.compile(r"^patient/(?P<type>\*|[A-Z][A-Za-z]+)\.(?P<perms>read|[cruds]+)(\?.*)?$")


class FhirUnauthorized(Exception):
    """No token, or one that is unknown, expired, revoked, or whose connection or relationship has ended: 401."""


@dataclass(frozen=True)
class ResourceGrant:
    resource_type: str  # "*" for all
    read: bool
    search: bool


def resource_grants(scope: str) -> tuple[ResourceGrant, ...]:
    """The resource-level grants in an OAuth scope string; other scopes (openid, launch/patient, ...) give none."""
    grants = []
    for item in scope.split():
        match = _PATIENT_SCOPE.match(item)
        if match is None:
            continue
        perms = match["perms"]
        if perms == "read":
            grants.append(ResourceGrant(match["type"], read=True, search=True))
        else:
            grants.append(ResourceGrant(match["type"], read="r" in perms, search="s" in perms))
    return tuple(grants)


@dataclass(frozen=True)
class FhirCaller:
    """The person (patient or proxy) reading one patient's record through one app."""

    viewer: Viewer
    connection: AppConnection
    grants: tuple[ResourceGrant, ...]

    @property
    def app_name(self) -> str:
        return self.viewer.app_name

    def may(self, resource_type: str, interaction: Interaction) -> bool:
        """Whether the token's scopes allow this interaction on this resource type (403 otherwise)."""
        return any(grant.resource_type in ("*", resource_type) and getattr(grant, interaction) for grant in self.grants)


def caller_for_request(request: HttpRequest) -> FhirCaller:
    """The caller for a FHIR request with `Authorization: Bearer <token>`, or FhirUnauthorized."""
    valid, oauth_request = get_oauthlib_core().verify_request(request, scopes=[])
    token = getattr(oauth_request, "access_token", None) if valid else None
    if token is None:
        raise FhirUnauthorized("The access token is missing, unknown or expired.")
    # Read with the token (careportal/fhir/oauth.py SmartValidator._load_access_token): no query of its own.
    context: TokenContext | None = getattr(token, "careportal_context", None)
    if context is None or context.connection.revoked_at is not None:
        raise FhirUnauthorized("This app's access has been taken away.")
    connection = context.connection
    # django-oauth-toolkit read the token with its user and app just now; the connection names the same ones, so
    # they are not read again (were they ever different, the connection's own would be read when first used).
    if connection.user_id == token.user_id and token.user is not None:
        connection.user = token.user
    if connection.application_id == token.application_id and token.application is not None:
        connection.application = token.application
    user = connection.user
    if not user.is_active:
        raise FhirUnauthorized("The account this app acts for is no longer active.")
    choice = patient_choice_for(user, connection.patient)
    if choice is None:
        raise FhirUnauthorized("The person who connected this app can no longer see this record.")
    # A proxy whose access narrowed (the patient or staff took a part away, or the child turned 16) no longer
    # sees everything they let the app read: the connection stops, rather than quietly reading less, so that the
    # app, the proxy and the patient all see that it must be connected again for what the proxy may share now.
    if not smart.record_scopes_needed(connection.scopes.split()) <= choice.scopes:
        raise FhirUnauthorized("The person who connected this app can no longer see all it was allowed to read.")
    viewer = Viewer(
        user=user,
        role=choice.role,
        patient=choice.patient,
        scopes=choice.scopes,
        proxy_relationship=choice.relationship,
        **request_facts(request),
    )
    viewer = replace(viewer, app_name=connection.application.name or "An app")
    # "Last used" on the connected-apps page needs minutes, not every request: an app paging through a record
    # would otherwise write to the database on every read.
    now = timezone.now()
    if connection.last_used_at is None or now - connection.last_used_at >= LAST_USED_RESOLUTION:
        AppConnection.objects.filter(pk=connection.pk).update(last_used_at=now)
    return FhirCaller(viewer=viewer, connection=connection, grants=resource_grants(token.scope))
