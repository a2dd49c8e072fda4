from allauth.account.forms import LoginForm
from django import forms

from careportal.accounts.adapter import SIGN_IN_FAILED


class SignInForm(LoginForm):
    """allauth's sign-in form with our labels, hints and messages (username and password only)."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.fields["login"] = forms.CharField(
            label="Username",
            max_length=150,
            widget=forms.TextInput(attrs={"autocomplete": "username", "spellcheck": False, "autocapitalize": "none"}),
            error_messages={"required": "Enter your username"},
        )
        self.fields["password"] = forms.CharField(
            label="Password",
            strip=False,
            max_length=4096,
            widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
            error_messages={"required": "Enter your password"},
        )
        self.fields.pop("remember", None)

    def clean(self):  # type: ignore[no-untyped-def]
        cleaned = super().clean()
        # allauth sends a deactivated account to an "account inactive" page, which would tell anyone holding the
        # password that the account exists. It gets the same answer as a wrong password instead.
        if getattr(self, "user", None) is not None and not self.user.is_active:
            raise forms.ValidationError(SIGN_IN_FAILED)
        return cleaned
