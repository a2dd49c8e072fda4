import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from careportal.patients.validators import validate_nhs_number


class SensitiveCategory(models.TextChoices):
    """Categories never shown to a proxy unless staff grant them (ProxyRelationship.sensitive_categories_granted).

    A test result takes its category from its release rule (careportal/results/models.py ReleaseRule); a letter or
    an appointment takes it from the care team it comes from (`CareTeam.sensitive_category`).
    """

    SEXUAL_HEALTH = "sexual_health", "Sexual health"
    HIV = "hiv", "HIV"
    GENETICS = "genetics", "Genetics"
    MENTAL_HEALTH = "mental_health", "Mental health"
    SAFEGUARDING = "safeguarding", "Safeguarding"


class ContactPreference(models.TextChoices):
    PORTAL = "portal", "Through CarePortal (paperless)"
    POST = "post", "By post"


class Patient(models.Model):
    """A person the hospital cares for, as known to its patient administration system (FHIR Patient)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="patient",
        help_text="The portal account of the patient themself, once activated.",
    )
    hospital_number = models.CharField(
        "hospital number (MRN)", max_length=20, unique=True, help_text="The local patient identifier."
    )
    nhs_number = models.CharField(
        "NHS number",
        max_length=10,
        unique=True,
        null=True,
        blank=True,
        validators=[validate_nhs_number],
        help_text="Ten digits, stored without spaces.",
    )
    given_name = models.CharField(max_length=100)
    family_name = models.CharField(max_length=100)
    birth_date = models.DateField()
    address_line_1 = models.CharField(max_length=200, blank=True)
    address_line_2 = models.CharField(max_length=200, blank=True)
    town = models.CharField(max_length=100, blank=True)
    postcode = models.CharField(max_length=10, blank=True)
    email = models.EmailField(blank=True)
    mobile_phone = models.CharField(max_length=20, blank=True)
    home_phone = models.CharField(max_length=20, blank=True)
    contact_preference = models.CharField(
        max_length=10, choices=ContactPreference.choices, default=ContactPreference.POST
    )
    # How the patient wants to hear that something new is in CarePortal (new letter, result, message, appointment
    # reminder): by email, by text message to `mobile_phone`, or both. Sign-in codes, password resets and notices of
    # changes to their account always go by email (careportal/notifications/services.py).
    notify_by_email = models.BooleanField(default=True)
    notify_by_sms = models.BooleanField(default=False)
    # Set when the PAS merged this record into another (ADT^A40): everything it held moved to `merged_into`, and
    # the row stays so that its audit events keep pointing at something. It keeps its hospital number, so a later
    # message that still quotes the old number leads to the surviving record; its NHS number goes to the survivor.
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_records"
    )
    merged_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["family_name", "given_name"]
        indexes = [models.Index(Lower("family_name"), "birth_date", name="patient_name_birth_idx")]

    def __str__(self) -> str:
        # Used by the admin only; never logged (see careportal/core/logging.py).
        return f"{self.given_name} {self.family_name}"

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def address_lines(self) -> list[str]:
        return [line for line in (self.address_line_1, self.address_line_2, self.town, self.postcode) if line]


class CareTeam(models.Model):
    """A department or service that looks after patients and answers their messages (FHIR CareTeam)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=150, unique=True)
    description = models.TextField(blank=True)
    response_target_working_days = models.PositiveSmallIntegerField(
        default=3, help_text="How many working days the team aims to take to answer a message."
    )
    is_active = models.BooleanField(default=True)
    sensitive_category = models.CharField(
        max_length=20,
        choices=SensitiveCategory.choices,
        blank=True,
        help_text=(
            "For a team whose work is sensitive (a sexual health clinic, for example): everything from this team "
            "(letters, appointments) is hidden from proxies unless staff grant them this category. Leave blank "
            "for none."
        ),
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def response_target_text(self) -> str:
        days = self.response_target_working_days
        return f"within {days} working day{'s' if days != 1 else ''}"


class CareTeamRole(models.TextChoices):
    CLINICIAN = "clinician", "Clinician"
    NURSE = "nurse", "Nurse"
    ADMINISTRATOR = "administrator", "Administrator"


class CareTeamMembership(models.Model):
    """A member of staff working in a care team, with their role there."""

    care_team = models.ForeignKey(CareTeam, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="care_team_memberships")
    role = models.CharField(max_length=20, choices=CareTeamRole.choices, default=CareTeamRole.CLINICIAN)
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["care_team", "user"], name="one_membership_per_team")]

    def __str__(self) -> str:
        return f"{self.user} – {self.care_team} ({self.get_role_display()})"


class CareRelationshipReason(models.TextChoices):
    REFERRAL = "referral", "Referral"
    APPOINTMENT = "appointment", "Appointment"
    RESULT = "result", "Test result routed to the team"
    MESSAGE = "message", "Message thread"
    LETTER = "letter", "Letter from the team"


class CareRelationship(models.Model):
    """Why a care team may see a patient's record: a referral, an appointment or a result routed to it.

    The access layer lets a clinician see a patient only through an active relationship of one of their teams.
    Later apps (appointments, results) create these rows when they route something to a team.
    """

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="care_relationships")
    care_team = models.ForeignKey(CareTeam, on_delete=models.CASCADE, related_name="care_relationships")
    reason = models.CharField(max_length=20, choices=CareRelationshipReason.choices)
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient", "care_team", "reason"], name="one_relationship_per_reason")
        ]

    def __str__(self) -> str:
        return f"{self.care_team} – {self.get_reason_display()}"


class PendingEmailChange(models.Model):
    """A new email address a patient asked for, waiting until they follow the link emailed to it.

    Only a hash of the link's token is kept, so a copy of the database cannot confirm anything. The link works once,
    until `expires_at`; a newer request for the same patient cancels an older one. Until it is confirmed nothing
    changes: the patient's record and the address their sign-in codes go to keep the old address.
    """

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="pending_email_changes")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    new_email = models.EmailField()
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["patient", "-created_at"], name="pending_email_patient_idx")]

    def __str__(self) -> str:
        # Used by the admin only; the address itself is never shown there.
        return f"Email change {self.pk}"

    @property
    def is_open(self) -> bool:
        return self.confirmed_at is None and self.cancelled_at is None
