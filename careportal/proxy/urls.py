"""Proxy access under /access-for-others/: who acts for me, whom I act for, invitations and applications.

Relationships and invitations are addressed by their public ids; the invitation link's token is never logged."""

from django.urls import URLPattern

app_name = "proxy"
urlpatterns: list[URLPattern] = []
