from django.conf import settings
from django.db import models

from careportal.patients.models import CareTeam, Patient


class AppendOnlyError(Exception):
    """Raised on any attempt to change or remove an audit event."""


class AccessEventQuerySet(models.QuerySet):
    def update(self, **kwargs):  # type: ignore[no-untyped-def]
        raise AppendOnlyError("Access events cannot be changed")

    def delete(self):  # type: ignore[no-untyped-def]
        raise AppendOnlyError("Access events cannot be deleted")

    _raw_delete = delete  # type: ignore[assignment]


class AccessAction(models.TextChoices):
    VIEW = "view", "viewed"
    CREATE = "create", "added"
    UPDATE = "update", "changed"
    DELETE = "delete", "removed"
    DOWNLOAD = "download", "downloaded"
    DENIED = "denied", "was refused access to"


class ActorRole(models.TextChoices):
    PATIENT = "patient", "Patient"
    PROXY = "proxy", "Proxy"
    CLINICIAN = "clinician", "Clinician"
    HELPDESK = "helpdesk", "Helpdesk"
    SYSTEM = "system", "System"
    ANONYMOUS = "anonymous", "Not signed in"


class AccessEvent(models.Model):
    """Who saw or changed what, on whose behalf, when and from where (FHIR AuditEvent). Append-only.

    `patient` is whose record was touched; `on_behalf_of` is the patient a proxy was acting for. Object ids are
    stored as text so that an event can name any kind of object, including ones removed later.
    """

    occurred_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # A snapshot, so that the log still reads right after a member of staff changes name or leaves.
    actor_name = models.CharField(max_length=150, blank=True)
    actor_role = models.CharField(max_length=20, choices=ActorRole.choices)
    care_team = models.ForeignKey(CareTeam, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, null=True, blank=True, on_delete=models.PROTECT, related_name="access_events")
    on_behalf_of = models.ForeignKey(Patient, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=20, choices=AccessAction.choices)
    # What was touched, in words a patient understands ("your contact details"), never its content.
    object_label = models.CharField(max_length=120)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    succeeded = models.BooleanField(default=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    # The SMART on FHIR app the person read through (careportal/fhir/), as registered; blank for the portal itself.
    app_name = models.CharField(max_length=100, blank=True)

    objects = AccessEventQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["patient", "-occurred_at"], name="access_event_patient_idx")]

    def __str__(self) -> str:
        return f"{self.actor_name} {self.get_action_display()} {self.object_label}"

    def save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.pk is not None:
            raise AppendOnlyError("Access events cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise AppendOnlyError("Access events cannot be deleted")


class AuditSealQuerySet(models.QuerySet):
    def update(self, **kwargs):  # type: ignore[no-untyped-def]
        raise AppendOnlyError("Audit seals cannot be changed")

    def delete(self):  # type: ignore[no-untyped-def]
        raise AppendOnlyError("Audit seals cannot be deleted")

    _raw_delete = delete  # type: ignore[assignment]


class AuditSeal(models.Model):
    """One link of the audit hash chain (careportal/audit/chain.py): the access events with ids above
    `after_event_id` up to `last_event_id`, sealed in id order. Append-only, like the events.

    `event_digests` lists every event present in the range: its id and a digest of its fields. `hash` covers that
    list, the range and `previous_hash`, the hash of the seal before it; the first seal's `previous_hash` is
    GENESIS_HASH. The unique constraints stop two sealers that read the same head from forking the chain.
    """

    sealed_at = models.DateTimeField(auto_now_add=True)
    after_event_id = models.BigIntegerField(unique=True)
    last_event_id = models.BigIntegerField(unique=True)
    event_count = models.PositiveIntegerField()
    # 24 bytes per event: the id (8 bytes, big-endian) and the first 16 bytes of the event's digest.
    event_digests = models.BinaryField()
    previous_hash = models.CharField(max_length=64, unique=True)
    hash = models.CharField(max_length=64, unique=True)
    # Which serialisation of an event the digests use (chain.SEAL_FORMAT), so that a field added to AccessEvent
    # later does not break seals made before it.
    format = models.PositiveSmallIntegerField()
    # Blank: plain SHA-256. Otherwise the id of the AUDIT_CHAIN_KEY the HMAC was made with (never the key).
    key_id = models.CharField(max_length=16, blank=True)

    objects = AuditSealQuerySet.as_manager()

    class Meta:
        ordering = ["last_event_id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(last_event_id__gt=models.F("after_event_id")), name="audit_seal_range_not_empty"
            )
        ]

    def __str__(self) -> str:
        return f"Seal of events {self.after_event_id + 1} to {self.last_event_id}"

    def save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.pk is not None:
            raise AppendOnlyError("Audit seals cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise AppendOnlyError("Audit seals cannot be deleted")
