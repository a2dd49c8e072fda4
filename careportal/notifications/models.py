import uuid

from django.conf import settings
from django.db import models


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "Text message"


class NotificationStatus(models.TextChoices):
    QUEUED = "queued", "Waiting to send"
    RETRYING = "retrying", "Failed, will try again"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed, will not try again"
    EXPIRED = "expired", "Not sent: too old to be useful"


class Notification(models.Model):
    """One email or text message, from the moment it is asked for until it is sent or given up on.

    The address and personalisation are kept only until the message is sent (then wiped), so the table does not
    become a second copy of people's contact details. Failures stay visible to the helpdesk; nothing is lost silently.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="notifications"
    )
    # One of notifications.kinds.Kind, checked by the services that create rows. No `choices` here, so that a new
    # kind of message needs no migration.
    kind = models.CharField(max_length=40)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    to_address = models.CharField(max_length=254, blank=True)
    personalisation = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=NotificationStatus.choices, default=NotificationStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The kind of failure only (exception class, HTTP status): never the provider's message, which may echo data.
    last_error = models.CharField(max_length=200, blank=True)
    provider_reference = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "-created_at"], name="notification_status_idx")]

    def __str__(self) -> str:
        return f"{self.kind} ({self.get_status_display()})"
