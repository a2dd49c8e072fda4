"""Requests for technical help from the Get help page, the helpdesk's replies, and the helpdesk's own action log."""

import uuid

from django.conf import settings
from django.db import models


class SupportTopic(models.TextChoices):
    ACCOUNT_SETUP = "account_setup", "Setting up my account"
    SIGNING_IN = "signing_in", "Signing in"
    TWO_STEP = "two_step", "Two-step verification"
    USING_THE_PORTAL = "using_the_portal", "Using the portal"
    SOMETHING_ELSE = "something_else", "Something else"


class SupportStatus(models.TextChoices):
    NEW = "new", "New"
    IN_PROGRESS = "in_progress", "In progress"
    ANSWERED = "answered", "Answered"
    CLOSED = "closed", "Closed"


# The order the helpdesk queue shows requests in: new first, closed last.
STATUS_ORDER = [SupportStatus.NEW, SupportStatus.IN_PROGRESS, SupportStatus.ANSWERED, SupportStatus.CLOSED]
OPEN_STATUSES = frozenset({SupportStatus.NEW, SupportStatus.IN_PROGRESS})


class SupportRequest(models.Model):
    """A request for technical help (not medical advice), from someone signed in or not.

    `reference` is what the person quotes on the phone; `public_id` addresses the request in staff URLs. The reply
    date promised on the confirmation page is stored, so a later change to the target does not change a promise.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    reference = models.CharField(max_length=20, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="support_requests"
    )
    name = models.CharField(max_length=150)
    email = models.EmailField()
    topic = models.CharField(max_length=30, choices=SupportTopic.choices)
    description = models.TextField()
    status = models.CharField(max_length=20, choices=SupportStatus.choices, default=SupportStatus.NEW)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    reply_due_on = models.DateField()
    answered_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["status", "created_at"], name="support_request_queue_idx")]

    def __str__(self) -> str:
        return self.reference

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class SupportReply(models.Model):
    """A reply the helpdesk sent by email. Kept so the next person who picks up the request can see it."""

    support_request = models.ForeignKey(SupportRequest, on_delete=models.CASCADE, related_name="replies")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField()
    sent_at = models.DateTimeField(auto_now_add=True)
    notification = models.ForeignKey(
        "notifications.Notification", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["sent_at", "id"]

    def __str__(self) -> str:
        return f"Reply to {self.support_request.reference}"


class HelpdeskActionKind(models.TextChoices):
    ACCOUNT_UNLOCKED = "account_unlocked", "Unlocked sign-in"
    TWO_STEP_RESET = "two_step_reset", "Reset two-step verification"
    ACTIVATION_CODE_ISSUED = "activation_code_issued", "Issued a new activation code"
    SUPPORT_REQUEST_ASSIGNED = "support_request_assigned", "Took a request for help"
    SUPPORT_REPLY_SENT = "support_reply_sent", "Replied to a request for help"
    SUPPORT_REQUEST_CLOSED = "support_request_closed", "Closed a request for help"
    NOTIFICATION_RETRIED = "notification_retried", "Tried a failed email or text again"


class HelpdeskAction(models.Model):
    """Every change a member of the helpdesk makes, with the reason they recorded. Append-only.

    Account changes are also written to the account's own history (AccountEvent) and, when a patient's record is
    involved, to the patient's access log (AccessEvent). This table is the one place that also covers patients who
    have no account yet (a new activation code) and requests for help.
    """

    occurred_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=40, choices=HelpdeskActionKind.choices)
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    patient = models.ForeignKey("patients.Patient", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    support_request = models.ForeignKey(
        SupportRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=300, blank=True)
    detail = models.CharField(max_length=200, blank=True, help_text="What changed, without personal data.")

    class Meta:
        ordering = ["-occurred_at", "-id"]

    def __str__(self) -> str:
        return self.get_kind_display()

    def save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.pk is not None:
            raise ValueError("Helpdesk actions cannot be changed")
        super().save(*args, **kwargs)
