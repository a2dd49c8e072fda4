"""Proxy access under /access-for-others/: who acts for me, whom I act for, invitations and applications.

Relationships and invitations are addressed by their public ids; the invitation link's token is never logged
(careportal/proxy/views/invitations.py)."""

from django.urls import path

from careportal.proxy.views import applications, hub, invitations, relationships

app_name = "proxy"
urlpatterns = [
    path("access-for-others/", hub.hub, name="hub"),
    path("access-for-others/people/<uuid:relationship_id>/", relationships.relationship, name="relationship"),
    path("access-for-others/people/<uuid:relationship_id>/take-away-access/", relationships.revoke, name="revoke"),
    path("access-for-others/acting-for/<uuid:relationship_id>/stop/", relationships.stop, name="stop"),
    path("access-for-others/invite/", invitations.invite, name="invite"),
    path(
        "access-for-others/invitations/<uuid:invitation_id>/cancel/",
        invitations.invitation_cancel,
        name="invitation-cancel",
    ),
    path("access-for-others/invitation/", invitations.invitation, name="invitation"),
    path("access-for-others/invitations/<str:token>/", invitations.invitation_link, name="invitation-link"),
    path("access-for-others/create-account/", invitations.create_account, name="create-account"),
    # Applying to act for a child, or for an adult who cannot manage their own care (views/applications.py).
    path("access-for-others/apply/", applications.apply, name="apply"),
    path("access-for-others/apply/<uuid:application_id>/", applications.application, name="application"),
]
