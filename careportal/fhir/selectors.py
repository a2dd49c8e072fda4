"""Reading connected apps: the signed-in person's own connections only."""

from django.db.models import QuerySet

from careportal.accounts.models import User
from careportal.fhir.models import AppConnection


def connections_for(*, user: User) -> QuerySet[AppConnection]:
    return (
        AppConnection.objects.filter(user=user, revoked_at__isnull=True)
        .select_related("application", "patient")
        .order_by("-created_at")
    )
