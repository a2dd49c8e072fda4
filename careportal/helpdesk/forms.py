"""Forms for the helpdesk console and the Get help page. Each error message says what to do, in NHS.UK style."""

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from careportal.core.forms import reason_field, without_maxlength
from careportal.core.text import UserTextField
from careportal.helpdesk.models import SupportTopic
from careportal.patients.validators import normalise_nhs_number, validate_nhs_number

DESCRIPTION_MAX_LENGTH = 2000
REPLY_MAX_LENGTH = 5000
REASON_MAX_LENGTH = 300
USERNAME_SEARCH_MIN_LENGTH = 3
_USERNAME = re.compile(r"^[\w.@+-]+$")
_HOSPITAL_NUMBER = re.compile(r"^[A-Za-z0-9]{1,20}$")


class SearchBy:
    HOSPITAL_NUMBER = "hospital_number"
    NHS_NUMBER = "nhs_number"
    USERNAME = "username"

    CHOICES = [
        (HOSPITAL_NUMBER, "Hospital number"),
        (NHS_NUMBER, "NHS number"),
        (USERNAME, "Username"),
    ]


_MISSING_TERM = {
    SearchBy.HOSPITAL_NUMBER: "Enter a hospital number",
    SearchBy.NHS_NUMBER: "Enter an NHS number",
    SearchBy.USERNAME: "Enter a username",
}


class AccountSearchForm(forms.Form):
    search_by = forms.ChoiceField(
        label="Search by",
        choices=SearchBy.CHOICES,
        widget=forms.RadioSelect,
        initial=SearchBy.HOSPITAL_NUMBER,
        error_messages={
            "required": "Select what you are searching by",
            "invalid_choice": "Select what you are searching by",
        },
    )
    term = forms.CharField(
        label="Hospital number, NHS number or username",
        help_text="Type an NHS number with or without spaces, like 943 476 5919. "
        f"For a username, type at least {USERNAME_SEARCH_MIN_LENGTH} characters from its start.",
        max_length=150,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": False}),
        error_messages={"max_length": "Enter no more than 150 characters"},
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        search_by = cleaned.get("search_by")
        term = (cleaned.get("term") or "").strip()
        if not search_by or "term" in self.errors:
            return cleaned
        if not term:
            self.add_error("term", _MISSING_TERM[search_by])
        elif search_by == SearchBy.NHS_NUMBER:
            try:
                validate_nhs_number(term)
            except ValidationError as error:
                self.add_error("term", error)
            else:
                cleaned["term"] = normalise_nhs_number(term)
        elif search_by == SearchBy.HOSPITAL_NUMBER:
            compact = term.replace(" ", "")
            if not _HOSPITAL_NUMBER.match(compact):
                self.add_error(
                    "term", "Enter a hospital number using letters and numbers only, up to 20 characters, like 40012345"
                )
            else:
                cleaned["term"] = compact.upper()
        elif search_by == SearchBy.USERNAME:
            if not _USERNAME.match(term):
                self.add_error("term", "Enter a username using only letters, numbers and the characters @ . + - _")
            elif len(term) < USERNAME_SEARCH_MIN_LENGTH:
                self.add_error("term", f"Enter at least {USERNAME_SEARCH_MIN_LENGTH} characters of the username")
            else:
                cleaned["term"] = term
        return cleaned


class IdentityCheck:
    PHONE = "phone"
    IN_PERSON = "in_person"
    OTHER = "other"

    CHOICES = [
        (PHONE, "On the phone: their date of birth, postcode and hospital or NHS number all matched"),
        (IN_PERSON, "In person, with photo ID"),
        (OTHER, "Another way (say how in the reason)"),
    ]


def _reason_field(*, hint: str) -> forms.CharField:
    # Shown in the account history: bidirectional overrides are removed (careportal/core/text.py).
    return reason_field(hint=hint, max_length=REASON_MAX_LENGTH, field_class=UserTextField)  # type: ignore[no-any-return]


class ReasonForm(forms.Form):
    """The confirmation step of a helpdesk action: why it is being done, recorded with who did it."""

    reason = _reason_field(
        hint="This is recorded with your name. Say who asked and how, for example "
        '"Called the helpdesk, could not sign in after a holiday". Do not include medical details.'
    )


class IdentityCheckedReasonForm(forms.Form):
    """For actions that hand over access (a new activation code, a two-step reset): how identity was checked."""

    identity_check = forms.ChoiceField(
        label="How did you check who they are?",
        choices=IdentityCheck.CHOICES,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Select how you checked who they are",
            "invalid_choice": "Select how you checked who they are",
        },
    )
    reason = _reason_field(
        hint="This is recorded with your name. Say who asked and why, for example "
        '"Patient called: new phone, authenticator app lost". Do not include medical details.'
    )

    def identity_check_label(self) -> str:
        return dict(IdentityCheck.CHOICES).get(self.cleaned_data.get("identity_check", ""), "")


class SupportRequestForm(forms.Form):
    """Get help: a request for technical help. `account_email`, when signed in, fills in and stands in for the
    email address."""

    # Typed by anyone and shown to the helpdesk: bidirectional overrides are removed (careportal/core/text.py).
    name = UserTextField(
        label="Your name",
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "name", "spellcheck": False}),
        error_messages={"required": "Enter your name", "max_length": "Name must be 150 characters or fewer"},
    )
    email = forms.EmailField(
        label="Email address",
        help_text="We will send our reply to this address.",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "spellcheck": False}),
        error_messages={
            "required": "Enter your email address",
            "invalid": "Enter an email address in the correct format, like name@example.com",
            "max_length": "Email address must be 254 characters or fewer",
        },
    )
    topic = forms.ChoiceField(
        label="What is the problem about?",
        choices=SupportTopic.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Select what the problem is about",
            "invalid_choice": "Select what the problem is about",
        },
    )
    description = UserTextField(
        label="Describe the problem",
        help_text="Tell us what you were trying to do and what happened. Do not include medical details, "
        f"passwords or codes. Up to {DESCRIPTION_MAX_LENGTH:,} characters.",
        max_length=DESCRIPTION_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 6}),
        error_messages={
            "required": "Describe the problem",
            "max_length": f"Description must be {DESCRIPTION_MAX_LENGTH:,} characters or fewer",
        },
    )
    # A field people never see: scripts that fill in every field give themselves away.
    website = forms.CharField(required=False, max_length=200)

    def __init__(self, *args: Any, account_email: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.account_email = account_email
        without_maxlength(self.fields["description"])
        if account_email:
            self.fields["email"].required = False
            self.fields[
                "email"
            ].help_text = "We will send our reply to this address. Leave it empty to use the address on your account."

    @property
    def is_spam(self) -> bool:
        return bool(self.data.get("website"))

    def clean_email(self) -> str:
        return self.cleaned_data.get("email") or self.account_email

    def clean_name(self) -> str:
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise ValidationError("Enter your name")
        return name

    def clean_description(self) -> str:
        description = self.cleaned_data["description"].strip()
        if not description:
            raise ValidationError("Describe the problem")
        return description


class SupportReplyForm(forms.Form):
    reply = UserTextField(
        label="Your reply",
        help_text="This is emailed to the person who asked. Write in plain English. Do not include medical details, "
        "and never ask for a password or a code.",
        max_length=REPLY_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 8}),
        error_messages={
            "required": "Enter your reply",
            "max_length": f"Reply must be {REPLY_MAX_LENGTH:,} characters or fewer",
        },
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        without_maxlength(self.fields["reply"])

    def clean_reply(self) -> str:
        reply = self.cleaned_data["reply"].strip()
        if not reply:
            raise ValidationError("Enter your reply")
        return reply
