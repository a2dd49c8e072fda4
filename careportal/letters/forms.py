"""Forms for the print room: each action is a POST with nothing to fill in but its CSRF token; this one form
gives the bulk action its confirmation."""

from django import forms


class MarkExportPrintedForm(forms.Form):
    confirm = forms.BooleanField(
        label="I have printed every letter in this list and put it in the post",
        error_messages={"required": "Confirm that you have printed every letter in this list"},
    )
