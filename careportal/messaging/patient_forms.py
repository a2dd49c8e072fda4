"""Forms on the patient's (and proxy's) messages pages.

The care team is chosen by its public id from the patient's own teams only. The view resolves the posted id before
the form sees it (an id that is not one of them is "not found", never a form error), so the form's choices are the
same list.
"""

from typing import Any

from django import forms
from django.conf import settings

from careportal.core.text import UserTextField
from careportal.messaging.attachment_fields import MultipleFileField
from careportal.messaging.attachments import AttachmentRejected, CleanFile, attachments_clean
from careportal.messaging.models import Topic
from careportal.patients.models import CareTeam

SUBJECT_MAX_LENGTH = 120


class ChooseTeamForm(forms.Form):
    care_team = forms.ChoiceField(
        label="Which care team do you want to write to?",
        widget=forms.RadioSelect,
        error_messages={"required": "Choose the care team you want to write to"},
    )
    topic = forms.ChoiceField(
        label="What is your message about?",
        choices=Topic.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose what your message is about",
            "invalid_choice": "Choose what your message is about",
        },
    )

    def __init__(self, *args: Any, teams: list[CareTeam], first_person: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["care_team"].choices = [(str(team.public_id), team.name) for team in teams]  # type: ignore[attr-defined]
        if not first_person:
            # A proxy writes about the patient: "A question about their care", not "my care".
            from careportal.messaging.presenters import TOPICS_FOR_OTHERS

            self.fields["topic"].choices = [(value, TOPICS_FOR_OTHERS[Topic(value)]) for value in Topic.values]  # type: ignore[attr-defined]


def _body_field() -> forms.CharField:
    # Built per form, not at import, so the limit follows the settings (and tests that override them).
    limit = settings.MESSAGE_BODY_MAX_CHARACTERS
    return UserTextField(
        label="Your message",
        max_length=limit,
        # Keep the text exactly as typed: leading spaces and blank lines can matter in a list or an address.
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8, "dir": "auto", "spellcheck": "true"}),
        help_text=f"Up to {limit:,} characters.",
        error_messages={
            "required": "Enter your message",
            "max_length": f"Your message must be {limit:,} characters or fewer",
        },
    )


def _attachments_field() -> MultipleFileField:
    # The hint (which types, how many, how large) comes from the field, from the same settings the checks use.
    return MultipleFileField(label="Attach files (optional)", required=False)


class _MessageForm(forms.Form):
    """The text and files of a message. clean() checks the files by their content, so a rejected file is a
    field error that names the problem, and nothing is sent."""

    def clean_body(self) -> str:
        # Kept unstripped (see _body_field), so spaces and line breaks alone must be refused here.
        body: str = self.cleaned_data["body"]
        if not body.strip():
            raise forms.ValidationError(self.fields["body"].error_messages["required"])
        return body

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        files = cleaned.get("attachments") or []
        cleaned["clean_files"] = []
        if files:
            try:
                cleaned["clean_files"] = attachments_clean(files)
            except AttachmentRejected as rejected:
                self.add_error("attachments", str(rejected))
        return cleaned

    @property
    def clean_files(self) -> list[CleanFile]:
        return list(self.cleaned_data.get("clean_files") or [])


class ComposeForm(_MessageForm):
    subject = UserTextField(
        label="Subject (optional)",
        max_length=SUBJECT_MAX_LENGTH,
        required=False,
        help_text="A few words so you can find this message later. If you leave it blank, we will use what your "
        "message is about.",
        widget=forms.TextInput(attrs={"dir": "auto"}),
        error_messages={"max_length": f"Subject must be {SUBJECT_MAX_LENGTH} characters or fewer"},
    )
    topic = forms.ChoiceField(choices=Topic.choices, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["body"] = _body_field()
        self.fields["attachments"] = _attachments_field()


class ReplyForm(_MessageForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["body"] = _body_field()
        self.fields["body"].label = "Your reply"
        self.fields["body"].error_messages["required"] = "Enter your reply"
        self.fields["attachments"] = _attachments_field()
