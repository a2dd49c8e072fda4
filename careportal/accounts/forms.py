from django import forms
from django.contrib.auth.forms import AuthenticationForm


class SignInForm(AuthenticationForm):
    """Username and password. One message for every failure, so it never tells whether an account exists."""

    error_messages = {
        "invalid_login": (
            "We could not sign you in with that username and password. Check them and try again. "
            "Usernames and passwords are case-sensitive."
        ),
        "inactive": (
            "We could not sign you in with that username and password. Check them and try again. "
            "Usernames and passwords are case-sensitive."
        ),
    }

    username = forms.CharField(
        label="Username",
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "username", "spellcheck": False, "autocapitalize": "none"}),
        error_messages={"required": "Enter your username"},
    )
    password = forms.CharField(
        label="Password",
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        error_messages={"required": "Enter your password"},
    )
