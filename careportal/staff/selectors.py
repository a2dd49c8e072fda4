from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from careportal.access.layer import Viewer
from careportal.access.scopes import Scope
from careportal.accounts.models import User
from careportal.audit.models import ActorRole
from careportal.hl7.access import HL7_OPERATOR_PERMISSION
from careportal.hl7.selectors import OutboundCounts, messages_needing_attention_count, outbound_counts
from careportal.messaging.access import threads_for_staff
from careportal.messaging.models import ThreadStatus
from careportal.patients.models import CareTeamMembership
from careportal.results.access import reports_for_staff


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


def hl7_outbound_counts(*, user: User) -> OutboundCounts | None:
    """Messages to the PAS waiting or failed; None for staff who may not see the HL7 pages."""
    if not user.has_perm(HL7_OPERATOR_PERMISSION):
        return None
    return outbound_counts()


@dataclass(frozen=True)
class MessageCounts:
    new: int
    overdue: int


def message_counts(*, viewer: Viewer) -> MessageCounts | None:
    """New conversations in the clinician's teams' message inboxes, and how many of those are past the date the
    team aimed to reply by (trust time zone), in one query; None for staff without a message inbox."""
    if viewer.role != ActorRole.CLINICIAN or not viewer.can(Scope.MESSAGES):
        return None
    today = timezone.localdate()
    counts = threads_for_staff(viewer).aggregate(
        new=Count("pk", filter=Q(status=ThreadStatus.NEW)),
        overdue=Count("pk", filter=Q(status=ThreadStatus.NEW, reply_due_on__lt=today)),
    )
    return MessageCounts(new=counts["new"], overdue=counts["overdue"])
