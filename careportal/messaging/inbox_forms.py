"""Forms for the care teams' message inbox and the urgent-phrase list. Several forms share a thread's page, so each
has a prefix: the error summary's links then lead to the right field. Error messages say what to do, in NHS.UK
style. The forms check the fields; the rules (who may assign to whom, which correction steps are allowed) are the
messaging services', which refuse with a sentence the page shows in the same error summary."""

from typing import Any, ClassVar

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from careportal.accounts.models import User
from careportal.core.text import UserTextField
from careportal.messaging.attachment_fields import MultipleFileField
from careportal.messaging.attachments import AttachmentRejected, CleanFile, attachments_clean
from careportal.messaging.inbox_selectors import PhrasePreview, urgent_phrase_preview
from careportal.messaging.models import CorrectionStatus, Topic, UrgentPhrase
from careportal.messaging.phrase_services import PhraseError, category_checked, phrase_checked
from careportal.messaging.presenters import TOPICS_FOR_OTHERS
from careportal.messaging.services import CORRECTION_NOTE_MAX_LENGTH, SUBJECT_MAX_LENGTH
from careportal.messaging.urgent import PHRASE_MIN_LETTERS
from careportal.patients.models import CareTeam

HOSPITAL_NUMBER_MAX_LENGTH = 20
UNASSIGNED = ""


def _text_field(
    *,
    label: str,
    hint: str = "",
    max_length: int,
    required_message: str,
    too_long_message: str,
    rows: int = 0,
    required: bool = True,
) -> forms.CharField:
    field = UserTextField(
        label=label,
        help_text=hint,
        max_length=max_length,
        required=required,
        # Kept as typed: leading spaces or blank lines can be part of what someone meant to say.
        strip=False,
        widget=forms.Textarea(attrs={"rows": rows, "dir": "auto"}) if rows else forms.TextInput(attrs={"dir": "auto"}),
        error_messages={"required": required_message, "max_length": too_long_message},
    )
    # The server says "must be N characters or fewer"; a browser limit would cut the text off without a word.
    field.widget.attrs.pop("maxlength", None)
    return field


def _body_field(*, label: str, hint: str, required_message: str) -> forms.CharField:
    limit = settings.MESSAGE_BODY_MAX_CHARACTERS
    return _text_field(
        label=label,
        hint=f"{hint} Up to {limit:,} characters.",
        max_length=limit,
        required_message=required_message,
        too_long_message=f"Message must be {limit:,} characters or fewer",
        rows=8,
    )


def _attachments_field() -> forms.Field:
    # The field's own hint names the accepted types and the limits as configured.
    return MultipleFileField(label="Attach files (optional)", required=False)


class _MessageForm(forms.Form):
    """Text that is only spaces or line breaks is as empty as no text at all; attached files are checked by their
    content (attachments_clean), so a rejected file is an error on the attachments field and nothing is sent."""

    blank_fields: ClassVar[dict[str, str]] = {}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name, message in self.blank_fields.items():
            value = cleaned.get(name)
            if isinstance(value, str) and not value.strip():
                self.add_error(name, message)
        cleaned["clean_files"] = []
        files = cleaned.get("attachments") or []
        if files:
            try:
                cleaned["clean_files"] = attachments_clean(files)
            except AttachmentRejected as rejected:
                self.add_error("attachments", str(rejected))
        return cleaned

    @property
    def clean_files(self) -> list[CleanFile]:
        return list(self.cleaned_data.get("clean_files") or [])


class ActionForm(forms.Form):
    """A button with no fields (close, reopen): it carries the refusal message, if any, to the error summary."""


class ReplyForm(_MessageForm):
    prefix = "reply"
    blank_fields = {"body": "Enter your reply"}
    body = _body_field(
        label="Your reply",
        hint="The patient, and anyone they have allowed to read their messages, will see this and your name.",
        required_message="Enter your reply",
    )
    attachments = _attachments_field()


class NoteForm(_MessageForm):
    prefix = "note"
    blank_fields = {"body": "Enter your note"}
    body = _body_field(
        label="Internal note",
        hint="Only your care team sees this. The patient never sees it and is not told about it.",
        required_message="Enter your note",
    )


class AssignForm(forms.Form):
    prefix = "assign"
    assignee = forms.ChoiceField(
        label="Assign to",
        error_messages={
            "required": "Select who to assign this conversation to",
            "invalid_choice": "Select a member of this care team",
        },
    )

    def __init__(self, *args: Any, members: list[User], current: User | None = None, **kwargs: Any) -> None:
        if current is not None:
            kwargs.setdefault("initial", {"assignee": str(current.public_id)})
        super().__init__(*args, **kwargs)
        self.members = {str(member.public_id): member for member in members}
        choices = [(UNASSIGNED, "Unassign (nobody)")]
        choices += [(public_id, member.audit_name) for public_id, member in self.members.items()]
        self.fields["assignee"].choices = choices  # type: ignore[attr-defined]
        # "Nobody" is a real answer here, so an empty value is a choice and not a missing one.
        self.fields["assignee"].required = False

    def clean_assignee(self) -> User | None:
        value = self.cleaned_data.get("assignee") or UNASSIGNED
        return self.members.get(value) if value != UNASSIGNED else None


class CorrectionStatusForm(forms.Form):
    prefix = "correction"
    status = forms.ChoiceField(
        label="New status",
        choices=[(value, label) for value, label in CorrectionStatus.choices if value != CorrectionStatus.RECEIVED],
        widget=forms.RadioSelect,
        error_messages={
            "required": "Select the new status of this correction request",
            "invalid_choice": "Select the new status of this correction request",
        },
    )
    note = _text_field(
        label="Note for the patient",
        hint="The patient sees this in the request's history. If you corrected the record, say what changed; if "
        f"you declined the request, say why. Up to {CORRECTION_NOTE_MAX_LENGTH:,} characters.",
        max_length=CORRECTION_NOTE_MAX_LENGTH,
        required_message="Enter a note",
        too_long_message=f"Note must be {CORRECTION_NOTE_MAX_LENGTH:,} characters or fewer",
        rows=4,
        required=False,
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        status, note = cleaned.get("status"), (cleaned.get("note") or "").strip()
        if status == CorrectionStatus.CORRECTED and not note:
            self.add_error("note", "Enter what was corrected in the record")
        elif status == CorrectionStatus.DECLINED and not note:
            self.add_error("note", "Enter the reason for declining this correction request")
        return cleaned


class PatientSearchForm(forms.Form):
    """POSTed, never GET: a hospital number must not appear in a URL, a browser history or a server log."""

    prefix = "find"
    hospital_number = forms.CharField(
        label="Hospital number",
        help_text="For example, 40012345",
        max_length=HOSPITAL_NUMBER_MAX_LENGTH,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": False}),
        error_messages={
            "required": "Enter the patient's hospital number",
            "max_length": f"Hospital number must be {HOSPITAL_NUMBER_MAX_LENGTH} characters or fewer",
        },
    )

    def clean_hospital_number(self) -> str:
        value = "".join(self.cleaned_data["hospital_number"].split())
        if not value.isalnum() or not value.isascii():
            raise ValidationError("Enter a hospital number using letters and numbers only, like 40012345")
        return value.upper()


class StartThreadForm(_MessageForm):
    prefix = "start"
    blank_fields = {"body": "Enter your message"}
    patient = forms.UUIDField(widget=forms.HiddenInput)
    care_team = forms.ChoiceField(
        label="Care team",
        help_text="The patient's replies come to this team's inbox.",
        error_messages={
            "required": "Select the care team the message is from",
            "invalid_choice": "Select one of your care teams",
        },
    )
    topic = forms.ChoiceField(
        label="What is it about?",
        # Only the patient asks for a correction to their record (UK GDPR article 16).
        choices=[(value, TOPICS_FOR_OTHERS[Topic(value)]) for value in Topic.values if value != Topic.CORRECTION],
        widget=forms.RadioSelect,
        error_messages={
            "required": "Select what the message is about",
            "invalid_choice": "Select what the message is about",
        },
    )
    subject = _text_field(
        label="Subject (optional)",
        hint="The patient sees this in their list of messages. Left blank, it says what the message is about.",
        max_length=SUBJECT_MAX_LENGTH,
        required_message="Enter a subject",
        too_long_message=f"Subject must be {SUBJECT_MAX_LENGTH} characters or fewer",
        required=False,
    )
    body = _body_field(
        label="Message",
        hint="The patient, and anyone they have allowed to read their messages, will see this and your name.",
        required_message="Enter your message",
    )
    attachments = _attachments_field()

    def __init__(self, *args: Any, teams: list[CareTeam], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.teams = {str(team.public_id): team for team in teams}
        choices = [(public_id, team.name) for public_id, team in self.teams.items()]
        if len(choices) > 1:
            choices.insert(0, ("", "Select a care team"))
        self.fields["care_team"].choices = choices  # type: ignore[attr-defined]

    def clean_care_team(self) -> CareTeam:
        return self.teams[self.cleaned_data["care_team"]]


class UrgentPhraseForm(forms.Form):
    """A new phrase, stored normalised (as the matcher compares it), so that "Can't breathe!" and "cant breathe"
    are recognised as the same phrase. The rules (at least four letters, not already listed) are the phrase
    services'; the form asks them, and counts how many recent messages the phrase would have stopped
    (`preview`). Over the threshold it is only added once the person ticks `confirm`.

    `saving` is False for "Check the phrase": the count is shown and nothing is added."""

    prefix = "add"
    phrase = UserTextField(
        label="Phrase",
        help_text='Words that suggest an emergency, for example "crushing chest pain", with at least '
        f"{PHRASE_MIN_LETTERS} letters. They match whole words only. Case, punctuation and apostrophes do not "
        "matter. The last word also matches its plural.",
        error_messages={"required": "Enter a phrase"},
        widget=forms.TextInput(attrs={"dir": "auto", "spellcheck": "true"}),
    )
    category = UserTextField(
        label="Category",
        help_text='What kind of emergency it suggests, for example "chest pain" or "self-harm".',
        error_messages={"required": "Enter a category"},
        widget=forms.TextInput(attrs={"dir": "auto"}),
    )
    confirm = forms.BooleanField(
        label="Add this phrase anyway: I have checked that it only matches messages that need urgent care",
        required=False,
    )

    def __init__(self, *args: Any, saving: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.saving = saving
        self.preview: PhrasePreview | None = None

    def clean_phrase(self) -> str:
        try:
            return phrase_checked(self.cleaned_data["phrase"])
        except PhraseError as refusal:
            raise ValidationError(str(refusal)) from None

    def clean_category(self) -> str:
        try:
            return category_checked(self.cleaned_data["category"])
        except PhraseError as refusal:
            raise ValidationError(str(refusal)) from None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        phrase = cleaned.get("phrase")
        if phrase:
            self.preview = urgent_phrase_preview(phrase=phrase)
            if self.saving and self.preview.needs_confirmation and not cleaned.get("confirm"):
                self.add_error(
                    "confirm",
                    f"{self.preview.text} Check the phrase. To add it anyway, tick the box to confirm",
                )
        return cleaned

    @property
    def asks_to_confirm(self) -> bool:
        return self.preview is not None and self.preview.needs_confirmation


class PhraseActiveForm(forms.Form):
    """Switch one phrase on or off by its row id (not patient data)."""

    prefix = "phrase"
    phrase = forms.ModelChoiceField(
        queryset=UrgentPhrase.objects.all(),
        widget=forms.HiddenInput,
        error_messages={"invalid_choice": "That phrase is no longer on the list", "required": "Choose a phrase"},
    )
    active = forms.BooleanField(required=False, widget=forms.HiddenInput)
