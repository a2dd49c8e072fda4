"""Forms on the HL7 message pages. Error messages say what to do, in NHS.UK style."""

import re
from uuid import UUID

from django import forms

from careportal.core.forms import reason_field, text_area_field
from careportal.core.keyset import Direction
from careportal.hl7.models import MessageStatus, OutboundStatus

REASON_MAX_LENGTH = 500
_HOSPITAL_NUMBER = re.compile(r"^[A-Za-z0-9]{1,20}$")


class MatchForm(forms.Form):
    """Step one of matching: the hospital number of the patient the message is about. POSTed, so it never reaches
    a URL or a server log."""

    prefix = "match"
    hospital_number = forms.CharField(
        label="Hospital number",
        help_text="The patient's hospital number (MRN) in the patient administration system, like 40012345.",
        max_length=50,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": False}),
        error_messages={
            "required": "Enter the patient's hospital number",
            "max_length": "Enter a hospital number of up to 20 letters and numbers, like 40012345",
        },
    )

    def clean_hospital_number(self) -> str:
        compact = self.cleaned_data["hospital_number"].replace(" ", "")
        if not _HOSPITAL_NUMBER.match(compact):
            raise forms.ValidationError("Enter a hospital number of up to 20 letters and numbers, like 40012345")
        return compact.upper()


class ConfirmMatchForm(forms.Form):
    """Step two: the patient shown on the confirmation page, by public id."""

    patient = forms.UUIDField(
        widget=forms.HiddenInput,
        error_messages={
            "required": "Find the patient by their hospital number again",
            "invalid": "Find the patient by their hospital number again",
        },
    )


class DismissForm(forms.Form):
    prefix = "dismiss"
    reason = reason_field(
        label="Reason for dismissing",
        hint="This is kept with the message. For example: sent twice, or a test message from the lab. "
        "Do not include medical details.",
        max_length=REASON_MAX_LENGTH,
        required_message="Enter why you are dismissing this message",
    )


class ReuseCheckedForm(forms.Form):
    """Marking an applied message with a reused control id as checked."""

    prefix = "checked"
    note = text_area_field(
        label="What you found",
        hint="This is kept with the message. For example: a new result after the lab's interface engine was "
        "restarted. Do not include medical details.",
        max_length=REASON_MAX_LENGTH,
        required_message="Enter what you found when you checked the message",
        too_long_message=f"What you found must be {REASON_MAX_LENGTH} characters or fewer",
    )


class JournalPageForm(forms.Form):
    """Which page of the messages received (the query string of /staff/hl7/messages/): a status, and the message a
    "Newer messages" or "Older messages" link starts from. Anything unreadable is ignored: the page shows every
    status, or the newest messages with a note that the link no longer works (`link_broken`)."""

    status = forms.ChoiceField(choices=MessageStatus.choices, required=False)
    newer = forms.UUIDField(required=False)
    older = forms.UUIDField(required=False)

    def wanted(self) -> tuple[str, UUID | None, Direction, bool]:
        """The status, the message to start from, the direction, and whether a link's start was unreadable."""
        self.is_valid()
        data = self.cleaned_data
        status = data.get("status") or ""
        for name, direction in (("older", Direction.OLDER), ("newer", Direction.NEWER)):
            if name in self.errors:
                return status, None, Direction.OLDER, True
            if data.get(name):
                return status, data[name], direction, False
        return status, None, Direction.OLDER, False


class OutboundPageForm(JournalPageForm):
    """Which page of the messages sent to the PAS (the query string of /staff/hl7/outbound/): as JournalPageForm,
    with the statuses of a message sent."""

    status = forms.ChoiceField(choices=OutboundStatus.choices, required=False)
