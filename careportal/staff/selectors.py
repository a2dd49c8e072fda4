from django.db.models import QuerySet

from careportal.access.layer import HL7_OPERATOR_PERMISSION, Viewer, reports_for_staff
from careportal.access.scopes import Scope
from careportal.accounts.models import User
from careportal.audit.models import ActorRole
from careportal.hl7.selectors import messages_needing_attention_count
from careportal.patients.models import CareTeamMembership


def memberships_for(*, user: User) -> QuerySet[CareTeamMembership]:
    return (
        CareTeamMembership.objects.filter(user=user, is_active=True, care_team__is_active=True)
        .select_related("care_team")
        .order_by("care_team__name")
    )


def unreviewed_results_count(*, viewer: Viewer) -> int | None:
    """Reports not yet reviewed in the clinician's teams' inboxes; None for staff without a results inbox."""
    if viewer.role != ActorRole.CLINICIAN or not viewer.can(Scope.RESULTS):
        return None
    return reports_for_staff(viewer).filter(reviewed_at__isnull=True).count()


def hl7_messages_needing_attention(*, user: User) -> int | None:
    """Messages waiting in the unmatched queue; None for staff who may not see the queue (it holds clinical data)."""
    if not user.has_perm(HL7_OPERATOR_PERMISSION):
        return None
    return messages_needing_attention_count()
