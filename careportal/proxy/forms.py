"""Forms for /access-for-others/: inviting someone, changing what they see, and a proxy-only account.

The account form reuses the activation journey's own forms (username and password with the project's password
validators; three security questions), so both ways of making an account follow the same rules.
"""

import unicodedata
from typing import Any

from django import forms

from careportal.accounts.activation_forms import SecurityQuestionsForm, UsernamePasswordForm
from careportal.accounts.models import User
from careportal.core.date_input import OptionalFutureDateField, date_input_params
from careportal.core.forms import without_maxlength
from careportal.patients.models import Patient
from careportal.proxy.models import ProxyScope
from careportal.proxy.presenters import SCOPE_WORDS, sentence
from careportal.proxy.selectors import invitation_problem


def scope_field(*, label: str, help_text: str) -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        label=label,
        help_text=help_text,
        choices=[(scope.value, sentence(SCOPE_WORDS[scope])) for scope in ProxyScope],
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": "Choose at least one part of your record they can see",
            "invalid_choice": "Choose from the parts of your record listed",
        },
    )


SCOPES_HINT = (
    "Choose at least one. Sexual health, HIV, genetics, mental health and safeguarding information is never shown "
    "to them unless hospital staff decide it should be."
)
END_DATE_HINT = "Leave this blank if their access should carry on until you take it away. For example, 25 12 2027"


class InviteForm(forms.Form):
    email = forms.EmailField(
        label="Their email address",
        help_text="We will email them a link to accept. It works only for this email address.",
        max_length=254,
        error_messages={
            "required": "Enter their email address",
            "invalid": "Enter an email address in the correct format, like name@example.com",
            "max_length": "Email address must be 254 characters or fewer",
        },
        widget=forms.EmailInput(attrs={"autocomplete": "off", "spellcheck": False}),
    )
    relationship = without_maxlength(
        forms.CharField(
            label="Their relationship to you",
            help_text="For example, wife, son, friend or carer",
            max_length=60,
            error_messages={
                "required": "Enter their relationship to you, like wife or carer",
                "max_length": "Relationship must be 60 characters or fewer",
            },
            widget=forms.TextInput(attrs={"class": "nhsuk-input--width-20", "autocomplete": "off"}),
        )
    )
    scopes = scope_field(label="What can they see and do for you?", help_text=SCOPES_HINT)
    valid_until = OptionalFutureDateField(label="When should their access end? (optional)")

    def __init__(self, *args: Any, patient: Patient, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.patient = patient
        self.user = user

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        problem = invitation_problem(patient=self.patient, user=self.user, email=email)
        if problem:
            raise forms.ValidationError(problem, code="refused")
        return email

    def clean_relationship(self) -> str:
        return unicodedata.normalize("NFKC", self.cleaned_data["relationship"]).strip()

    def valid_until_input(self) -> dict[str, Any]:
        return date_input_params(self["valid_until"], hint=END_DATE_HINT)


class RelationshipChangeForm(forms.Form):
    scopes = scope_field(label="What can they see and do for you?", help_text=SCOPES_HINT)
    valid_until = OptionalFutureDateField(label="When should their access end? (optional)")

    def __init__(self, *args: Any, scopes_editable: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.scopes_editable = scopes_editable
        if not scopes_editable:
            del self.fields["scopes"]

    def valid_until_input(self) -> dict[str, Any]:
        return date_input_params(self["valid_until"], hint=END_DATE_HINT)


NAME_MAX_LENGTH = 150


def _name_field(label: str, autocomplete: str) -> forms.CharField:
    return without_maxlength(
        forms.CharField(
            label=label,
            max_length=NAME_MAX_LENGTH,
            error_messages={
                "required": f"Enter your {label.lower()}",
                "max_length": f"{label} must be {NAME_MAX_LENGTH} characters or fewer",
            },
            widget=forms.TextInput(attrs={"autocomplete": autocomplete, "spellcheck": False}),
        )
    )


class ProxyAccountForm(UsernamePasswordForm, SecurityQuestionsForm):
    """A proxy-only account: names, then the activation journey's username and password (with the project's
    password validators, which also compare the password with the names typed here) and its three security
    questions."""

    first_name = _name_field("First name", "given-name")
    last_name = _name_field("Last name", "family-name")

    field_order = [
        "first_name",
        "last_name",
        "username",
        "password",
        "question_1",
        "answer_1",
        "question_2",
        "answer_2",
        "question_3",
        "answer_3",
    ]

    def __init__(self, *args: Any, email: str, **kwargs: Any) -> None:
        super().__init__(*args, password_user=User(email=email), **kwargs)
        self.order_fields(self.field_order)

    def clean_first_name(self) -> str:
        return unicodedata.normalize("NFKC", self.cleaned_data["first_name"]).strip()

    def clean_last_name(self) -> str:
        return unicodedata.normalize("NFKC", self.cleaned_data["last_name"]).strip()

    def clean(self) -> dict[str, Any]:
        # The password must not look like the names typed on this page either.
        self.password_user.first_name = self.cleaned_data.get("first_name", "")
        self.password_user.last_name = self.cleaned_data.get("last_name", "")
        return super().clean()
