"""The form on the "ask to cancel or rebook" page."""

from typing import Any

from django import forms

from careportal.appointments.services import CANCEL, REBOOK
from careportal.core.text import UserTextField

REASON_MAX_LENGTH = 1000
PREFERRED_MAX_LENGTH = 500


class AppointmentChangeForm(forms.Form):
    action = forms.ChoiceField(
        label="What do you want to do?",
        choices=[(CANCEL, "Cancel this appointment"), (REBOOK, "Rebook it for another day or time")],
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose whether you want to cancel or rebook the appointment",
            "invalid_choice": "Choose whether you want to cancel or rebook the appointment",
        },
    )
    reason = UserTextField(
        label="Why do you want to change it?",
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4, "dir": "auto"}),
        help_text=f"For example, you will be away that week. Up to {REASON_MAX_LENGTH:,} characters.",
        error_messages={
            "required": "Enter why you want to change the appointment",
            "max_length": f"The reason must be {REASON_MAX_LENGTH:,} characters or fewer",
        },
    )
    preferred = UserTextField(
        label="If you are rebooking, which days and times would suit you?",
        required=False,
        max_length=PREFERRED_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "dir": "auto"}),
        help_text="For example, Tuesday or Wednesday mornings. The clinic will offer the nearest time they have.",
        error_messages={"max_length": f"The days and times must be {PREFERRED_MAX_LENGTH:,} characters or fewer"},
    )

    def __init__(self, *args: Any, own: bool = True, name: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not own:
            self.fields["reason"].label = f"Why does {name}'s appointment need to change?"
            self.fields[
                "reason"
            ].help_text = f"For example, {name} will be away that week. Up to {REASON_MAX_LENGTH:,} characters."
            self.fields["preferred"].label = f"If you are rebooking, which days and times would suit {name}?"

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("action") == REBOOK and not (data.get("preferred") or "").strip():
            self.add_error("preferred", "Enter the days and times that would suit for the new appointment")
        if data.get("reason") is not None and not data["reason"].strip():
            self.add_error("reason", "Enter why you want to change the appointment")
        return data
