"""Test results: reports and their values (FHIR DiagnosticReport + Observation), and the rules that release them.

A report arrives from the lab over HL7 v2 (careportal/hl7/), is stored with the date it becomes visible to the
patient (`release_due_at`, from the most specific `ReleaseRule`), is reviewed in its care team's results inbox, and
is released by the release job or by a clinician. Patients and proxies only ever see released reports; before that
they see that the test was done and when to expect it.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Coalesce

# SensitiveCategory lives with the care teams (letters and appointments use it too); imported from here as before.
from careportal.patients.models import CareTeam, Patient, SensitiveCategory


class ReportStatus(models.TextChoices):
    """FHIR DiagnosticReport.status, from HL7 OBR-25."""

    REGISTERED = "registered", "Registered"
    PARTIAL = "partial", "Partial"
    PRELIMINARY = "preliminary", "Preliminary"
    FINAL = "final", "Final"
    CORRECTED = "corrected", "Corrected"
    CANCELLED = "cancelled", "Cancelled"


class ResultKind(models.TextChoices):
    """Kinds of result as a patient would name them: the unit of the "wait for my clinician" choice."""

    LAB = "lab", "Blood, urine and other lab tests"
    CANCER_MARKERS = "cancer_markers", "Cancer markers"
    HISTOLOGY = "histology", "Tissue samples (histology)"
    IMAGING = "imaging", "Scans and X-rays (imaging)"
    GENETICS = "genetics", "Genetic tests"
    OTHER = "other", "Other tests"


class ReleaseMode(models.TextChoices):
    AFTER_WORKING_DAYS = "after_working_days", "Automatically, after a number of working days"
    AFTER_REVIEW = "after_review", "Only after a clinician has reviewed it"


class ReleaseRule(models.Model):
    """When reports of a test (or of a whole category) reach the patient. Administered at /staff/results/rules/.

    The most specific rule wins: one for the report's test code, then one for its category (the HL7 diagnostic
    service section, OBR-24), then the default rule (neither set). The rule also names the kind of result, for the
    patient's "wait for my clinician" choice, and any sensitive category that proxies must not see.
    """

    test_code = models.CharField(max_length=50, blank=True, help_text="OBR-4 test code, for example FBC.")
    category = models.CharField(
        max_length=10, blank=True, help_text="Diagnostic service section (OBR-24), for example HM, CH or SP."
    )
    description = models.CharField(max_length=200, help_text="What this rule covers, in plain words.")
    mode = models.CharField(max_length=20, choices=ReleaseMode.choices, default=ReleaseMode.AFTER_WORKING_DAYS)
    working_days = models.PositiveSmallIntegerField(
        default=1, help_text="For automatic release: working days after the final report."
    )
    result_kind = models.CharField(max_length=20, choices=ResultKind.choices, default=ResultKind.LAB)
    sensitive_category = models.CharField(max_length=20, choices=SensitiveCategory.choices, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-test_code", "-category", "description"]
        constraints = [
            models.UniqueConstraint(
                fields=["test_code"], condition=~Q(test_code=""), name="one_release_rule_per_test_code"
            ),
            models.UniqueConstraint(
                fields=["category"], condition=Q(test_code="") & ~Q(category=""), name="one_release_rule_per_category"
            ),
            models.UniqueConstraint(
                fields=["test_code", "category"],
                condition=Q(test_code="", category=""),
                name="one_default_release_rule",
            ),
        ]

    def __str__(self) -> str:
        return self.description

    @property
    def applies_to(self) -> str:
        if self.test_code:
            return f"Test {self.test_code}"
        if self.category:
            return f"Category {self.category}"
        return "Every other result"

    @property
    def summary(self) -> str:
        if self.mode == ReleaseMode.AFTER_REVIEW:
            return "After a clinician has reviewed it"
        days = self.working_days
        if days == 0:
            return "As soon as the final report arrives"
        return f"{days} working day{'s' if days != 1 else ''} after the final report"


class ResultRoutingMatch(models.TextChoices):
    SERVICE = "service", "Hospital service (PV1-10)"
    LOCATION = "location", "Patient location (PV1-3)"
    CLINICIAN = "clinician", "Ordering clinician code (OBR-16)"
    CATEGORY = "category", "Diagnostic service section (OBR-24)"
    DEFAULT = "default", "Any result not matched otherwise"


class ResultRouting(models.Model):
    """Which care team's results inbox a report lands in, by a code in the message. Tried in the order of
    ResultRoutingMatch; the first match wins. The team then has a care relationship with the patient."""

    match = models.CharField(max_length=20, choices=ResultRoutingMatch.choices)
    code = models.CharField(max_length=50, blank=True)
    care_team = models.ForeignKey(CareTeam, on_delete=models.CASCADE, related_name="result_routings")

    class Meta:
        ordering = ["match", "code"]
        constraints = [models.UniqueConstraint(fields=["match", "code"], name="one_routing_per_code")]

    def __str__(self) -> str:
        return f"{self.get_match_display()} {self.code} → {self.care_team}"


# The clinicians' results inbox, in working order: not yet reviewed first, then critical, then abnormal, then the
# newest. One definition for the inbox's ORDER BY and for the indexes that serve it, which PostgreSQL uses only when
# the two expressions are the same.
INBOX_ORDER = (
    models.ExpressionWrapper(Q(reviewed_at__isnull=True), output_field=models.BooleanField()).desc(),
    F("is_critical").desc(),
    F("is_abnormal").desc(),
    F("collected_at").desc(nulls_last=True),
    F("arrived_at").desc(),
    F("id").desc(),
)


# The report's columns naming a staff member, and their partial indexes (DiagnosticReport.Meta.indexes).
USER_COLUMN_INDEXES = [
    ("released_by", "report_released_by_idx"),
    ("reviewed_by", "report_reviewed_by_idx"),
    ("held_by", "report_held_by_idx"),
    ("retracted_by", "report_retracted_by_idx"),
    ("clinician_comment_by", "report_comment_by_idx"),
]


class DiagnosticReport(models.Model):
    """One report from a lab or imaging system, identified by its filler order number (OBR-3) at its source."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # No index of their own: report_patient_idx and report_inbox_idx lead with these columns, and serve the foreign
    # keys' look-ups (a patient's or a team's reports, deletes) as well; each index costs every report written.
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="diagnostic_reports", db_index=False)
    care_team = models.ForeignKey(
        CareTeam, null=True, blank=True, on_delete=models.SET_NULL, related_name="diagnostic_reports", db_index=False
    )
    source_system = models.CharField(max_length=60, help_text="Sending application (MSH-3).")
    placer_order_number = models.CharField(max_length=60, blank=True)
    filler_order_number = models.CharField(max_length=60)
    test_code = models.CharField(max_length=50)
    test_name = models.CharField(max_length=200)
    test_coding_system = models.CharField(max_length=30, blank=True)
    category = models.CharField(max_length=10, blank=True, help_text="Diagnostic service section (OBR-24).")
    specimen = models.CharField(max_length=200, blank=True)
    collected_at = models.DateTimeField(null=True, blank=True)
    specimen_received_at = models.DateTimeField(null=True, blank=True)
    reported_at = models.DateTimeField(null=True, blank=True)
    ordering_clinician = models.CharField(max_length=200, blank=True)
    ordering_clinician_code = models.CharField(max_length=30, blank=True)
    status = models.CharField(max_length=20, choices=ReportStatus.choices)
    lab_comment = models.TextField(blank=True)
    version = models.PositiveIntegerField(default=1)
    is_amended = models.BooleanField(default=False, help_text="A corrected report replaced earlier values.")
    is_abnormal = models.BooleanField(default=False)
    is_critical = models.BooleanField(default=False)
    result_kind = models.CharField(max_length=20, choices=ResultKind.choices, default=ResultKind.LAB)
    sensitive_category = models.CharField(max_length=20, choices=SensitiveCategory.choices, blank=True)
    arrived_at = models.DateTimeField(help_text="When the first version of this report arrived.")
    updated_at = models.DateTimeField(auto_now=True)

    # Release: a report is visible to the patient once released_at is set and it is not retracted.
    release_mode = models.CharField(max_length=20, choices=ReleaseMode.choices)
    release_rule_description = models.CharField(max_length=200, blank=True)
    release_due_at = models.DateTimeField(
        null=True, blank=True, help_text="When the release job may release it; empty for review-only reports."
    )
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    release_notified_at = models.DateTimeField(null=True, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    held_at = models.DateTimeField(null=True, blank=True)
    held_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    hold_reason = models.CharField(max_length=500, blank=True)
    retracted_at = models.DateTimeField(null=True, blank=True)
    retracted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    retraction_reason = models.CharField(max_length=500, blank=True)
    clinician_comment = models.TextField(blank=True, help_text="A note for the patient, shown with the result.")
    clinician_comment_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    clinician_comment_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-collected_at", "-arrived_at"]
        constraints = [
            models.UniqueConstraint(fields=["source_system", "filler_order_number"], name="one_report_per_order")
        ]
        indexes = [
            # The release job's claim: due, not yet released, not held.
            models.Index(
                fields=["release_due_at"],
                condition=Q(released_at__isnull=True, held_at__isnull=True, release_due_at__isnull=False),
                name="report_release_due_idx",
            ),
            models.Index(fields=["patient", "-collected_at"], name="report_patient_idx"),
            models.Index(fields=["care_team", "reviewed_at"], name="report_inbox_idx"),
            # The patient's results list in its own order (selectors.reports_for_list), so that a page reads its 20
            # rows from the index instead of sorting all of the patient's reports (docs/data-at-scale.md). Made on
            # PostgreSQL only (its migration says why).
            models.Index(
                F("patient"),
                F("collected_at").desc(nulls_last=True),
                F("arrived_at").desc(),
                F("id").desc(),
                name="report_patient_list_idx",
            ),
            # The FHIR DiagnosticReport search sorted by date (careportal/fhir/reads.py): the same expression.
            models.Index(
                F("patient"),
                Coalesce("collected_at", "reported_at", "arrived_at").desc(),
                F("id").desc(),
                name="report_patient_fhir_date_idx",
            ),
            # The clinicians' results inbox in its working order (inbox_selectors.inbox_reports), so that a page
            # reads its 25 rows from an index instead of sorting every report of the team: one team's inbox, and
            # several teams' at once (PostgreSQL walks the second in order and skips other teams' reports). Made on
            # PostgreSQL only, like report_patient_list_idx (careportal/core/migration_operations.py).
            models.Index(F("care_team"), *INBOX_ORDER, name="report_inbox_order_idx"),
            models.Index(*INBOX_ORDER, name="report_inbox_all_teams_idx"),
            # "Held": a few in a thousand reports, which a walk of the whole order would have to look for.
            models.Index(
                F("care_team"), *INBOX_ORDER, condition=Q(held_at__isnull=False), name="report_inbox_held_idx"
            ),
            # Who released, reviewed, held, retracted or commented: empty on most reports, so each index holds only
            # the rows that name someone (what deleting a user looks up), and a report written with none of them,
            # as every imported one is, costs these indexes nothing.
            *(
                models.Index(fields=[field], condition=Q(**{f"{field}__isnull": False}), name=name)
                for field, name in USER_COLUMN_INDEXES
            ),
        ]

    def __str__(self) -> str:
        return f"{self.test_name} ({self.filler_order_number})"

    @property
    def is_released(self) -> bool:
        return self.released_at is not None

    @property
    def is_retracted(self) -> bool:
        return self.retracted_at is not None

    @property
    def is_held(self) -> bool:
        return self.held_at is not None

    @property
    def is_imaging(self) -> bool:
        return self.result_kind == ResultKind.IMAGING


class ObservationValueType(models.TextChoices):
    NUMERIC = "NM", "Number"
    STRUCTURED_NUMERIC = "SN", "Structured number"
    STRING = "ST", "Text"
    TEXT = "TX", "Text"
    FORMATTED_TEXT = "FT", "Formatted text"
    CODED = "CE", "Coded entry"
    CODED_WITH_EXCEPTIONS = "CWE", "Coded entry"
    ENCAPSULATED_DATA = "ED", "Attachment"


class Interpretation(models.TextChoices):
    """HL7 table 0078 abnormal flags, as CarePortal shows them."""

    LOW = "L", "Below the reference range"
    HIGH = "H", "Above the reference range"
    CRITICALLY_LOW = "LL", "Far below the reference range"
    CRITICALLY_HIGH = "HH", "Far above the reference range"
    ABNORMAL = "A", "Abnormal"
    CRITICALLY_ABNORMAL = "AA", "Critically abnormal"
    NORMAL = "N", "Within the reference range"


CRITICAL_INTERPRETATIONS = frozenset({"LL", "HH", "AA"})
ABNORMAL_INTERPRETATIONS = frozenset({"L", "H", "LL", "HH", "A", "AA"})


class Observation(models.Model):
    """One value in a report (an OBX segment, with the NTE comments that follow it)."""

    report = models.ForeignKey(DiagnosticReport, on_delete=models.CASCADE, related_name="observations")
    sequence = models.PositiveIntegerField()
    code = models.CharField(max_length=50)
    name = models.CharField(max_length=200)
    coding_system = models.CharField(max_length=30, blank=True)
    value_type = models.CharField(max_length=3, choices=ObservationValueType.choices)
    # What the patient reads: the value as text, with repetitions on their own lines, escapes decoded.
    value_text = models.TextField(blank=True)
    # For numbers (NM, and SN with a single number): what the trend chart and the range comparison use.
    value_numeric = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    value_comparator = models.CharField(max_length=2, blank=True, help_text="For SN values: <, >, <= or >=.")
    value_code = models.CharField(max_length=50, blank=True, help_text="For CE/CWE values: the code.")
    value_code_system = models.CharField(max_length=30, blank=True)
    unit = models.CharField(max_length=60, blank=True)
    reference_range = models.CharField(max_length=60, blank=True)
    reference_low = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    reference_high = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    interpretation = models.CharField(max_length=2, choices=Interpretation.choices, blank=True)
    status = models.CharField(max_length=2, blank=True, help_text="OBX-11 observation result status.")
    observed_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True)
    attachment = models.FileField(upload_to="results/attachments/", blank=True)
    attachment_content_type = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["report", "sequence"]
        indexes = [models.Index(fields=["code", "report"], name="observation_code_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_abnormal(self) -> bool:
        return self.interpretation in ABNORMAL_INTERPRETATIONS

    @property
    def is_critical(self) -> bool:
        return self.interpretation in CRITICAL_INTERPRETATIONS


class ReportVersionReason(models.TextChoices):
    PRELIMINARY_REPLACED = "preliminary_replaced", "Preliminary report replaced by a later one"
    CORRECTED = "corrected", "Corrected by the lab"


class DiagnosticReportVersion(models.Model):
    """An earlier version of a report, kept when a later message replaced it (the "amended" history)."""

    report = models.ForeignKey(DiagnosticReport, on_delete=models.CASCADE, related_name="earlier_versions")
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=ReportStatus.choices)
    reported_at = models.DateTimeField(null=True, blank=True)
    replaced_at = models.DateTimeField()
    reason = models.CharField(max_length=30, choices=ReportVersionReason.choices)
    was_released = models.BooleanField(default=False, help_text="Whether the patient could see this version.")
    lab_comment = models.TextField(blank=True)
    # The observations as they were: a list of dicts with the Observation fields the report page shows.
    observations = models.JSONField(default=list)

    class Meta:
        ordering = ["report", "-version"]
        constraints = [models.UniqueConstraint(fields=["report", "version"], name="one_report_version")]

    def __str__(self) -> str:
        return f"version {self.version}"


class ResultPreference(models.Model):
    """A patient's "wait for my clinician" choice for one kind of result: such results are never released
    automatically, only by a clinician."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="result_preferences")
    result_kind = models.CharField(max_length=20, choices=ResultKind.choices)
    wait_for_clinician = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["patient", "result_kind"], name="one_result_preference")]

    def __str__(self) -> str:
        return self.get_result_kind_display()


class ReportActionKind(models.TextChoices):
    ARRIVED = "arrived", "Arrived"
    UPDATED = "updated", "Updated by the lab"
    REVIEWED = "reviewed", "Marked as reviewed"
    COMMENTED = "commented", "Comment added for the patient"
    RELEASED = "released", "Released to the patient"
    AUTO_RELEASED = "auto_released", "Released automatically"
    HELD = "held", "Held"
    UNHELD = "unheld", "Hold removed"
    RETRACTED = "retracted", "Withdrawn from the patient"


class ReportAction(models.Model):
    """The history of a report in the results inbox: who did what, and why. Append-only in practice."""

    report = models.ForeignKey(DiagnosticReport, on_delete=models.CASCADE, related_name="actions")
    kind = models.CharField(max_length=20, choices=ReportActionKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=200, blank=True)
    note = models.CharField(max_length=500, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["report", "at", "pk"]

    def __str__(self) -> str:
        return self.get_kind_display()
