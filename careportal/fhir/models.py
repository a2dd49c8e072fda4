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
