"""The access layer for proxy relationships outside the patient's own pages: an applicant's own application, and
any relationship for the helpdesk (account data only, never clinical). Built on the shared primitives in
careportal/access/layer.py; every refusal is the one audited `Http404`, the same for an unknown id and someone
else's."""

from dataclasses import replace
from uuid import UUID

from django.http import HttpRequest

from careportal.access.layer import Viewer, deny_object, request_facts
from careportal.access.scopes import Scope
from careportal.accounts.models import User
from careportal.audit.models import AccessAction, ActorRole
from careportal.audit.services import access_event_record
from careportal.proxy.models import ProxyOrigin, ProxyRelationship

# What the patient's "Who has viewed your record" log says the helpdesk looked at or changed.
APPLICATION_LABEL = "a request to act for you"
RELATIONSHIPS_LABEL = "who can act for you"


def applicant_viewer(request: HttpRequest) -> Viewer:
    """Someone applying to act for a patient: not yet acting for anyone, so no patient is in view."""
    user: User = request.user  # type: ignore[assignment]
    return Viewer(user=user, role=ActorRole.PROXY, **request_facts(request))


def access_own_application(*, viewer: Viewer, public_id: UUID | str) -> ProxyRelationship:
    """One of the viewer's own applications (with its patient), or Http404 for anyone else's and for an unknown id.

    Audited without a patient: the page tells the applicant about their own request, not about the patient's
    record."""
    found = (
        ProxyRelationship.objects.filter(proxy=viewer.user, origin=ProxyOrigin.APPLICATION, public_id=public_id)
        .select_related("patient")
        .first()
    )
    if found is None:
        deny_object(
            replace(viewer, patient=None),
            queryset=ProxyRelationship.objects.all(),
            public_id=public_id,
            object_label="a request to act for someone",
        )
    access_event_record(
        viewer=viewer,
        patient=None,
        action=AccessAction.VIEW,
        object_label="their request to act for someone",
        obj=found,
    )
    return found


def access_relationship_as_helpdesk(
    *,
    viewer: Viewer,
    public_id: UUID | str,
    object_label: str,
    action: AccessAction | None = AccessAction.VIEW,
) -> tuple[Viewer, ProxyRelationship]:
    """Any relationship or application, for the helpdesk, with its patient and proxy, and the viewer now naming the
    patient; Http404 (audited) for an unknown id and for anyone but the helpdesk. One query either way.

    With `action=None` nothing is recorded on success: the service that changes the relationship records the
    change with `staff_change_record` inside its own transaction, so a refused change leaves no "changed" event."""
    found = None
    if viewer.role == ActorRole.HELPDESK and viewer.can(Scope.ACCOUNT):
        found = (
            ProxyRelationship.objects.filter(public_id=public_id)
            .select_related("patient", "proxy", "verified_by")
            .first()
        )
    if found is None:
        deny_object(viewer, queryset=ProxyRelationship.objects.all(), public_id=public_id, object_label=object_label)
    viewer = replace(viewer, patient=found.patient)
    if action is not None:
        access_event_record(viewer=viewer, patient=found.patient, action=action, object_label=object_label, obj=found)
    return viewer, found
