"""Forms on the patient's test results pages."""

from django import forms

from careportal.results.models import ResultKind


class ResultsFilterForm(forms.Form):
    """Which test to show on the results list. The choices are the viewer's own tests (codes such as "FBC"), so a
    code from elsewhere is an invalid choice with a message, never a query."""

    test = forms.ChoiceField(
        label="Show results for",
        required=False,
        error_messages={"invalid_choice": "Choose a test from the list"},
    )

    def __init__(self, *args: object, tests: list[tuple[str, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["test"].choices = [("", "All tests"), *tests]  # type: ignore[attr-defined]


class WaitForClinicianForm(forms.Form):
    kinds = forms.MultipleChoiceField(
        label="Which results do you want to see only after a clinician has released them?",
        help_text="Select all that apply. Leave them all unticked to see each result as soon as it is ready.",
        choices=ResultKind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": "Choose kinds of result from the list"},
    )
