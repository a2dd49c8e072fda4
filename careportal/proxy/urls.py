"""Proxy access under /access-for-others/: who acts for me, whom I act for, invitations and applications.

Relationships and invitations are addressed by their public ids; the invitation link's token is never logged."""

from django.urls import URLPattern, path

from careportal.proxy.views import applications

app_name = "proxy"
urlpatterns: list[URLPattern] = []

# Applying to act for someone (careportal/proxy/views/applications.py).
urlpatterns += [
    path("access-for-others/apply/", applications.apply, name="apply"),
    path("access-for-others/apply/<uuid:application_id>/", applications.application, name="application"),
]
