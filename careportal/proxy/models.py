import uuid

from django.conf import settings
from django.db import models

from careportal.patients.models import Patient


class ProxyScope(models.TextChoices):
    """What a proxy may see or do for the patient. Each matches a patient area of the portal."""

    APPOINTMENTS = "appointments", "Appointments"
    RESULTS = "results", "Test results"
    MESSAGES = "messages", "Messages"
    LETTERS = "letters", "Letters"
    DETAILS = "details", "Contact details"


class ProxyBasis(models.TextChoices):
    """Why the proxy may act: this decides what happens as the patient grows up (DESIGN.md, Proxy policy)."""

    PARENTAL_RESPONSIBILITY = "parental", "Parent or guardian of a child"
    PATIENT_GRANTED = "granted", "Granted by the patient"
    LASTING_POWER_OF_ATTORNEY = "lpa", "Lasting power of attorney for health and welfare"
    COURT_DEPUTY = "deputy", "Court-appointed deputy"


class ProxyStatus(models.TextChoices):
    REQUESTED = "requested", "Waiting for identity checks"
    ACTIVE = "active", "Active"
    REVOKED = "revoked", "Revoked"
    ENDED = "ended", "Ended"


class ProxyRelationship(models.Model):
    """Who may act for whom, with which scopes, until when, approved by whom (FHIR RelatedPerson + Consent)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    proxy = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="proxy_for")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="proxies")
    relationship = models.CharField(max_length=60, help_text='As the patient would say it: "mother", "carer".')
    basis = models.CharField(max_length=20, choices=ProxyBasis.choices)
    scopes = models.JSONField(default=list, help_text="ProxyScope values granted.")
    # Sexual health, HIV, genetics, mental health and safeguarding are never shown to a proxy unless staff add
    # the category here explicitly.
    sensitive_categories_granted = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=20, choices=ProxyStatus.choices, default=ProxyStatus.REQUESTED)
    valid_from = models.DateField()
    valid_until = models.DateField(null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["proxy", "patient"],
                condition=models.Q(status__in=["requested", "active"]),
                name="one_live_proxy_relationship",
            )
        ]

    def __str__(self) -> str:
        return f"{self.relationship} ({self.get_status_display()})"
