"""The access layer for /access-for-others/: always about the signed-in person themself, never about the record a
proxy has open.

"People who can act for you" is the patient's own information, like their access log: only the patient reads or
changes it, never a proxy acting for them, and never staff here. So these pages build their own viewer from the
account's own patient record (`own_viewer`), whatever record the session has in view, and check the own-only scope
(Scope.ACCESS_LOG, which no proxy is ever given). The relationships where the signed-in person is the proxy are
looked up by `proxy=user`. Every refusal is the one audited `Http404`.
"""

from typing import NoReturn
from uuid import UUID

from django.http import HttpRequest

from careportal.access.layer import Viewer, access_object, access_patient_record, deny, deny_object, request_facts
from careportal.access.scopes import ALL_SCOPES, Scope
from careportal.accounts.models import User
from careportal.audit.models import AccessAction, ActorRole
from careportal.patients.models import Patient
from careportal.proxy.models import (
    LIVE_PROXY_STATUSES,
    InvitationStatus,
    ProxyInvitation,
    ProxyRelationship,
)

# The own-only scope: no proxy is ever granted it (PROXY_GRANTABLE_SCOPES), so a check against it refuses anyone but
# the patient themself, exactly as for the access log.
OWN_ONLY_SCOPE = Scope.ACCESS_LOG
PEOPLE_LABEL = "people who can act for you"
RELATIONSHIP_LABEL = "someone who can act for you"
INVITATION_LABEL = "an invitation to act for you"


def own_viewer(request: HttpRequest) -> Viewer:
    """The signed-in person as the patient of their own record (None patient when they have no record of their
    own), whichever record their session has open."""
    user: User = request.user  # type: ignore[assignment]
    own = Patient.objects.filter(user=user).first()
    return Viewer(
        user=user,
        role=ActorRole.PATIENT,
        patient=own,
        scopes=ALL_SCOPES if own is not None else frozenset(),
        **request_facts(request),
    )


def access_own_proxy_list(*, viewer: Viewer, action: AccessAction = AccessAction.VIEW) -> Patient:
    """The patient's own record, to read (or change) who can act for them; audited. Http404 for anyone else."""
    return access_patient_record(viewer=viewer, scope=OWN_ONLY_SCOPE, object_label=PEOPLE_LABEL, action=action)


def access_relationship_as_patient(*, viewer: Viewer, public_id: UUID | str) -> ProxyRelationship:
    """One relationship in which the signed-in person is the patient; Http404 (audited) for an unknown id or
    another patient's."""
    return access_object(
        viewer=viewer,
        queryset=ProxyRelationship.objects.select_related("proxy", "patient", "verified_by"),
        public_id=public_id,
        scope=OWN_ONLY_SCOPE,
        object_label=RELATIONSHIP_LABEL,
    )


def access_invitation_as_patient(*, viewer: Viewer, public_id: UUID | str) -> ProxyInvitation:
    """One of the patient's own pending invitations; Http404 (audited) otherwise."""
    return access_object(
        viewer=viewer,
        queryset=ProxyInvitation.objects.filter(status=InvitationStatus.PENDING),
        public_id=public_id,
        scope=OWN_ONLY_SCOPE,
        object_label=INVITATION_LABEL,
    )


def access_relationship_as_proxy(*, request: HttpRequest, public_id: UUID | str) -> ProxyRelationship:
    """One live relationship (active or waiting for the helpdesk) in which the signed-in person is the proxy;
    Http404 (audited, naming no patient) otherwise."""
    user: User = request.user  # type: ignore[assignment]
    queryset = ProxyRelationship.objects.filter(status__in=LIVE_PROXY_STATUSES).select_related("patient")
    relationship = queryset.filter(proxy=user, public_id=public_id).first()
    if relationship is None:
        viewer = Viewer(user=user, role=ActorRole.PROXY, **request_facts(request))
        deny_object(viewer, queryset=queryset, public_id=public_id, object_label="someone you act for")
    return relationship


def refuse(request: HttpRequest, *, object_label: str) -> NoReturn:
    """Refuse a page this person may not use (a proxy-only account inviting someone, a child managing a parent's
    access): the audited Http404."""
    deny(own_viewer(request), object_label=object_label, object_type="page", object_id=request.path[:80])
