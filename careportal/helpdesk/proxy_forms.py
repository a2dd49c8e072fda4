"""The helpdesk's forms for proxy access: deciding an application, setting access up with the patient's consent,
changing the sensitive categories shared, and ending access. They check what was typed; the rules (evidence that
fits the basis, the age rules, one live relationship) are the services' (careportal/proxy/)."""

from typing import Any

from django import forms

from careportal.core.date_input import OptionalFutureDateField, date_input_params
from careportal.core.forms import reason_field, text_area_field
from careportal.core.text import UserTextField
from careportal.patients.models import SensitiveCategory
from careportal.proxy.application_services import Decision
from careportal.proxy.models import IdentityEvidence, ProxyBasis, ProxyScope, RelationshipEvidence
from careportal.proxy.staff_services import StaffSetUp

NOTE_MAX_LENGTH = 1000
REASON_MAX_LENGTH = 1000

SCOPE_CHOICES = [(s.value, s.label) for s in ProxyScope]
SENSITIVE_CHOICES = list(SensitiveCategory.choices)
APPLICATION_EVIDENCE_CHOICES = [
    (value, label) for value, label in RelationshipEvidence.choices if value != RelationshipEvidence.PATIENT_CONSENT
]


class Decide:
    APPROVE = "approve"
    DECLINE = "decline"
    CHOICES = [(APPROVE, "Approve: give them access"), (DECLINE, "Decline")]


def _identity_field(required: bool) -> forms.ChoiceField:
    return forms.ChoiceField(
        label="Evidence of who they are",
        help_text="What you saw yourself, in person or as a certified copy.",
        choices=IdentityEvidence.choices,
        widget=forms.RadioSelect,
        required=required,
        error_messages={
            "required": "Select the evidence you saw of who they are",
            "invalid_choice": "Select the evidence you saw of who they are",
        },
    )


def _relationship_field(required: bool, choices: list[tuple[str, str]]) -> forms.ChoiceField:
    return forms.ChoiceField(
        label="Evidence of their relationship or legal authority",
        choices=choices,
        widget=forms.RadioSelect,
        required=required,
        error_messages={
            "required": "Select the evidence you saw of their relationship or legal authority",
            "invalid_choice": "Select the evidence you saw of their relationship or legal authority",
        },
    )


def _evidence_note_field() -> Any:
    field = text_area_field(
        label="Evidence notes (optional)",
        hint="Reference numbers, for example the LPA's Office of the Public Guardian reference or the court's case "
        "number, and anything else you checked. Do not include medical details.",
        max_length=NOTE_MAX_LENGTH,
        required_message="",
        too_long_message=f"Evidence notes must be {NOTE_MAX_LENGTH:,} characters or fewer",
        field_class=UserTextField,
    )
    field.required = False
    return field


def _scopes_field(label: str = "What they can see") -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        label=label,
        choices=SCOPE_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        error_messages={"invalid_choice": "Select what they can see"},
    )


def _sensitive_field() -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        label="Sensitive information to share (optional)",
        help_text="Leave these unticked unless there is a clear reason and the patient (or the court order) allows "
        "it. Letters, results and appointments in a category that is not ticked are hidden from them.",
        choices=SENSITIVE_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        error_messages={"invalid_choice": "Select only the sensitive categories listed"},
    )


class ApplicationDecisionForm(forms.Form):
    identity_evidence = _identity_field(required=False)
    relationship_evidence = _relationship_field(required=False, choices=APPLICATION_EVIDENCE_CHOICES)
    evidence_note = _evidence_note_field()
    scopes = _scopes_field()
    sensitive_categories = _sensitive_field()
    decision = forms.ChoiceField(
        label="Your decision",
        choices=Decide.CHOICES,
        widget=forms.RadioSelect,
        error_messages={"required": "Select approve or decline", "invalid_choice": "Select approve or decline"},
    )
    reason = text_area_field(
        label="Reason for declining",
        hint="Only if you decline. The applicant reads this: write in plain words what was missing or wrong and what "
        'they can do, for example "The birth certificate you showed does not name you. If you have a parental '
        'responsibility order, call us to show it." Do not include medical details.',
        max_length=REASON_MAX_LENGTH,
        required_message="",
        too_long_message=f"Reason must be {REASON_MAX_LENGTH:,} characters or fewer",
        field_class=UserTextField,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].required = False

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        decision = cleaned.get("decision")
        if decision == Decide.APPROVE:
            if not cleaned.get("identity_evidence") and "identity_evidence" not in self.errors:
                self.add_error("identity_evidence", "Select the evidence you saw of who they are before approving")
            if not cleaned.get("relationship_evidence") and "relationship_evidence" not in self.errors:
                self.add_error(
                    "relationship_evidence",
                    "Select the evidence you saw of their relationship or legal authority before approving",
                )
            if not cleaned.get("scopes") and "scopes" not in self.errors:
                self.add_error("scopes", "Select at least one thing they can see")
        elif decision == Decide.DECLINE and not (cleaned.get("reason") or "").strip():
            self.add_error("reason", "Enter the reason for declining: the applicant reads it")
        return cleaned

    def decision_value(self) -> Decision:
        data = self.cleaned_data
        return Decision(
            approve=data["decision"] == Decide.APPROVE,
            identity_evidence=data.get("identity_evidence") or "",
            relationship_evidence=data.get("relationship_evidence") or "",
            evidence_note=(data.get("evidence_note") or "").strip(),
            scopes=list(data.get("scopes") or []),
            sensitive_categories=list(data.get("sensitive_categories") or []),
            reason=(data.get("reason") or "").strip(),
        )


class StaffSetUpForm(forms.Form):
    account = forms.CharField(
        label="Their CarePortal username or email address",
        help_text="The account of the person who will act for the patient. They must have created it already.",
        max_length=254,
        widget=forms.TextInput(attrs={"spellcheck": False, "autocomplete": "off"}),
        error_messages={
            "required": "Enter their username or email address",
            "max_length": "Username or email address must be 254 characters or fewer",
        },
    )
    relationship = UserTextField(
        label="Their relationship to the patient",
        help_text="As the patient would say it, for example daughter, husband or carer.",
        max_length=60,
        widget=forms.TextInput(attrs={"class": "nhsuk-input--width-20"}),
        error_messages={
            "required": "Enter their relationship to the patient",
            "max_length": "Relationship must be 60 characters or fewer",
        },
    )
    basis = forms.ChoiceField(
        label="Why they can act for the patient",
        choices=ProxyBasis.choices,
        widget=forms.RadioSelect,
        initial=ProxyBasis.PATIENT_GRANTED,
        error_messages={
            "required": "Select why they can act for the patient",
            "invalid_choice": "Select why they can act for the patient",
        },
    )
    scopes = _scopes_field()
    valid_until = OptionalFutureDateField(label="When their access ends (optional)", example="31 3 2027")
    consent_note = text_area_field(
        label="How and when the patient gave consent",
        hint='For example "Patient asked in clinic on 3 December 2026, with the nurse present; signed form scanned to '
        'the record." Do not include medical details.',
        max_length=NOTE_MAX_LENGTH,
        required_message="Enter how and when the patient gave their consent",
        too_long_message=f"Consent note must be {NOTE_MAX_LENGTH:,} characters or fewer",
        field_class=UserTextField,
    )
    identity_evidence = _identity_field(required=True)
    relationship_evidence = _relationship_field(required=True, choices=list(RelationshipEvidence.choices))
    evidence_note = _evidence_note_field()
    sensitive_categories = _sensitive_field()

    def clean_account(self) -> str:
        return self.cleaned_data["account"].strip()

    def clean_relationship(self) -> str:
        relationship = " ".join(self.cleaned_data["relationship"].split())
        if not relationship:
            raise forms.ValidationError("Enter their relationship to the patient")
        return relationship

    def clean_consent_note(self) -> str:
        note = self.cleaned_data["consent_note"].strip()
        if not note:
            raise forms.ValidationError("Enter how and when the patient gave their consent")
        return note

    def clean_scopes(self) -> list[str]:
        scopes = list(self.cleaned_data["scopes"])
        if not scopes:
            raise forms.ValidationError("Select at least one thing they can see")
        return scopes

    def valid_until_input(self) -> dict[str, Any]:
        return date_input_params(self["valid_until"], hint="Leave empty for no end date. For example, 31 3 2027")

    def set_up_value(self) -> StaffSetUp:
        data = self.cleaned_data
        return StaffSetUp(
            account=data["account"],
            relationship=data["relationship"],
            basis=data["basis"],
            scopes=data["scopes"],
            consent_note=data["consent_note"],
            identity_evidence=data["identity_evidence"],
            relationship_evidence=data["relationship_evidence"],
            evidence_note=(data.get("evidence_note") or "").strip(),
            valid_until=data.get("valid_until"),
            sensitive_categories=list(data.get("sensitive_categories") or []),
        )


class SensitiveCategoriesForm(forms.Form):
    sensitive_categories = _sensitive_field()


class EndAccessForm(forms.Form):
    reason = reason_field(
        hint="The person acting for the patient and the patient can read this: write in plain words. Do not include "
        "medical details.",
        max_length=REASON_MAX_LENGTH,
        required_message="Enter the reason for ending their access",
        field_class=UserTextField,
    )
