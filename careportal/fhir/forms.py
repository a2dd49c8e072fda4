from django import forms

from careportal.access.layer import PatientChoice


class ConsentForm(forms.Form):
    """Whose record the app may see: one of the records the person may open now."""

    record = forms.ChoiceField(
        label="Whose record should the app see?",
        widget=forms.RadioSelect,
        error_messages={
            "required": "Select whose record the app should see",
            "invalid_choice": "Select whose record the app should see",
        },
    )

    def __init__(self, *args, choices: list[PatientChoice], **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.choices = choices
        record: forms.ChoiceField = self.fields["record"]  # type: ignore[assignment]
        record.choices = [(str(c.patient.public_id), str(c.patient.public_id)) for c in choices]
        if len(choices) == 1:
            self.fields["record"].initial = str(choices[0].patient.public_id)

    def clean_record(self) -> PatientChoice:
        wanted = self.cleaned_data["record"]
        return next(c for c in self.choices if str(c.patient.public_id) == wanted)
