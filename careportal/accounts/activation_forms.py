"""The forms of the activation journey (careportal/accounts/views/activation.py), with NHS.UK error messages.

Each form only validates what was typed; the code is checked against the database by the service
(careportal/accounts/activation_services.py), which gives one answer whatever was wrong.
"""

import calendar
import datetime
import re
import unicodedata
from typing import Any

from django import forms
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.utils import timezone

from careportal.accounts.activation import CODE_LENGTH, normalise_code
from careportal.accounts.activation_services import email_is_taken, normalise_postcode, username_is_taken
from careportal.accounts.models import SecurityQuestion, User
from careportal.accounts.security import hash_answer, normalise_answer
from careportal.core.date_input import (
    DATE_PARTS,
    DayMonthYearWidget,
    date_input_params,
    missing_parts,
    typed_parts,
)

# Date of birth --------------------------------------------------------------------------------------------------

EARLIEST_BIRTH_DATE = datetime.date(1900, 1, 1)
_MONTHS = {
    **{name.casefold(): number for number, name in enumerate(calendar.month_name) if name},
    **{name.casefold(): number for number, name in enumerate(calendar.month_abbr) if name},
    "sept": 9,
}


def _and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


class DateOfBirthField(forms.Field):
    """A date of birth from day, month and year boxes, with the NHS.UK date input's specific messages.

    After cleaning, `error_parts` names the boxes to mark as wrong (all three when the date as a whole is wrong).
    """

    widget = DayMonthYearWidget

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error_parts: tuple[str, ...] = ()

    def clean(self, value: Any) -> datetime.date:
        self.error_parts = ()
        texts = typed_parts(value, longest=20)
        day_text, month_text, year_text = texts
        missing = list(missing_parts(texts))
        if len(missing) == 3:
            self.error_parts = DATE_PARTS
            raise forms.ValidationError("Enter your date of birth", code="required")
        if missing:
            self.error_parts = tuple(missing)
            articles = ["a " + part for part in missing]
            raise forms.ValidationError(f"Date of birth must include {_and(articles)}", code="incomplete")

        month_name = month_text.casefold().rstrip(".")
        month = int(month_text) if re.fullmatch(r"[0-9]{1,2}", month_text) else _MONTHS.get(month_name, 0)
        if not re.fullmatch(r"[0-9]{4}", year_text):
            self.error_parts = ("year",)
            raise forms.ValidationError("Year must include 4 numbers", code="year")
        wrong = []
        if not re.fullmatch(r"[0-9]{1,2}", day_text) or not 1 <= int(day_text) <= 31:
            wrong.append("day")
        if not 1 <= month <= 12:
            wrong.append("month")
        if wrong:
            self.error_parts = tuple(wrong)
            raise forms.ValidationError("Date of birth must be a real date", code="invalid")
        try:
            birth_date = datetime.date(int(year_text), month, int(day_text))
        except ValueError:
            self.error_parts = DATE_PARTS
            raise forms.ValidationError("Date of birth must be a real date", code="invalid") from None
        if birth_date > timezone.localdate():
            self.error_parts = DATE_PARTS
            raise forms.ValidationError("Date of birth must be in the past", code="future")
        if birth_date < EARLIEST_BIRTH_DATE:
            self.error_parts = ("year",)
            raise forms.ValidationError("Date of birth must be the same as or after 1 January 1900", code="too_early")
        return birth_date


def date_of_birth_params(bound_field: forms.BoundField, *, hint: str) -> dict[str, Any]:
    """The NHS.UK date input for the person's own date of birth: the browser may fill it in, and a month may be
    typed as a word."""
    return date_input_params(bound_field, hint=hint, autocomplete_prefix="bday", numeric=False)


# Step 1: the letter's code, with date of birth and postcode -----------------------------------------------------

POSTCODE_PATTERN = re.compile(r"^(GIR0AA|[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2})$")


class ActivationCodeForm(forms.Form):
    code = forms.CharField(
        label="Activation code",
        help_text="This is in your letter, for example ABCD-EFGH-JKMN",
        strip=True,
        error_messages={"required": "Enter your activation code"},
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "spellcheck": False,
                "autocapitalize": "characters",
                "class": "nhsuk-input--width-20",
            }
        ),
    )
    date_of_birth = DateOfBirthField(label="Date of birth")
    postcode = forms.CharField(
        label="Postcode",
        help_text="The postcode of your home address",
        strip=True,
        error_messages={"required": "Enter your postcode"},
        widget=forms.TextInput(attrs={"autocomplete": "postal-code", "class": "nhsuk-input--width-10"}),
    )

    def clean_code(self) -> str:
        code = normalise_code(unicodedata.normalize("NFKC", self.cleaned_data["code"]))
        if len(code) != CODE_LENGTH or not code.isascii():
            raise forms.ValidationError(
                f"Activation code must be {CODE_LENGTH} letters and numbers, like ABCD-EFGH-JKMN", code="format"
            )
        return code

    def clean_postcode(self) -> str:
        postcode = normalise_postcode(self.cleaned_data["postcode"])
        if not POSTCODE_PATTERN.match(postcode):
            raise forms.ValidationError("Enter a real postcode, like LS1 4AP", code="format")
        return postcode

    def date_of_birth_input(self) -> dict[str, Any]:
        return date_of_birth_params(self["date_of_birth"], hint="For example, 15 3 1984")


# Step 2: email address ------------------------------------------------------------------------------------------


class EmailForm(forms.Form):
    email = forms.EmailField(
        label="Email address",
        help_text="We will email you a link to confirm it. We never put medical information in emails.",
        max_length=254,
        error_messages={
            "required": "Enter your email address",
            "invalid": "Enter an email address in the correct format, like name@example.com",
            "max_length": "Email address must be 254 characters or fewer",
        },
        widget=forms.EmailInput(attrs={"autocomplete": "email", "spellcheck": False}),
    )

    def clean_email(self) -> str:
        # allauth keeps addresses in lower case, and lets one address confirm only one account.
        email = self.cleaned_data["email"].lower()
        if email_is_taken(email):
            raise forms.ValidationError(
                "This email address is already used for a CarePortal account. Enter a different email address.",
                code="taken",
            )
        return email


# Step 3: username and password ----------------------------------------------------------------------------------

USERNAME_MIN_LENGTH = 4
USERNAME_MAX_LENGTH = 150
PASSWORD_MAX_LENGTH = 256
USERNAME_CHARACTERS = re.compile(r"^[A-Za-z0-9._-]+$")
USERNAME_RULES = "letters a to z (without accents), numbers, full stops (.), hyphens (-) and underscores (_)"


class UsernamePasswordForm(forms.Form):
    username = forms.CharField(
        label="Create a username",
        help_text=f"Use {USERNAME_MIN_LENGTH} to {USERNAME_MAX_LENGTH} characters: {USERNAME_RULES}. "
        "Do not use your email address or NHS number.",
        strip=True,
        error_messages={"required": "Enter a username"},
        widget=forms.TextInput(attrs={"autocomplete": "username", "spellcheck": False, "autocapitalize": "none"}),
    )
    password = forms.CharField(
        label="Create a password",
        help_text="Use at least 12 characters. A good way to make a strong password is to put 3 random words "
        "together, like ‘PurpleKettleRiver’. Do not use a password you use for anything else.",
        strip=False,
        error_messages={"required": "Enter a password"},
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args: Any, password_user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # An unsaved user with the patient's names and email address: the password must not look like them.
        self.password_user = password_user

    def clean_username(self) -> str:
        username = unicodedata.normalize("NFKC", self.cleaned_data["username"])
        if "@" in username:
            raise forms.ValidationError("Username cannot be an email address", code="email")
        if re.fullmatch(r"[0-9]{10}", re.sub(r"[\s-]", "", username)):
            raise forms.ValidationError("Username cannot be an NHS number", code="nhs_number")
        if len(username) > USERNAME_MAX_LENGTH:
            raise forms.ValidationError(
                f"Username must be {USERNAME_MAX_LENGTH} characters or fewer", code="max_length"
            )
        if not USERNAME_CHARACTERS.match(username):
            # Letters with accents and other alphabets are refused: "siobhán" and "siobhan", or a Latin "a" and the
            # Cyrillic letter that looks like it, would otherwise be different usernames that look the same.
            raise forms.ValidationError(f"Username can only include {USERNAME_RULES}", code="characters")
        if len(username) < USERNAME_MIN_LENGTH:
            raise forms.ValidationError(f"Username must be {USERNAME_MIN_LENGTH} characters or more", code="min_length")
        if not re.search(r"[A-Za-z]", username):
            raise forms.ValidationError("Username must include at least one letter", code="no_letter")
        if username_is_taken(username):
            raise forms.ValidationError(
                "That username is already taken. Try another, for example by adding a number.", code="taken"
            )
        return username

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if len(password) > PASSWORD_MAX_LENGTH:
            raise forms.ValidationError(
                f"Password must be {PASSWORD_MAX_LENGTH} characters or fewer", code="max_length"
            )
        return password

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        password = cleaned.get("password")
        if password:
            self.password_user.username = cleaned.get("username", "")
            try:
                validate_password(password, user=self.password_user)
            except forms.ValidationError as error:
                self.add_error("password", error)
        return cleaned

    def password_hash(self) -> str:
        # Only the hash is kept (in the session) until the account is created.
        return make_password(self.cleaned_data["password"])


# Step 4: security questions -------------------------------------------------------------------------------------

QUESTION_COUNT = 3
ANSWER_MAX_LENGTH = 100
_ORDINALS = {1: "first", 2: "second", 3: "third"}


class SecurityQuestionsForm(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for number in range(1, QUESTION_COUNT + 1):
            self.fields[f"question_{number}"] = forms.ChoiceField(
                label=f"Question {number}",
                choices=[("", "Choose a question"), *SecurityQuestion.choices],
                error_messages={
                    "required": f"Choose your {_ORDINALS[number]} question",
                    "invalid_choice": f"Choose your {_ORDINALS[number]} question from the list",
                },
            )
            self.fields[f"answer_{number}"] = forms.CharField(
                label=f"Answer to question {number}",
                strip=True,
                error_messages={"required": f"Enter your answer to question {number}"},
                widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": False}),
            )

    def _clean_answer(self, number: int) -> str:
        answer = unicodedata.normalize("NFKC", self.cleaned_data[f"answer_{number}"])
        if len(answer) > ANSWER_MAX_LENGTH:
            raise forms.ValidationError(
                f"Answer to question {number} must be {ANSWER_MAX_LENGTH} characters or fewer", code="max_length"
            )
        if len(normalise_answer(answer)) < 2:
            raise forms.ValidationError(
                f"Answer to question {number} must include at least 2 letters or numbers", code="too_short"
            )
        return answer

    def clean_answer_1(self) -> str:
        return self._clean_answer(1)

    def clean_answer_2(self) -> str:
        return self._clean_answer(2)

    def clean_answer_3(self) -> str:
        return self._clean_answer(3)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        seen: dict[str, int] = {}
        for number in range(1, QUESTION_COUNT + 1):
            question = cleaned.get(f"question_{number}")
            if not question:
                continue
            if question in seen:
                self.add_error(
                    f"question_{number}",
                    forms.ValidationError(
                        f"Choose a different question from question {seen[question]}", code="duplicate"
                    ),
                )
            else:
                seen[question] = number
        return cleaned

    def questions(self) -> list[str]:
        return [self.cleaned_data[f"question_{number}"] for number in range(1, QUESTION_COUNT + 1)]

    def answer_hashes(self) -> list[str]:
        return [hash_answer(self.cleaned_data[f"answer_{number}"]) for number in range(1, QUESTION_COUNT + 1)]
