"""The forms on /your-details/: one small form per part (NHS.UK pattern: a summary list with "Change" links).

Forms check and normalise the values (a UK postcode in capitals with its space, phone numbers written the usual
way); careportal/patients/contact_services.py makes the change.
"""

from typing import Any

from django import forms

from careportal.patients.models import ContactPreference
from careportal.patients.validators import normalise_phone, normalise_postcode, normalise_uk_mobile


def _text(label: str, *, max_length: int, required_message: str = "", autocomplete: str = "", **kwargs: Any):  # type: ignore[no-untyped-def]
    attrs = {"autocomplete": autocomplete} if autocomplete else {}
    return forms.CharField(
        label=label,
        max_length=max_length,
        required=bool(required_message),
        widget=forms.TextInput(attrs=attrs),
        error_messages={
            "required": required_message,
            "max_length": f"{label} must be {max_length} characters or fewer",
        },
        **kwargs,
    )


class AddressForm(forms.Form):
    address_line_1 = _text(
        "Address line 1",
        max_length=200,
        required_message="Enter the first line of the address, like the house number and street",
        autocomplete="address-line1",
    )
    address_line_2 = _text("Address line 2 (optional)", max_length=200, autocomplete="address-line2")
    town = _text(
        "Town or city", max_length=100, required_message="Enter the town or city", autocomplete="address-level2"
    )
    postcode = _text("Postcode", max_length=20, required_message="Enter the postcode", autocomplete="postal-code")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["postcode"].widget.attrs["class"] = "nhsuk-input--width-10"

    def clean_postcode(self) -> str:
        value = self.cleaned_data["postcode"]
        try:
            return normalise_postcode(value)
        except ValueError:
            raise forms.ValidationError("Enter a real UK postcode, like SW1A 1AA", code="postcode") from None


class MobilePhoneForm(forms.Form):
    mobile_phone = forms.CharField(
        label="Mobile phone number",
        help_text="A UK mobile number, like 07700 900 982. Leave it empty to remove the number.",
        max_length=30,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "tel", "type": "tel"}),
        error_messages={"max_length": "Enter a UK mobile number, like 07700 900 982"},
    )

    def clean_mobile_phone(self) -> str:
        value = self.cleaned_data["mobile_phone"].strip()
        if not value:
            return ""
        try:
            return normalise_uk_mobile(value)
        except ValueError:
            raise forms.ValidationError(
                "Enter a UK mobile number, like 07700 900 982. For a landline, change the home phone number.",
                code="mobile",
            ) from None


class HomePhoneForm(forms.Form):
    home_phone = forms.CharField(
        label="Home phone number",
        help_text="Include the area code, like 020 7946 0000. Leave it empty to remove the number.",
        max_length=30,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "tel", "type": "tel"}),
        error_messages={"max_length": "Enter a phone number, like 020 7946 0000"},
    )

    def clean_home_phone(self) -> str:
        value = self.cleaned_data["home_phone"].strip()
        if not value:
            return ""
        try:
            return normalise_phone(value)
        except ValueError:
            raise forms.ValidationError(
                "Enter a phone number with its area code, like 020 7946 0000, or an international number starting "
                "with +",
                code="phone",
            ) from None


class EmailForm(forms.Form):
    email = forms.EmailField(
        label="New email address",
        help_text="We will send a link to this address. Your email address changes only when you open the link.",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        error_messages={
            "required": "Enter your new email address",
            "invalid": "Enter an email address in the correct format, like name@example.com",
            "max_length": "Email address must be 254 characters or fewer",
        },
    )


class ContactPreferencesForm(forms.Form):
    letters = forms.ChoiceField(
        label="How should we send letters?",
        choices=[
            (ContactPreference.PORTAL, "Through CarePortal (paperless): we tell you when a letter arrives"),
            (ContactPreference.POST, "By post to the address we have"),
        ],
        widget=forms.RadioSelect,
        error_messages={"required": "Choose how we send letters", "invalid_choice": "Choose how we send letters"},
    )
    notifications = forms.MultipleChoiceField(
        label="How should we tell you that something new is in CarePortal?",
        help_text="Choose one or both. We never put medical information in emails or text messages.",
        choices=[("email", "By email"), ("sms", "By text message to your mobile phone")],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        error_messages={"invalid_choice": "Choose email, text message or both"},
    )

    def __init__(self, *args: Any, for_patient: bool, sms_available: bool, has_mobile: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.for_patient = for_patient
        self.has_mobile = has_mobile
        if not for_patient or not sms_available:
            # How notifications come belongs to the patient's own account: someone acting for them sees letters
            # only. Without GOV.UK Notify there are no text messages, so there is nothing to choose: email it is.
            del self.fields["notifications"]

    def clean_notifications(self) -> list[str]:
        chosen = list(self.cleaned_data.get("notifications") or [])
        if not chosen:
            raise forms.ValidationError("Choose email, text message or both", code="required")
        if "sms" in chosen and not self.has_mobile:
            raise forms.ValidationError(
                "To get text messages, add your mobile phone number first. We can only text a mobile number.",
                code="no_mobile",
            )
        return chosen
