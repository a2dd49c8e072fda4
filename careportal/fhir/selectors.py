"""Reading connected apps: the signed-in person's own connections only."""

from django.db.models import QuerySet
from django.http import Http404

from careportal.accounts.models import User
from careportal.fhir.models import AppConnection


def connections_for(*, user: User) -> QuerySet[AppConnection]:
    return (
        AppConnection.objects.filter(user=user, revoked_at__isnull=True)
        .select_related("application", "patient")
        .order_by("-created_at")
    )


def connection_of(*, user: User, public_id: str) -> AppConnection:
    """One of `user`'s live connections, or Http404 (the same for someone else's and for none)."""
    connection = connections_for(user=user).filter(public_id=public_id).first()
    if connection is None:
        raise Http404("Page not found")
    return connection
