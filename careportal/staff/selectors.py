from django.db.models import QuerySet

from careportal.accounts.models import User
from careportal.patients.models import CareTeamMembership


def memberships_for(*, user: User) -> QuerySet[CareTeamMembership]:
    return (
        CareTeamMembership.objects.filter(user=user, is_active=True, care_team__is_active=True)
        .select_related("care_team")
        .order_by("care_team__name")
    )
