"""Connected apps: a person's authorisation of one SMART on FHIR app to read one patient's record.

django-oauth-toolkit keeps the OAuth clients (`oauth2_provider.Application`, registered by admins), codes and
tokens. What it does not know is whose record a token is for (the SMART `patient` launch context) and what a
patient sees and revokes on their "connected apps" page: that is `AppConnection`. Every access token issued,
including by a refresh, gets a `TokenContext` pointing at its connection, so a token reads only that patient's
record, and revoking the connection refuses all its tokens on their next use.
"""

import uuid

from django.conf import settings
from django.db import models
from oauth2_provider.settings import oauth2_settings

from careportal.patients.models import Patient


class AppConnection(models.Model):
    """`user` allowed `application` to read `patient`'s record (their own, or one they act for as a proxy), within
    `scopes` (the SMART scopes granted, space-separated as OAuth has them)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="app_connections")
    application = models.ForeignKey(oauth2_settings.APPLICATION_MODEL, on_delete=models.CASCADE, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="app_connections")
    scopes = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "revoked_at"], name="app_connection_user_idx")]

    def __str__(self) -> str:
        return f"App connection {self.public_id}"


class TokenContext(models.Model):
    """Which connection (and so which patient) one access token is for."""

    access_token = models.OneToOneField(
        oauth2_settings.ACCESS_TOKEN_MODEL, on_delete=models.CASCADE, related_name="careportal_context"
    )
    connection = models.ForeignKey(AppConnection, on_delete=models.CASCADE, related_name="token_contexts")

    def __str__(self) -> str:
        return f"Token context for {self.connection_id}"


class GrantConnection(models.Model):
    """Which connection an authorisation code (DOT's `Grant`, deleted when exchanged) was issued for, so that the
    token endpoint ties the access token it issues to that connection. A separate row rather than the Grant's
    `claims` field, which holds the OpenID Connect claims request and is read back as such."""

    grant = models.OneToOneField(oauth2_settings.GRANT_MODEL, on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey(AppConnection, on_delete=models.CASCADE, related_name="+")

    def __str__(self) -> str:
        return f"Grant for {self.connection_id}"


# "Download my record" (careportal/fhir/export_*.py, docs/download-your-record.md) -----------------------------------


class RecordExportStatus(models.TextChoices):
    QUEUED = "queued", "Waiting to start"
    BUILDING = "building", "Being made"
    READY = "ready", "Ready to download"
    FAILED = "failed", "Could not be made"
    EXPIRED = "expired", "No longer available"


class RecordExportRole(models.TextChoices):
    PATIENT = "patient", "The patient"
    PROXY = "proxy", "Someone acting for the patient"


class RecordExport(models.Model):
    """A copy of a patient's record asked for by the patient or a proxy: a FHIR R4 Bundle (JSON) and a PDF summary,
    made by a background task and kept for RECORD_EXPORT_DAYS days after it is ready.

    `scopes` are the parts of the record the requester could see when they asked (a proxy's copy holds only theirs;
    the access log only ever goes in the patient's own copy). The files live in the letter storage under random
    names (careportal/fhir/export_storage.py) and leave only through access-checked views. `error` is plain words
    for the requester, never patient data.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="record_exports")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    requested_as = models.CharField(max_length=10, choices=RecordExportRole.choices)
    scopes = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=RecordExportStatus.choices, default=RecordExportStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    step = models.CharField(max_length=100, blank=True)
    bundle_name = models.CharField(max_length=32, blank=True)
    pdf_name = models.CharField(max_length=32, blank=True)
    bundle_size = models.PositiveIntegerField(default=0)
    pdf_size = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    downloaded_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["requested_by", "patient", "-created_at"], name="record_export_person_idx"),
            models.Index(fields=["status", "expires_at"], name="record_export_expiry_idx"),
        ]
        constraints = [
            # One copy being made at a time per person per record (the service shows the existing one).
            models.UniqueConstraint(
                fields=["requested_by", "patient"],
                condition=models.Q(status__in=["queued", "building"]),
                name="one_record_export_in_progress",
            )
        ]

    def __str__(self) -> str:
        return f"Record export {self.public_id}"

    @property
    def in_progress(self) -> bool:
        return self.status in (RecordExportStatus.QUEUED, RecordExportStatus.BUILDING)
