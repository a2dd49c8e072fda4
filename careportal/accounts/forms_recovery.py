"""Forms for the forgotten-password and forgotten-username journeys (views: careportal/accounts/views/recovery.py).

They validate what was typed and nothing else: whether an account exists is never a form error (account
enumeration; see careportal/accounts/recovery.py).
"""

from django import forms
from django.contrib.auth import password_validation

from careportal.accounts.models import User

IDENTIFIER_MAX_LENGTH = 254
ANSWER_MAX_LENGTH = 100
PASSWORD_MAX_LENGTH = 4096

_TEXT_ATTRS = {"spellcheck": False, "autocapitalize": "none"}


class ForgottenPasswordForm(forms.Form):
    identifier = forms.CharField(
        label="Username or email address",
        help_text="If you share an email address with someone else, enter your username.",
        max_length=IDENTIFIER_MAX_LENGTH,
        widget=forms.TextInput(attrs={"autocomplete": "username", **_TEXT_ATTRS}),
        error_messages={
            "required": "Enter your username or email address",
            "max_length": f"Username or email address must be {IDENTIFIER_MAX_LENGTH} characters or fewer",
            "null_characters_not_allowed": "Username or email address must only include letters, numbers and symbols",
        },
    )


class ForgottenUsernameForm(forms.Form):
    email = forms.EmailField(
        label="Email address",
        help_text="The email address on your account.",
        max_length=IDENTIFIER_MAX_LENGTH,
        widget=forms.EmailInput(attrs={"autocomplete": "email", **_TEXT_ATTRS}),
        error_messages={
            "required": "Enter your email address",
            "invalid": "Enter an email address in the correct format, like name@example.com",
            "max_length": f"Email address must be {IDENTIFIER_MAX_LENGTH} characters or fewer",
            "null_characters_not_allowed": "Enter an email address in the correct format, like name@example.com",
        },
    )


class SecurityAnswersForm(forms.Form):
    """One text box per question asked; the questions' wording is the labels. Fields are `answer_1`, `answer_2`, ...
    so that nothing in the form's markup but the wording differs from one person (or non-person) to the next."""

    ORDINALS = ("first", "second", "third")

    def __init__(self, *args: object, questions: list[str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        for number, question in enumerate(questions, start=1):
            ordinal = self.ORDINALS[number - 1]
            self.fields[f"answer_{number}"] = forms.CharField(
                label=question,
                max_length=ANSWER_MAX_LENGTH,
                widget=forms.TextInput(attrs={"autocomplete": "off", **_TEXT_ATTRS}),
                error_messages={
                    "required": f"Enter your answer to the {ordinal} question",
                    "max_length": f"Your answer to the {ordinal} question must be {ANSWER_MAX_LENGTH} characters or "
                    "fewer",
                    "null_characters_not_allowed": f"Your answer to the {ordinal} question must only include "
                    "letters, numbers and symbols",
                },
            )

    def answers(self) -> list[str]:
        return [self.cleaned_data[name] for name in self.fields]


class NewPasswordForm(forms.Form):
    """The new password, typed twice, checked against AUTH_PASSWORD_VALIDATORS for the account it is for."""

    new_password = forms.CharField(
        label="New password",
        help_text=(
            "Use at least 12 characters. Three or four random words together work well. Do not use a common "
            "password, only numbers, or anything like your username or email address."
        ),
        strip=False,
        max_length=PASSWORD_MAX_LENGTH,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        error_messages={
            "required": "Enter a new password",
            "max_length": f"Your password must be {PASSWORD_MAX_LENGTH} characters or fewer",
        },
    )
    new_password_again = forms.CharField(
        label="Type your new password again",
        strip=False,
        max_length=PASSWORD_MAX_LENGTH,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        error_messages={
            "required": "Type your new password again",
            "max_length": f"Your password must be {PASSWORD_MAX_LENGTH} characters or fewer",
        },
    )

    def __init__(self, *args: object, user: User, **kwargs: object) -> None:
        self.user = user
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def clean_new_password(self) -> str:
        password: str = self.cleaned_data["new_password"]
        # Each validator's own message, so the person knows exactly what to change ("too short", "too common").
        password_validation.validate_password(password, self.user)
        return password

    def clean(self) -> dict:
        cleaned = super().clean() or {}
        first, second = cleaned.get("new_password"), cleaned.get("new_password_again")
        if first and second and first != second:
            self.add_error("new_password_again", "The passwords do not match. Type the same password twice.")
        return cleaned
