"""Appointments (FHIR Appointment): booked, moved and cancelled by the hospital's PAS over HL7 v2 (SIU), shown to the
patient at /appointments/, reminded by email or text, and for video appointments joined from the portal.

An appointment is identified by the PAS's own id (SCH-2, else SCH-1) and the sending system (MSH-3). Every SIU
message carries its time (MSH-7): an appointment keeps the time of the last message applied to it and a message
older than that changes nothing (careportal/appointments/ingest.py).

What a patient reads about a clinic beyond the PAS's words (the site's address, directions, what to bring, how to
prepare) is written by the trust, per clinic, in `Clinic` (Django admin): free text in an SIU message (NTE) is written
for staff and is never shown to patients.
"""

import uuid

from django.db import models
from django.db.models import Q

from careportal.patients.models import CareTeam, Patient, SensitiveCategory


class AppointmentStatus(models.TextChoices):
    """FHIR Appointment.status. "fulfilled" is how a booked appointment whose end has passed is shown."""

    BOOKED = "booked", "Booked"
    CANCELLED = "cancelled", "Cancelled"
    ENTERED_IN_ERROR = "entered-in-error", "Entered in error"
    NOSHOW = "noshow", "Did not attend"
    FULFILLED = "fulfilled", "Attended"


class AppointmentKind(models.TextChoices):
    IN_PERSON = "in_person", "In person"
    TELEPHONE = "telephone", "Telephone"
    VIDEO = "video", "Video"


class MeetingStatus(models.TextChoices):
    """Where the video meeting of a video appointment stands with the video provider."""

    NONE = "", "No meeting needed"
    PENDING = "pending", "Waiting to be created or changed"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed: will be tried again"
    CANCELLED = "cancelled", "Cancelled"


class Clinic(models.Model):
    """A clinic as the PAS names it (AIS-3 service code), with what the trust wants patients to read about it.

    A row is created the first time an appointment names a new clinic code, with only its name; an administrator then
    fills in the care team (whose messages inbox receives the patient's requests to cancel or rebook, and who may see
    the patient) and the patient-facing text.
    """

    code = models.CharField(max_length=50, unique=True, help_text="The PAS's clinic or service code (AIS-3.1).")
    name = models.CharField(max_length=200, blank=True, help_text="As the PAS names it (AIS-3.2).")
    care_team = models.ForeignKey(
        CareTeam,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="clinics",
        help_text="The team that runs this clinic: requests to cancel or rebook go to its messages inbox.",
    )
    sensitive_category = models.CharField(
        max_length=20,
        choices=SensitiveCategory.choices,
        blank=True,
        help_text=(
            "Blank: the care team's sensitive category, if it has one. Set it for a sensitive clinic (a sexual "
            "health clinic, for example) whose team is not: its appointments are hidden from proxies unless staff "
            "grant them this category."
        ),
    )
    patient_name = models.CharField(
        max_length=200, blank=True, help_text="The clinic's name as patients should read it (default: the PAS's)."
    )
    site_name = models.CharField(max_length=200, blank=True, help_text="For example: Royal Riverside Hospital.")
    site_address = models.TextField(blank=True, help_text="One line per line of the address.")
    directions = models.TextField(blank=True, help_text="How to find the clinic once at the site.")
    what_to_bring = models.TextField(blank=True, help_text="One item per line.")
    preparation = models.TextField(blank=True, help_text="How to prepare for the appointment, in plain words.")
    phone = models.CharField(
        max_length=40, blank=True, help_text="The number patients call about this clinic's appointments."
    )

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code}: {self.patient_name or self.name}"

    @property
    def display_name(self) -> str:
        return self.patient_name or self.name

    @property
    def effective_sensitive_category(self) -> str:
        """The clinic's own category, else its team's (needs `care_team` loaded: `clinic_for` selects it)."""
        if self.sensitive_category:
            return self.sensitive_category
        return self.care_team.sensitive_category if self.care_team is not None else ""


class Appointment(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="appointments")
    care_team = models.ForeignKey(
        CareTeam, null=True, blank=True, on_delete=models.SET_NULL, related_name="appointments"
    )
    clinic = models.ForeignKey(Clinic, null=True, blank=True, on_delete=models.SET_NULL, related_name="appointments")
    # From the clinic (its own category, else its team's) when the appointment was booked or changed, kept in step
    # when an administrator changes either: a proxy sees the appointment only when staff granted this category.
    sensitive_category = models.CharField(max_length=20, choices=SensitiveCategory.choices, blank=True)
    source_system = models.CharField(max_length=60, help_text="Sending application (MSH-3).")
    external_id = models.CharField(max_length=80, help_text="The PAS's appointment id (SCH-2, else SCH-1).")
    status = models.CharField(max_length=20, choices=AppointmentStatus.choices)
    kind = models.CharField(max_length=20, choices=AppointmentKind.choices, default=AppointmentKind.IN_PERSON)
    start = models.DateTimeField()
    end = models.DateTimeField()
    service_name = models.CharField(max_length=200, blank=True, help_text="AIS-3.2, else SCH-7.2.")
    location_name = models.CharField(max_length=200, blank=True, help_text="AIL-3: the room or clinic location.")
    site_code = models.CharField(max_length=60, blank=True, help_text="AIL-3.4 facility.")
    clinician_name = models.CharField(max_length=200, blank=True, help_text="AIP-3, else SCH-16.")
    cancellation_reason = models.CharField(max_length=200, blank=True, help_text="SCH-6.2, for staff.")
    # When CarePortal first received a message booking it: None for an appointment whose cancellation arrived
    # before its booking (never shown to the patient, who never saw it booked).
    booked_at = models.DateTimeField(null=True, blank=True)
    # MSH-7 of the last message applied: an older message changes nothing.
    last_message_at = models.DateTimeField()
    last_event = models.CharField(max_length=3, help_text="The trigger event of the last message applied (S12…).")
    # RFC 5545 SEQUENCE: one more each time the time, place or status changes.
    sequence = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Video: the meeting the provider made for it. The join link is a credential: shown only on the appointment's
    # page in its joining window, never in an email, a text, a log line or the admin's lists.
    video_provider = models.CharField(max_length=30, blank=True)
    video_external_id = models.CharField(max_length=300, blank=True)
    video_join_url = models.URLField(max_length=2000, blank=True)
    video_meeting_status = models.CharField(max_length=20, choices=MeetingStatus.choices, blank=True, default="")
    video_meeting_error = models.CharField(max_length=300, blank=True, help_text="Why the last try failed.")
    video_meeting_attempts = models.PositiveSmallIntegerField(default=0)
    video_meeting_next_attempt_at = models.DateTimeField(null=True, blank=True)
    # The appointment's `sequence` the meeting was last made or changed for.
    video_meeting_sequence = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["start"]
        constraints = [
            models.UniqueConstraint(fields=["source_system", "external_id"], name="one_appointment_per_pas_id"),
        ]
        indexes = [
            models.Index(fields=["patient", "start"], name="appointment_patient_idx"),
            models.Index(fields=["start"], condition=Q(status="booked"), name="appointment_booked_start_idx"),
            models.Index(
                fields=["video_meeting_next_attempt_at"],
                condition=Q(video_meeting_status__in=["pending", "failed"]),
                name="appointment_meeting_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_system} {self.external_id}"


class AppointmentReminder(models.Model):
    """A reminder sent for an appointment, so that each is sent once (the unique constraint holds even for two
    workers at once)."""

    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="reminders")
    days_before = models.PositiveSmallIntegerField()
    # The start the reminder was sent for: a moved appointment is reminded again for its new time.
    start = models.DateTimeField()
    sent_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["appointment", "days_before", "start"], name="one_reminder_per_appointment_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.appointment} -{self.days_before}d"
