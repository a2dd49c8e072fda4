"""Messages between patients (or their proxies) and care teams (FHIR Communication), with attachments, and the
record-correction requests that travel as a tracked kind of thread (UK GDPR article 16).

A thread belongs to one patient and one care team. The team works it in a shared inbox (new, assigned, waiting on
the patient, done); the patient sees its messages, never the team's internal notes. Attachments are checked by
their content, re-encoded where they are images, kept outside the web root under random names, and served only
through an access-checked view.
"""

import uuid

from django.conf import settings
from django.db import models

from careportal.patients.models import CareTeam, Patient, SensitiveCategory


class Topic(models.TextChoices):
    """What the message is about, as the patient chooses it on the compose page."""

    CARE = "care", "A question about my care"
    APPOINTMENT = "appointment", "My appointment"
    RESULTS = "results", "My test results"
    CORRECTION = "correction", "A correction to my record"
    OTHER = "other", "Something else"


class ThreadStatus(models.TextChoices):
    """Where a thread stands in the team's inbox. "Assigned to me" is a view of NEW threads with an assignee."""

    NEW = "new", "New"
    WAITING_ON_PATIENT = "waiting_on_patient", "Waiting on patient"
    DONE = "done", "Done"


class Thread(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="message_threads")
    care_team = models.ForeignKey(CareTeam, on_delete=models.PROTECT, related_name="message_threads")
    topic = models.CharField(max_length=20, choices=Topic.choices)
    subject = models.CharField(max_length=120)
    status = models.CharField(max_length=20, choices=ThreadStatus.choices, default=ThreadStatus.NEW)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_by_staff = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    # The latest message the patient side wrote, and the latest reply the team wrote (internal notes excluded):
    # the inbox's overdue flag and the patient's unread marker come from these without reading every message.
    last_patient_message_at = models.DateTimeField(null=True, blank=True)
    last_team_message_at = models.DateTimeField(null=True, blank=True)
    # When the team's reply is due: the team's response target in working days after the patient's latest message.
    reply_due_on = models.DateField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A sensitive category the thread carries whatever its care team's is now: the team's when it was started, or
    # the clinic's for a request to change an appointment at a sensitive clinic. A proxy sees the thread only if
    # staff granted both this and the team's current category (careportal/messaging/selectors.py).
    sensitive_category = models.CharField(max_length=20, choices=SensitiveCategory.choices, blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["patient", "-created_at"], name="thread_patient_idx"),
            models.Index(fields=["care_team", "status", "reply_due_on"], name="thread_inbox_idx"),
        ]

    def __str__(self) -> str:
        return self.subject


class AuthorRole(models.TextChoices):
    PATIENT = "patient", "Patient"
    PROXY = "proxy", "Proxy"
    STAFF = "staff", "Care team"


class Message(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    author_role = models.CharField(max_length=10, choices=AuthorRole.choices)
    # A snapshot of how the author is named to the reader, so it still reads right after a name change:
    # "Dr C Okafor, Haematology" or "Priya Patel (mother) on behalf of Arjun Patel".
    author_display = models.CharField(max_length=250)
    body = models.TextField()
    # A note the care team writes for itself; never shown to the patient or a proxy.
    is_internal_note = models.BooleanField(default=False)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["thread", "created_at", "pk"]

    def __str__(self) -> str:
        return f"message {self.public_id}"


class ScanStatus(models.TextChoices):
    PENDING = "pending", "Waiting for the virus check"
    CLEAN = "clean", "Checked"
    INFECTED = "infected", "Blocked: the virus check found a problem"
    NOT_SCANNED = "not_scanned", "Not scanned (no virus scanner configured)"
    FAILED = "failed", "The virus check could not run"


class Attachment(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    # Stored under a random name in private storage (MESSAGE_ATTACHMENT_ROOT), never under the web root.
    stored_name = models.CharField(max_length=100, unique=True)
    # The name the person gave the file, cleaned, for display and for the download's file name only.
    display_name = models.CharField(max_length=150)
    content_type = models.CharField(max_length=100, help_text="As recognised from the content, not the name.")
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    scan_status = models.CharField(max_length=20, choices=ScanStatus.choices, default=ScanStatus.PENDING)
    scanned_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["message", "pk"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def is_available(self) -> bool:
        return self.scan_status in {ScanStatus.CLEAN, ScanStatus.NOT_SCANNED}


class ReadMarker(models.Model):
    """When a person last read a thread: the unread markers for patients, proxies and staff alike."""

    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="read_markers")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    read_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["thread", "user"], name="one_read_marker_per_person")]

    def __str__(self) -> str:
        return f"read {self.read_at:%Y-%m-%d %H:%M}"


class CorrectionStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    UNDER_REVIEW = "under_review", "Under review"
    CORRECTED = "corrected", "Corrected"
    DECLINED = "declined", "Declined"


class CorrectionRequest(models.Model):
    """A patient's request to correct their record (UK GDPR article 16), tracked to an outcome. It lives on the
    thread the patient started with the topic "a correction to my record"."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    thread = models.OneToOneField(Thread, on_delete=models.CASCADE, related_name="correction_request")
    status = models.CharField(max_length=20, choices=CorrectionStatus.choices, default=CorrectionStatus.RECEIVED)
    outcome = models.TextField(blank=True, help_text="What was corrected, or why the request was declined.")
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.get_status_display()


class CorrectionStatusChange(models.Model):
    """The history of a correction request, which the patient can follow."""

    request = models.ForeignKey(CorrectionRequest, on_delete=models.CASCADE, related_name="changes")
    status = models.CharField(max_length=20, choices=CorrectionStatus.choices)
    note = models.TextField(blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_by_display = models.CharField(max_length=250, blank=True)
    changed_at = models.DateTimeField()

    class Meta:
        ordering = ["request", "changed_at", "pk"]

    def __str__(self) -> str:
        return self.get_status_display()


class UrgentPhrase(models.Model):
    """A phrase that suggests an emergency. Matched after simple normalisation (case, punctuation, spacing,
    apostrophes), so "Can't breathe!!" matches "cant breathe". Kept by the trust at /staff/messages/urgent-phrases/."""

    phrase = models.CharField(max_length=100, unique=True)
    category = models.CharField(max_length=60, help_text='For example "chest pain" or "self-harm".')
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["category", "phrase"]

    def __str__(self) -> str:
        return self.phrase


class UrgentPhraseChangeKind(models.TextChoices):
    ADDED = "added", "Added"
    CHANGED = "changed", "Changed"
    DEACTIVATED = "deactivated", "Deactivated"
    REACTIVATED = "reactivated", "Reactivated"
    DELETED = "deleted", "Deleted"


class UrgentPhraseChange(models.Model):
    """Who added, changed, switched off or on, or deleted which urgent phrase, and when: the list decides which
    messages stop at the urgent-care page, so every change to it is kept. Written by the phrase services only (the
    staff page and the admin alike); never edited. The phrase and category are copied, so the history still reads
    right after the phrase is changed again or deleted."""

    phrase = models.ForeignKey(UrgentPhrase, null=True, blank=True, on_delete=models.SET_NULL, related_name="changes")
    kind = models.CharField(max_length=20, choices=UrgentPhraseChangeKind.choices)
    phrase_text = models.CharField(max_length=100, help_text="The phrase after the change (before, for a deletion).")
    category = models.CharField(max_length=60)
    detail = models.CharField(max_length=300, blank=True, help_text='What changed, e.g. phrase "a" to "b".')
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # As the person was named at the time ("Sam Jones (helpdesk)"), kept if the account goes.
    changed_by_display = models.CharField(max_length=250)
    changed_at = models.DateTimeField()

    class Meta:
        ordering = ["-changed_at", "-pk"]
        indexes = [models.Index(fields=["-changed_at"], name="urgent_phrase_change_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.phrase_text}"


class UrgentInterception(models.Model):
    """That the urgent-care page was shown before sending, which phrase caused it, and whether the person sent
    anyway. Never the text of the message: the trust reviews the phrase list, not what people wrote."""

    occurred_at = models.DateTimeField()
    phrase = models.ForeignKey(UrgentPhrase, null=True, on_delete=models.SET_NULL, related_name="interceptions")
    phrase_text = models.CharField(max_length=100, help_text="The phrase as it was when it matched.")
    care_team = models.ForeignKey(CareTeam, null=True, on_delete=models.SET_NULL, related_name="+")
    author_role = models.CharField(max_length=10, choices=AuthorRole.choices)
    sent_anyway = models.BooleanField(default=False)

    class Meta:
        ordering = ["-occurred_at"]

    def __str__(self) -> str:
        return self.phrase_text
