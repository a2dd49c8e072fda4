"""Reads for the HL7 message pages under /staff/hl7/. Who may read them is decided by the access layer
(`hl7_operator_viewer`, `access_message_as_operator`); these functions only say which rows."""

from django.db.models import QuerySet

from careportal.hl7.models import InboundMessage, MessageStatus
from careportal.patients.models import Patient

ATTENTION_STATUSES = (MessageStatus.ERROR, MessageStatus.REJECTED)


def messages_needing_attention() -> QuerySet[InboundMessage]:
    """Rejected or failed messages nobody has replayed or dismissed yet, newest first (the unmatched queue)."""
    return (
        InboundMessage.objects.filter(status__in=ATTENTION_STATUSES, resolved_at__isnull=True)
        .defer("raw")
        .order_by("-received_at", "-pk")
    )


def messages_needing_attention_count() -> int:
    return InboundMessage.objects.filter(status__in=ATTENTION_STATUSES, resolved_at__isnull=True).count()


def messages_recent(*, status: str = "") -> QuerySet[InboundMessage]:
    """Every message received, newest first, optionally of one status: the operator's overview."""
    queryset = InboundMessage.objects.defer("raw").order_by("-received_at", "-pk")
    if status:
        queryset = queryset.filter(status=status)
    return queryset


def message_replays(*, message: InboundMessage) -> list[InboundMessage]:
    """Earlier replays of this message by staff, newest first."""
    return list(message.replays.defer("raw").select_related("resolved_by").order_by("-received_at", "-pk"))


def patient_by_hospital_number(*, hospital_number: str) -> Patient | None:
    """The patient with this hospital number, if any. A record merged into another has no identifiers left, so it
    is never found here (its survivor is)."""
    return Patient.objects.filter(hospital_number__iexact=hospital_number, merged_into__isnull=True).first()


def patient_by_public_id(*, public_id: str) -> Patient | None:
    return Patient.objects.filter(public_id=public_id, merged_into__isnull=True).first()
