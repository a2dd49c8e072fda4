"""Proxy access: who may act for whom (FHIR RelatedPerson + Consent), how it began, and its history.

A relationship begins in one of three ways (`ProxyOrigin`): the patient invites someone (`ProxyInvitation`), a
parent or carer applies and the helpdesk verifies them, or staff set it up with the patient's recorded consent.
Every change to it is kept in `ProxyRelationshipEvent`, which the patient, the proxy and the helpdesk read. The
age rules and the notices before them read their numbers from `ProxyPolicy`, which an admin may change.
"""

import uuid

from django.conf import settings
from django.core.cache import cache
from django.core.validators import MaxValueValidator, MinValueValidator
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
    DECLINED = "declined", "Declined"
    REVOKED = "revoked", "Revoked"
    ENDED = "ended", "Ended"


LIVE_PROXY_STATUSES = (ProxyStatus.REQUESTED, ProxyStatus.ACTIVE)


class ProxyOrigin(models.TextChoices):
    """How the relationship began."""

    INVITATION = "invitation", "Invited by the patient"
    APPLICATION = "application", "Applied for and verified by the helpdesk"
    STAFF = "staff", "Set up by staff with the patient's consent"


class IdentityEvidence(models.TextChoices):
    """What the helpdesk saw to confirm the proxy is who they say (docs/proxy-access-helpdesk.md)."""

    PASSPORT = "passport", "Passport"
    DRIVING_LICENCE = "driving_licence", "Photocard driving licence"
    NATIONAL_ID = "national_id", "National identity card"
    BIOMETRIC_RESIDENCE = "biometric_residence", "Biometric residence permit"
    NHS_LOGIN = "nhs_login", "Identity checked through NHS login (P9)"
    VOUCHED_BY_CLINICIAN = "vouched", "Known to the care team and vouched for by a clinician"


class RelationshipEvidence(models.TextChoices):
    """What the helpdesk saw to confirm the proxy may act for the patient."""

    BIRTH_CERTIFICATE = "birth_certificate", "Child's birth certificate naming the applicant"
    ADOPTION_CERTIFICATE = "adoption_certificate", "Adoption certificate"
    PARENTAL_RESPONSIBILITY_ORDER = "pr_order", "Parental responsibility order or agreement"
    SPECIAL_GUARDIANSHIP_ORDER = "sgo", "Special guardianship or child arrangements order"
    LASTING_POWER_OF_ATTORNEY = "lpa", "Registered lasting power of attorney for health and welfare"
    COURT_DEPUTYSHIP_ORDER = "deputyship", "Court of Protection deputyship order (personal welfare)"
    PATIENT_CONSENT = "patient_consent", "The patient's own consent, recorded by staff"


class ProxyRelationship(models.Model):
    """Who may act for whom, with which scopes, until when, approved by whom (FHIR RelatedPerson + Consent).

    `status` REQUESTED is an application waiting for the helpdesk; ACTIVE gives the scopes (narrowed by the age
    rules, careportal/access/proxy_policy.py); DECLINED, REVOKED and ENDED give nothing and are kept for the history.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    proxy = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="proxy_for")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="proxies")
    relationship = models.CharField(max_length=60, help_text='As the patient would say it: "mother", "carer".')
    basis = models.CharField(max_length=20, choices=ProxyBasis.choices)
    origin = models.CharField(max_length=20, choices=ProxyOrigin.choices, default=ProxyOrigin.STAFF)
    scopes = models.JSONField(default=list, help_text="ProxyScope values granted.")
    # Sexual health, HIV, genetics, mental health and safeguarding are never shown to a proxy unless staff add
    # the category here explicitly.
    sensitive_categories_granted = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=20, choices=ProxyStatus.choices, default=ProxyStatus.REQUESTED)
    valid_from = models.DateField()
    valid_until = models.DateField(null=True, blank=True)
    # What the applicant told us (an application), and what staff saw and decided.
    applicant_note = models.TextField(blank=True, help_text="What the applicant told us, in their words.")
    identity_evidence = models.CharField(max_length=30, choices=IdentityEvidence.choices, blank=True)
    relationship_evidence = models.CharField(max_length=30, choices=RelationshipEvidence.choices, blank=True)
    evidence_note = models.TextField(blank=True, help_text="Reference numbers and anything else staff checked.")
    consent_note = models.TextField(blank=True, help_text="How and when the patient gave consent (staff set-up).")
    decision_reason = models.TextField(blank=True, help_text="Shown to the applicant when an application is declined.")
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["proxy", "patient"],
                condition=models.Q(status__in=["requested", "active"]),
                name="one_live_proxy_relationship",
            )
        ]
        indexes = [models.Index(fields=["status", "basis"], name="proxy_rel_status_basis_idx")]

    def __str__(self) -> str:
        return f"{self.relationship} ({self.get_status_display()})"


class ProxyEventKind(models.TextChoices):
    INVITED = "invited", "Invitation sent"
    INVITATION_CANCELLED = "invitation_cancelled", "Invitation cancelled"
    ACCEPTED = "accepted", "Invitation accepted"
    APPLIED = "applied", "Applied for access"
    APPROVED = "approved", "Approved after identity checks"
    DECLINED = "declined", "Declined"
    SET_UP_BY_STAFF = "set_up", "Set up by staff"
    SCOPES_CHANGED = "scopes_changed", "What they can see was changed"
    SENSITIVE_CHANGED = "sensitive_changed", "Sensitive information shared was changed"
    END_DATE_CHANGED = "end_date_changed", "End date changed"
    REVOKED = "revoked", "Access taken away"
    STOPPED_BY_PROXY = "stopped_by_proxy", "They stopped acting for the patient"
    NARROWED_BY_AGE = "narrowed_by_age", "Narrowed to appointments at 16"
    ENDED_BY_AGE = "ended_by_age", "Ended at 18"
    EXPIRED = "expired", "Reached its end date"
    AGE_NOTICE_SENT = "age_notice", "Told in advance of a change at a birthday"


class ProxyRelationshipEvent(models.Model):
    """One change to a relationship: what, when, by whom, and the scopes before and after. Never edited."""

    relationship = models.ForeignKey(ProxyRelationship, on_delete=models.CASCADE, related_name="events")
    occurred_at = models.DateTimeField(auto_now_add=True, db_index=True)
    kind = models.CharField(max_length=30, choices=ProxyEventKind.choices)
    # Null for the system (the daily age rules); the name is kept as it was then.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    scopes_before = models.JSONField(default=list, blank=True)
    scopes_after = models.JSONField(default=list, blank=True)
    # Plain words that both sides may read: a decline reason, a milestone ("16 on 3 May 2031"). No clinical detail.
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.occurred_at:%Y-%m-%d %H:%M}"


class InvitationStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be accepted"
    ACCEPTED = "accepted", "Accepted"
    CANCELLED = "cancelled", "Cancelled"


class ProxyInvitation(models.Model):
    """An adult patient's invitation to someone, by email, to act for them. The emailed link carries a random
    token; only its keyed hash is stored (as for activation codes). Single-use, it expires, and only an account
    with the invited email address may accept it."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="proxy_invitations")
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    email = models.EmailField(help_text="Stored lower-case.")
    relationship = models.CharField(max_length=60)
    scopes = models.JSONField(default=list)
    valid_until = models.DateField(null=True, blank=True, help_text="When the access will end, if the patient chose.")
    token_digest = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=20, choices=InvitationStatus.choices, default=InvitationStatus.PENDING)
    expires_at = models.DateTimeField()
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    result = models.OneToOneField(
        ProxyRelationship, null=True, blank=True, on_delete=models.SET_NULL, related_name="invitation"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "email"],
                condition=models.Q(status="pending"),
                name="one_pending_invitation_per_address",
            )
        ]

    def __str__(self) -> str:
        return f"Invitation ({self.get_status_display()})"


class AgeMilestone(models.IntegerChoices):
    NARROWS = 16, "Narrows to appointments"
    ENDS = 18, "Ends"


class NoticeTiming(models.TextChoices):
    IN_ADVANCE = "advance", "In advance"
    ON_THE_DAY = "on_the_day", "On the day"


class ProxyAgeNotice(models.Model):
    """That both sides were told of an age change to one relationship: at most one row per milestone and timing,
    so the daily job can run again (or twice) without telling anyone twice."""

    relationship = models.ForeignKey(ProxyRelationship, on_delete=models.CASCADE, related_name="age_notices")
    milestone = models.PositiveSmallIntegerField(choices=AgeMilestone.choices)
    timing = models.CharField(max_length=20, choices=NoticeTiming.choices)
    change_on = models.DateField(help_text="The birthday the change happens on.")
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["relationship", "milestone", "timing"], name="one_age_notice_each")
        ]

    def __str__(self) -> str:
        return f"Age notice {self.milestone} {self.timing}"


POLICY_CACHE_KEY = "careportal:proxy-policy"


class ProxyPolicy(models.Model):
    """The trust's proxy policy table (DESIGN.md, Proxy; UCLH's published rules are the defaults). One row, which
    an admin may change at /admin/proxy/proxypolicy/; read through `ProxyPolicy.current()`, cached briefly."""

    parental_full_access_until_age = models.PositiveSmallIntegerField(
        default=16,
        validators=[MinValueValidator(1), MaxValueValidator(25)],
        help_text="From this birthday a parent's access narrows to the scopes below.",
    )
    parental_access_ends_at_age = models.PositiveSmallIntegerField(
        default=18,
        validators=[MinValueValidator(1), MaxValueValidator(25)],
        help_text="From this birthday a parent's access ends, unless the patient grants it or a legal authority is "
        "recorded.",
    )
    scopes_kept_after_narrowing = models.JSONField(
        default=list, blank=True, help_text='ProxyScope values a parent keeps after narrowing, e.g. ["appointments"].'
    )
    notice_days_before = models.PositiveSmallIntegerField(
        default=30,
        validators=[MaxValueValidator(365)],
        help_text="How many days before a change both sides are told.",
    )
    invitation_valid_days = models.PositiveSmallIntegerField(
        default=14, validators=[MinValueValidator(1), MaxValueValidator(90)]
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "proxy policy"

    def __str__(self) -> str:
        return "Proxy policy"

    def save(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self.pk = 1
        super().save(*args, **kwargs)
        cache.delete(POLICY_CACHE_KEY)

    @classmethod
    def current(cls) -> "ProxyPolicy":
        """The one policy row (made with the defaults the first time), cached for a minute."""
        policy = cache.get(POLICY_CACHE_KEY)
        if policy is None:
            policy, _ = cls.objects.get_or_create(pk=1, defaults={"scopes_kept_after_narrowing": ["appointments"]})
            cache.set(POLICY_CACHE_KEY, policy, 60)
        return policy
