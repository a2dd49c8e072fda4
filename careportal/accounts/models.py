import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower


class TwoStepMethod(models.TextChoices):
    NONE = "none", "Not set up"
    EMAIL = "email", "A code sent by email"


class User(AbstractUser):
    """Someone who signs in. A user may be a patient, a proxy for others, a member of staff, or several at once.

    Being a patient is the link `Patient.user`; acting for someone is a `ProxyRelationship`; staff roles are
    `CareTeamMembership` rows and the `is_helpdesk` flag. The user row itself holds no clinical data.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Shown to staff and in the audit log ("Dr A Okafor"); patients' own names live on Patient.
    display_name = models.CharField(max_length=150, blank=True)
    is_helpdesk = models.BooleanField(
        default=False, help_text="Helpdesk staff see account data and never clinical data."
    )
    # The emailed sign-in code as the second step. Patients choose it; staff always get a second step (see
    # careportal/accounts/adapter.py). Authenticator apps and passkeys live in allauth's Authenticator table.
    two_step_method = models.CharField(max_length=10, choices=TwoStepMethod.choices, default=TwoStepMethod.NONE)
    # "Stop trusting all devices": a device trusted at or before this moment needs the second step again
    # (careportal/accounts/trust.py).
    trusted_devices_revoked_at = models.DateTimeField(null=True, blank=True)
    # Which 2 of the 3 security questions a forgotten-password attempt asks is derived from this and what was typed;
    # it goes up by one after each password reset by that journey (careportal/accounts/recovery.py).
    recovery_questions_round = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "accounts_user"
        constraints = [
            # Sign-in finds a username whatever its case (allauth), so two accounts must never differ by case alone.
            models.UniqueConstraint(Lower("username"), name="username_unique_case_insensitive"),
        ]

    def __str__(self) -> str:
        return self.display_name or self.username

    @property
    def audit_name(self) -> str:
        return self.display_name or self.get_full_name() or self.username


class AccountEventKind(models.TextChoices):
    SIGNED_IN = "signed_in", "Signed in"
    SIGN_IN_FAILED = "sign_in_failed", "Sign-in failed"
    LOCKED_OUT = "locked_out", "Locked after too many failed sign-ins"
    TWO_STEP_PAUSED = "two_step_paused", "Sign-in codes paused after too many wrong codes"
    UNLOCKED = "unlocked", "Unlocked by the helpdesk"
    SIGNED_OUT = "signed_out", "Signed out"
    SIGNED_OUT_EVERYWHERE = "signed_out_everywhere", "Signed out everywhere"
    PASSWORD_CHANGED = "password_changed", "Password changed"
    PASSWORD_RESET = "password_reset", "Password reset"
    TWO_STEP_CHANGED = "two_step_changed", "Two-step verification changed"
    TWO_STEP_RESET = "two_step_reset", "Two-step verification reset by the helpdesk"
    ACTIVATED = "activated", "Account activated"
    ACTIVATION_CODE_ISSUED = "activation_code_issued", "Activation code issued"
    EMAIL_VERIFIED = "email_verified", "Email address confirmed"
    USERNAME_REMINDER_SENT = "username_reminder_sent", "Username reminder sent"


class AccountEvent(models.Model):
    """Something that happened to an account: what the helpdesk sees (never clinical data). Append-only."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="account_events")
    kind = models.CharField(max_length=40, choices=AccountEventKind.choices)
    occurred_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # For helpdesk actions: who did it and the reason they recorded.
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.CharField(max_length=300, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    detail = models.CharField(max_length=200, blank=True, help_text="What changed, without personal data.")

    class Meta:
        ordering = ["-occurred_at", "-id"]

    def __str__(self) -> str:
        return self.get_kind_display()


class SecurityQuestion(models.TextChoices):
    """Questions whose answers a patient remembers but others cannot look up easily."""

    FIRST_SCHOOL = "first_school", "What was the name of your first school?"
    CHILDHOOD_STREET = "childhood_street", "What was the name of the street you grew up on?"
    FIRST_PET = "first_pet", "What was the name of your first pet?"
    FAVOURITE_TEACHER = "favourite_teacher", "What was the surname of your favourite teacher?"
    FIRST_JOB = "first_job", "What was your first job?"
    CHILDHOOD_FRIEND = "childhood_friend", "What was the first name of your childhood best friend?"
    PARENTS_MET = "parents_met", "In which town or city did your parents meet?"
    FIRST_CONCERT = "first_concert", "Who did you see at the first concert you went to?"


class SecurityAnswer(models.Model):
    """One of a patient's three security questions, with the answer hashed like a password.

    Answers are compared after folding case and spaces ("St. Mary's" = "st mary's"), see accounts/security.py.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="security_answers")
    question = models.CharField(max_length=40, choices=SecurityQuestion.choices)
    answer_hash = models.CharField(max_length=256)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "question"], name="one_answer_per_question")]

    def __str__(self) -> str:
        return self.get_question_display()


class ActivationCode(models.Model):
    """A single-use code that lets a patient create their portal account, printed in a letter or read out by the
    helpdesk. Only a keyed hash of the code is stored (careportal/accounts/activation.py), so a copy of the database
    does not give anyone a working code."""

    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="activation_codes")
    code_digest = models.CharField(max_length=64, unique=True)
    issued_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    issued_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    failed_attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-issued_at"]

    def __str__(self) -> str:
        return f"Activation code issued {self.issued_at:%Y-%m-%d}"


class PasswordResetLink(models.Model):
    """A single-use link to choose a new password, emailed once the security questions were answered right
    (careportal/accounts/recovery.py).

    The link carries a random key; only a keyed hash of it is stored, so a copy of the database holds no working
    link, and the link says nothing about whose it is. `token` is Django's password-reset token for the user at the
    time the link was made: it stops matching once the password changes or the person signs in, so a link also dies
    with any other change of password.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="password_reset_links")
    key_digest = models.CharField(max_length=64, unique=True)
    token = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Password reset link made {self.created_at:%Y-%m-%d %H:%M}"


class TrustedDevice(models.Model):
    """A browser trusted at sign-in ("Trust this device for 90 days"), so that the person can see it and stop
    trusting it alone. allauth keeps the trust itself in a signed cookie; `issued_at` is that cookie entry's time,
    and a trust counts only while its row exists unrevoked (careportal/accounts/trust.py)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="trusted_devices")
    issued_at = models.PositiveBigIntegerField(help_text="The trust's time in allauth's cookie (Unix seconds).")
    trusted_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    # Which browser, in words ("Chrome on Windows"), so the person can tell their devices apart.
    description = models.CharField(max_length=100, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-trusted_at"]
        indexes = [models.Index(fields=["user", "issued_at"], name="trusted_device_lookup_idx")]

    def __str__(self) -> str:
        return self.description or "A trusted device"
