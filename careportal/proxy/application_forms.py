"""The form a parent, guardian or carer fills in to apply to act for someone. It checks only what was typed; who
the patient is, and whether the basis fits their age, is the service's (careportal/proxy/application_services.py).
"""

from typing import Any

from django import forms

from careportal.accounts.activation_forms import DateOfBirthField
from careportal.core.date_input import date_input_params
from careportal.core.forms import text_area_field
from careportal.core.text import UserTextField
from careportal.patients.validators import normalise_nhs_number, validate_nhs_number
from careportal.proxy.application_services import ApplicationDetails
from careportal.proxy.models import ProxyBasis, ProxyScope

NOTE_MAX_LENGTH = 1000
RELATIONSHIP_MAX_LENGTH = 60
NAME_MAX_LENGTH = 100
HOSPITAL_NUMBER_MAX_LENGTH = 20

BASIS_CHOICES = [
    (ProxyBasis.PARENTAL_RESPONSIBILITY.value, "I am their parent or guardian, and they are under 16"),
    (
        ProxyBasis.LASTING_POWER_OF_ATTORNEY.value,
        "I have a lasting power of attorney for their health and welfare",
    ),
    (ProxyBasis.COURT_DEPUTY.value, "I am their deputy for personal welfare, appointed by the Court of Protection"),
]
SCOPE_CHOICES = [
    (ProxyScope.RESULTS.value, "Test results"),
    (ProxyScope.MESSAGES.value, "Messages with their care teams"),
    (ProxyScope.APPOINTMENTS.value, "Appointments"),
    (ProxyScope.LETTERS.value, "Letters"),
    (ProxyScope.DETAILS.value, "Contact details (address, phone numbers and email)"),
]
# What a parent usually needs for a child (DESIGN.md, Proxy), ticked to start with.
CHILD_SCOPES = [
    ProxyScope.RESULTS.value,
    ProxyScope.MESSAGES.value,
    ProxyScope.APPOINTMENTS.value,
    ProxyScope.LETTERS.value,
]


class TheirDateOfBirthField(DateOfBirthField):
    """A date of birth typed by someone else: "Enter their date of birth" when it is missing."""

    def clean(self, value: Any) -> Any:
        try:
            return super().clean(value)
        except forms.ValidationError as error:
            if error.code == "required":
                raise forms.ValidationError("Enter their date of birth", code="required") from None
            raise


def _name_field(label: str, required_message: str) -> forms.CharField:
    return UserTextField(  # type: ignore[no-any-return]
        label=label,
        max_length=NAME_MAX_LENGTH,
        widget=forms.TextInput(attrs={"spellcheck": False, "autocomplete": "off"}),
        error_messages={"required": required_message, "max_length": f"{label} must be 100 characters or fewer"},
    )


class ProxyApplicationForm(forms.Form):
    given_name = _name_field("First name", "Enter their first name")
    family_name = _name_field("Last name", "Enter their last name")
    date_of_birth = TheirDateOfBirthField(label="Date of birth")
    nhs_number = forms.CharField(
        label="NHS number",
        help_text="10 digits, like 943 476 5919. It is on letters from the hospital or their GP.",
        required=False,
        max_length=20,
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "spellcheck": False, "autocomplete": "off", "class": "nhsuk-input--width-10"}
        ),
    )
    hospital_number = forms.CharField(
        label="Hospital number",
        help_text="If you do not know their NHS number. It is on letters from this hospital, for example 40012345.",
        required=False,
        max_length=HOSPITAL_NUMBER_MAX_LENGTH,
        widget=forms.TextInput(attrs={"spellcheck": False, "autocomplete": "off", "class": "nhsuk-input--width-10"}),
        error_messages={"max_length": "Hospital number must be 20 characters or fewer"},
    )
    relationship = UserTextField(
        label="How are you related to them?",
        help_text="In your own words, for example mother, father, guardian, son, daughter or carer.",
        max_length=RELATIONSHIP_MAX_LENGTH,
        widget=forms.TextInput(attrs={"class": "nhsuk-input--width-20"}),
        error_messages={
            "required": "Enter how you are related to them",
            "max_length": "Relationship must be 60 characters or fewer",
        },
    )
    basis = forms.ChoiceField(
        label="Why can you act for them?",
        choices=BASIS_CHOICES,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Select why you can act for them",
            "invalid_choice": "Select why you can act for them",
        },
    )
    scopes = forms.MultipleChoiceField(
        label="What do you need to see?",
        help_text="Select all that apply. The helpdesk may give you less than you ask for.",
        choices=SCOPE_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        initial=CHILD_SCOPES,
        error_messages={
            "required": "Select at least one thing you need to see",
            "invalid_choice": "Select at least one thing you need to see",
        },
    )
    note = text_area_field(
        label="Anything else the helpdesk should know (optional)",
        hint="For example, the best time to call you. Do not include medical details.",
        max_length=NOTE_MAX_LENGTH,
        required_message="",
        too_long_message=f"Your note must be {NOTE_MAX_LENGTH:,} characters or fewer",
        field_class=UserTextField,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["note"].required = False
        for name in ("nhs_number", "hospital_number"):
            self.fields[name].widget.attrs.pop("maxlength", None)

    def clean_given_name(self) -> str:
        return " ".join(self.cleaned_data["given_name"].split())

    def clean_family_name(self) -> str:
        name = " ".join(self.cleaned_data["family_name"].split())
        if not name:
            raise forms.ValidationError("Enter their last name")
        return name

    def clean_relationship(self) -> str:
        relationship = " ".join(self.cleaned_data["relationship"].split())
        if not relationship:
            raise forms.ValidationError("Enter how you are related to them")
        return relationship

    def clean_nhs_number(self) -> str:
        value = self.cleaned_data["nhs_number"].strip()
        if not value:
            return ""
        validate_nhs_number(value)
        return normalise_nhs_number(value)

    def clean_hospital_number(self) -> str:
        value = "".join(self.cleaned_data["hospital_number"].split()).upper()
        if value and not value.isalnum():
            raise forms.ValidationError("Enter a hospital number using letters and numbers only, like 40012345")
        return value

    def clean_note(self) -> str:
        return self.cleaned_data["note"].strip()

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if (
            "nhs_number" not in self.errors
            and "hospital_number" not in self.errors
            and not cleaned.get("nhs_number")
            and not cleaned.get("hospital_number")
        ):
            self.add_error("nhs_number", "Enter their NHS number or their hospital number")
        return cleaned

    def date_of_birth_input(self) -> dict[str, Any]:
        # Someone else's date of birth: the browser must not offer the person's own.
        return date_input_params(self["date_of_birth"], hint="For example, 15 3 2019", numeric=False)

    def details(self) -> ApplicationDetails:
        data = self.cleaned_data
        return ApplicationDetails(
            given_name=data["given_name"],
            family_name=data["family_name"],
            birth_date=data["date_of_birth"],
            nhs_number=data["nhs_number"],
            hospital_number=data["hospital_number"],
            relationship=data["relationship"],
            basis=data["basis"],
            scopes=list(data["scopes"]),
            note=data["note"],
        )
