"""A form field for attaching several files to a message.

The field only collects the uploads (a list of UploadedFile, empty when none were chosen); checking and cleaning
them is `attachments_clean`'s job, called by the form's `clean_<field>` or the service:

    attachments = MultipleFileField(label="Attach files (optional)", required=False)

    def clean_attachments(self):
        try:
            return attachments_clean(self.cleaned_data["attachments"])
        except AttachmentRejected as error:
            raise forms.ValidationError(str(error)) from None

It renders through the NHS.UK file upload component (careportal/core/forms.py `nhs_field`).
"""

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile

from careportal.messaging.attachments import attachment_accept_attribute, attachments_hint


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", attachments_hint())
        # An empty file is refused by attachments_clean, with a message that names it; Django's does not.
        kwargs.setdefault("allow_empty_file", True)
        super().__init__(*args, **kwargs)

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        attrs = super().widget_attrs(widget)
        # A hint to the browser's file picker (phones offer photos); the content is what gets checked.
        attrs["accept"] = attachment_accept_attribute()
        attrs["multiple"] = True
        return attrs

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:  # type: ignore[override]
        uploads = [item for item in (data if isinstance(data, list | tuple) else [data]) if item]
        if not uploads:
            # FileField's own clean raises "required" when it should, and returns nothing otherwise.
            super().clean(None, initial)
            return []
        return [super(MultipleFileField, self).clean(upload, initial) for upload in uploads]

    def bound_data(self, data: Any, initial: Any) -> Any:
        # A file input cannot be given its files back when the page is shown again with errors.
        return None

    def has_changed(self, initial: Any, data: Any) -> bool:
        return not self.disabled and bool(data)
