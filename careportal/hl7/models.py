"""Every HL7 v2 message received, kept raw with its outcome: the interface's own journal.

Nothing a sending system gives us is lost: an accepted message is kept as proof of what was applied, a rejected
one waits in the unmatched-messages queue (/staff/hl7/unmatched/) until staff fix the patient match and replay it
or dismiss it with a reason.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from careportal.patients.models import Patient


class MessageStatus(models.TextChoices):
    APPLIED = "applied", "Applied"
    DUPLICATE = "duplicate", "Already applied (acknowledged again)"
    REJECTED = "rejected", "Rejected: not a readable HL7 message (AR)"
    ERROR = "error", "Waiting for staff: could not be applied (AE)"
    REPLAYED = "replayed", "Replayed by staff"
    DISMISSED = "dismissed", "Dismissed by staff"
    IGNORED = "ignored", "Acknowledged: a message type CarePortal does not use"


class ErrorKind(models.TextChoices):
    MALFORMED = "malformed", "Not a readable HL7 message"
    UNKNOWN_PATIENT = "unknown_patient", "No patient matches"
    PATIENT_MISMATCH = "patient_mismatch", "Hospital number and NHS number name different patients"
    INVALID_NHS_NUMBER = "invalid_nhs_number", "NHS number fails the check-digit test"
    INVALID_CONTENT = "invalid_content", "Content not valid"
    UNSUPPORTED = "unsupported", "Message type not supported"
    CONTROL_ID_REUSED = "control_id_reused", "Control id used before by this sender for a different message"


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
    replay_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replays")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution_note = models.CharField(max_length=500, blank=True)

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
