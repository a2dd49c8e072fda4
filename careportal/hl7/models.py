"""Every HL7 v2 message received, kept raw with its outcome: the interface's own journal.

Nothing a sending system gives us is lost: an accepted message is kept as proof of what was applied, a rejected
one waits in the unmatched-messages queue (/staff/hl7/unmatched/) until staff fix the patient match and replay it
or dismiss it with a reason.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from careportal.core.models import QueueIdField
from careportal.patients.models import Patient


class MessageStatus(models.TextChoices):
    APPLIED = "applied", "Applied"
    DUPLICATE = "duplicate", "Already applied (acknowledged again)"
    REJECTED = "rejected", "Rejected (AR): not readable, or refused for its sender"
    ERROR = "error", "Waiting for staff: could not be applied (AE)"
    REPLAYED = "replayed", "Replayed by staff"
    DISMISSED = "dismissed", "Dismissed by staff"
    IGNORED = "ignored", "Acknowledged: a message type CarePortal does not use"
    # Interfaces acknowledging after store (AckMode.AFTER_STORE): committed and acknowledged, not applied yet. A
    # worker (careportal/hl7/stored_services.py) takes it from here to one of the statuses above.
    STORED = "stored", "Stored: waiting to be applied"


class ErrorKind(models.TextChoices):
    MALFORMED = "malformed", "Not a readable HL7 message"
    UNKNOWN_PATIENT = "unknown_patient", "No patient matches"
    PATIENT_MISMATCH = "patient_mismatch", "Hospital number and NHS number name different patients"
    INVALID_NHS_NUMBER = "invalid_nhs_number", "NHS number fails the check-digit test"
    INVALID_CONTENT = "invalid_content", "Content not valid"
    UNSUPPORTED = "unsupported", "Message type not supported"
    CONTROL_ID_REUSED = "control_id_reused", "Control id used before by this sender for a different message"
    # Refused by the inbound interface configuration (/staff/hl7/interfaces/): answered AR, nothing applied.
    SENDER_UNKNOWN = "sender_unknown", "Sender not configured"
    TYPE_NOT_ALLOWED = "type_not_allowed", "Message type not allowed for this interface"
    ADDRESS_NOT_ALLOWED = "address_not_allowed", "Address not allowed for this interface"
    IMPLAUSIBLE_CONTENT = "implausible_content", "Implausible patient details"
    # Appointments (SIU) and documents (MDM).
    UNKNOWN_APPOINTMENT = "unknown_appointment", "No appointment with this id"
    INVALID_DOCUMENT = "invalid_document", "Document not readable or not allowed"


# Refusals a member of staff can clear by configuring the interface, then replaying the message.
INTERFACE_REFUSALS = frozenset({ErrorKind.SENDER_UNKNOWN, ErrorKind.TYPE_NOT_ALLOWED, ErrorKind.ADDRESS_NOT_ALLOWED})


class MessageSource(models.TextChoices):
    MLLP = "mllp", "MLLP listener"
    IMPORT = "import", "Batch import"
    REPLAY = "replay", "Replayed by staff"


class InboundMessage(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    received_at = models.DateTimeField()
    source = models.CharField(max_length=10, choices=MessageSource.choices, default=MessageSource.MLLP)
    peer = models.CharField(max_length=100, blank=True, help_text="The sending address, or the imported file name.")
    # The bytes exactly as received (without MLLP framing): a message that is not valid text is kept too.
    raw = models.BinaryField()
    # From MSH, when it could be read.
    control_id = models.CharField(max_length=60, blank=True)
    message_type = models.CharField(max_length=20, blank=True, help_text="For example ORU^R01.")
    sending_application = models.CharField(max_length=60, blank=True)
    sending_facility = models.CharField(max_length=60, blank=True)
    hl7_version = models.CharField(max_length=10, blank=True)
    # careportal.hl7.parsing.content_hash: the same for every copy of one message (whatever its line endings,
    # framing, batch wrapping or MSH-7), different when anything else differs. "" only for a row that was never
    # given one (see migration 0002): read as "not known".
    content_hash = models.CharField(max_length=64, blank=True)
    # The sender had used this control id before for a message with other content (a counter reset by an interface
    # engine restart, or a mix-up): kept, applied or answered AE by HL7_CONTROL_ID_REUSE, and listed for staff to
    # check until someone marks it checked (resolved_at).
    control_id_reused = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=MessageStatus.choices)
    ack_code = models.CharField(max_length=2, blank=True)
    error_kind = models.CharField(max_length=30, choices=ErrorKind.choices, blank=True)
    error_text = models.CharField(max_length=500, blank=True, help_text="The readable reason sent back in the ACK.")
    patient = models.ForeignKey(Patient, null=True, blank=True, on_delete=models.SET_NULL, related_name="hl7_messages")
    applied_at = models.DateTimeField(null=True, blank=True)
    # Empty on almost every message: indexed only where set (Meta.indexes), so that the journal's millions of rows
    # do not each cost these two indexes an entry.
    replay_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replays", db_index=False
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    resolution_note = models.CharField(max_length=500, blank=True)
    # Whose record the message is about, as the sender names it ("MSH-3^MSH-4|PID-3"), read when it is stored: the
    # workers that apply STORED messages keep each key's messages in arrival order (stored_services.stored_claim).
    patient_key = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-received_at", "-pk"]
        constraints = [
            # A message is applied once: a second copy (same sender, control id and content) is acknowledged
            # again and stored as a duplicate, even when both arrive at the same moment. A different message under
            # a control id the sender reused has another content_hash, so it may be applied too. The unique index
            # also serves the duplicate check's reads (sender, control id, then content).
            models.UniqueConstraint(
                fields=["sending_application", "sending_facility", "control_id", "content_hash"],
                condition=Q(status="applied"),
                name="hl7_applied_once",
            )
        ]
        indexes = [
            models.Index(fields=["status", "-received_at"], name="hl7_status_idx"),
            models.Index(fields=["sending_application", "control_id"], name="hl7_control_id_idx"),
            # The waiting messages only (few at any time, however long the journal): the workers' claim, oldest
            # first, and its check for older messages of the same patient held by another worker.
            models.Index(fields=["id"], condition=Q(status="stored"), name="hl7_stored_idx"),
            models.Index(fields=["patient_key", "id"], condition=Q(status="stored"), name="hl7_stored_patient_idx"),
            models.Index(fields=["replay_of"], condition=Q(replay_of__isnull=False), name="hl7_replay_of_idx"),
            models.Index(fields=["resolved_by"], condition=Q(resolved_by__isnull=False), name="hl7_resolved_by_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.message_type or 'unreadable'} {self.control_id}".strip()

    @property
    def needs_attention(self) -> bool:
        if self.resolved_at is not None:
            return False
        return self.status in {MessageStatus.ERROR, MessageStatus.REJECTED} or self.needs_reuse_check

    @property
    def needs_reuse_check(self) -> bool:
        """Applied under a control id the sender had used for another message, and nobody has checked it yet."""
        return self.control_id_reused and self.status == MessageStatus.APPLIED and self.resolved_at is None


class InboundArrival(models.Model):
    """A message from an interface that acknowledges after store, as the listener committed it before its ACK: a
    short-lived row, which a worker moves into the journal (InboundMessage, status STORED) a moment later and then
    applies (careportal/hl7/stored_services.py).

    Why a table of its own: the sender waits for this INSERT's commit, and the journal, which grows to tens of
    millions of rows, has seven indexes to update for every new row (one of them, its public id, at a random
    place). This table has no index but its key and stays a few rows long, so storing a message costs the same
    however long the journal is. It keeps only what cannot be read again from the message: when and from where
    it came, and the ACK code it was answered with. Its header's fields, its content fingerprint and its patient
    key are read again from `raw` by the worker that moves it (services.arrival_journal_fields), not while the
    sender waits. The ids' order is the order the workers move, and so apply, each patient's messages in."""

    id = QueueIdField(primary_key=True)
    received_at = models.DateTimeField()
    source = models.CharField(max_length=10, choices=MessageSource.choices, default=MessageSource.MLLP)
    peer = models.CharField(max_length=100, blank=True)
    raw = models.BinaryField()
    # The code of the ACK the sender was sent: AA, or CA for a sender in enhanced mode.
    ack_code = models.CharField(max_length=2)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"Arrival {self.pk}"


class AckMode(models.TextChoices):
    """When CarePortal acknowledges an interface's messages (docs/hl7.md, "When the ACK is sent")."""

    AFTER_APPLY = "after_apply", "After applying the message (AA, or AE with the reason)"
    AFTER_STORE = "after_store", "After storing the message, applied by workers just after (AA or CA)"


class InboundInterface(models.Model):
    """A hospital system allowed to send HL7 to CarePortal: who it is (MSH-3 and MSH-4), what it may send, from
    where, and whose hospital numbers it sends. A message matching no active interface is refused (AR) and changes
    nothing. Administered at /staff/hl7/interfaces/ by integration administrators; every change is kept in
    InboundInterfaceChange. Interfaces are deactivated, never deleted, so the history stays readable."""

    name = models.CharField(max_length=100, unique=True, help_text="What staff call it, for example Laboratory.")
    sending_application = models.CharField(max_length=60, help_text="MSH-3, for example WINPATH.")
    sending_facility = models.CharField(max_length=60, help_text="MSH-4, for example RRV_LAB.")
    # ["ORU^R01", "ADT^A04"]: message code ^ trigger event, upper case (validated by InterfaceForm).
    message_types = models.JSONField(default=list, help_text="Message types and trigger events, like ORU^R01.")
    # ["10.1.2.0/24", "::1/128"]: networks in ipaddress's normal form; at least one (an empty list allows none).
    source_networks = models.JSONField(default=list, help_text="IPv4 or IPv6 addresses or networks (CIDR).")
    hospital_number_authority = models.CharField(
        max_length=20,
        blank=True,
        help_text="PID-3 component 4 on the sender's hospital numbers, for example RRV. Blank: it sends none.",
    )
    ack_mode = models.CharField(
        max_length=20,
        choices=AckMode.choices,
        default=AckMode.AFTER_APPLY,
        help_text="When its messages are acknowledged: after they are applied, or as soon as they are stored.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["sending_application", "sending_facility"], name="hl7_one_interface_per_sender"
            )
        ]

    def __str__(self) -> str:
        return self.name


class InterfaceChangeAction(models.TextChoices):
    CREATED = "created", "Added"
    CHANGED = "changed", "Changed"
    DEACTIVATED = "deactivated", "Deactivated"
    REACTIVATED = "reactivated", "Reactivated"


class InboundInterfaceChange(models.Model):
    """Who changed an interface, when, and what: each field's value before and after. Never edited."""

    interface = models.ForeignKey(InboundInterface, on_delete=models.PROTECT, related_name="changes")
    changed_at = models.DateTimeField()
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The name as it was at the time, kept if the account is later removed.
    changed_by_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=20, choices=InterfaceChangeAction.choices)
    # {"field": {"from": ..., "to": ...}}
    changes = models.JSONField(default=dict)

    class Meta:
        ordering = ["-changed_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.changed_at:%Y-%m-%d %H:%M}"


class OutboundStatus(models.TextChoices):
    QUEUED = "queued", "Waiting to send"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent and accepted"
    FAILED = "failed", "Failed: needs attention"


class OutboundMessage(models.Model):
    """An HL7 v2 message CarePortal sends to a hospital system (today: ADT^A31 to the PAS when a patient changes
    their contact details), kept from the moment it is queued, in the same transaction as the change, until the
    receiver acknowledges it. Durable: a PAS that is down loses nothing, and a message that fails is listed for
    integration administrators at /staff/hl7/outbound/ (careportal/hl7/outbound.py sends them)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(
        Patient, null=True, blank=True, on_delete=models.SET_NULL, related_name="hl7_outbound_messages"
    )
    message_type = models.CharField(max_length=20, help_text="For example ADT^A31.")
    control_id = models.CharField(max_length=20, unique=True)
    # Which configured endpoint it is for ("pas"): the host and port come from settings when it is sent, so a
    # change of address reaches messages already queued.
    destination = models.CharField(max_length=20, default="pas")
    # The message exactly as sent, without MLLP framing.
    raw = models.BinaryField()
    status = models.CharField(max_length=10, choices=OutboundStatus.choices, default=OutboundStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    # The kind of failure only ("connection refused", "rejected (AE, HL7 error 204)"): never the receiver's text,
    # which may echo patient data.
    last_error = models.CharField(max_length=200, blank=True)
    ack_code = models.CharField(max_length=2, blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="hl7_outbound_due_idx"),
            models.Index(fields=["patient", "created_at"], name="hl7_outbound_patient_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.message_type} {self.control_id}"
