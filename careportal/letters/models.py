"""Letters from clinics (FHIR DocumentReference): a PDF the hospital's document system sent over HL7 (MDM) or an
operator imported, delivered in the portal, and posted by the print room when the patient is not paperless.

One row per document: the document system's id (TXA-12) from its sender is the key, so a letter sent again is not
duplicated, and a new version of it (MDM^T10, or a T02 with new content) replaces the file in place, keeping its page
address. The file itself lives in the letter storage (careportal/letters/storage.py) under a random name.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from careportal.patients.models import CareTeam, Patient, SensitiveCategory

PRINT_ROOM_PERMISSION = "letters.work_print_room"
PRINT_ROOM_GROUP = "Print room"


class LetterStatus(models.TextChoices):
    """FHIR DocumentReference.status. A replaced version is not kept as a row of its own (see the module)."""

    CURRENT = "current", "Current"
    ENTERED_IN_ERROR = "entered-in-error", "Sent in error (cancelled by the document system)"


class Delivery(models.TextChoices):
    PORTAL = "portal", "In CarePortal only (paperless)"
    POST = "post", "By post, and in CarePortal if the patient has an account"


class LetterSource(models.TextChoices):
    HL7 = "hl7", "HL7 message (MDM)"
    IMPORT = "import", "Imported by an operator"


class Letter(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="letters")
    care_team = models.ForeignKey(CareTeam, null=True, blank=True, on_delete=models.SET_NULL, related_name="letters")
    # The writing team's sensitive category when the letter arrived (CareTeam.sensitive_category, kept in step when
    # an administrator changes the team's): a proxy sees the letter only when staff granted them this category.
    sensitive_category = models.CharField(max_length=20, choices=SensitiveCategory.choices, blank=True)
    source = models.CharField(max_length=10, choices=LetterSource.choices)
    # MSH-3 of the sending system ("IMPORT" for the import command) and its document id (TXA-12): unique together.
    source_system = models.CharField(max_length=100)
    document_id = models.CharField(max_length=100)
    version = models.PositiveIntegerField(default=1)
    document_type = models.CharField(max_length=100, help_text="TXA-2 as the sender names it, e.g. Clinic letter.")
    document_type_code = models.CharField(max_length=30, blank=True)
    author = models.CharField(max_length=150, blank=True)
    # When the letter was written (TXA-4 activity time, else TXA-6, else the message time): what the patient sees.
    letter_date = models.DateTimeField()
    # Which of two versions is newer (TXA-8 edit time, else MSH-7): an older one never overwrites a newer one.
    version_at = models.DateTimeField()
    status = models.CharField(max_length=20, choices=LetterStatus.choices, default=LetterStatus.CURRENT)
    # The stored PDF: a random name in the letter storage, never anything about the patient.
    stored_name = models.CharField(max_length=32, unique=True)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64, help_text="Of the stored file: what a download returns.")
    # Of the document as received, before cleaning: a copy sent again is recognised even when it was cleaned.
    received_sha256 = models.CharField(max_length=64)
    page_count = models.PositiveIntegerField()
    active_content_removed = models.BooleanField(
        default=False, help_text="Scripts, automatic actions or embedded files were taken out before it was stored."
    )
    delivery = models.CharField(max_length=10, choices=Delivery.choices)
    arrived_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)
    patient_notified_at = models.DateTimeField(null=True, blank=True)
    # The print room: the day's list a letter to post was put on (by the daily job), and when it was printed.
    print_listed_on = models.DateField(null=True, blank=True)
    printed_at = models.DateTimeField(null=True, blank=True)
    printed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-letter_date", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["source_system", "document_id"], name="one_letter_per_document"),
        ]
        indexes = [
            models.Index(fields=["patient", "-letter_date"], name="letter_patient_date_idx"),
            models.Index(
                fields=["print_listed_on", "id"],
                name="letter_to_post_idx",
                condition=Q(delivery="post", status="current", printed_at__isnull=True),
            ),
        ]
        permissions = [("work_print_room", "Can work the print room: list, export and mark letters to post")]

    def __str__(self) -> str:
        # Used by the admin only; never logged.
        return f"{self.document_type} ({self.letter_date:%d %b %Y})"


class ExportStatus(models.TextChoices):
    WAITING = "waiting", "Waiting to start"
    RUNNING = "running", "Being made"
    READY = "ready", "Ready to download"
    FAILED = "failed", "Could not be made"


class PrintExport(models.Model):
    """A CSV of letters to post for the print room, made in the background for large runs. It names exactly the
    letters it holds, so "mark these as printed" marks what was exported, not what arrived since."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField()
    letters = models.ManyToManyField(Letter, related_name="print_exports")
    status = models.CharField(max_length=10, choices=ExportStatus.choices, default=ExportStatus.WAITING)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    stored_name = models.CharField(max_length=32, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    marked_printed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"Print export {self.requested_at:%Y-%m-%d %H:%M}"
