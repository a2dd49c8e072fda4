"""Forms on a report's page in the results inbox. Several forms share the page, so each has a prefix: the error
summary's links then lead to the right field. Error messages say what to do, in NHS.UK style."""

from django import forms

from careportal.results.review_services import COMMENT_MAX_LENGTH, REASON_MAX_LENGTH


def _text_field(
    *, label: str, hint: str, max_length: int, required_message: str, too_long_message: str, rows: int
) -> forms.CharField:
    field = forms.CharField(
        label=label,
        help_text=hint,
        max_length=max_length,
        widget=forms.Textarea(attrs={"rows": rows}),
        error_messages={
            "required": required_message,
            "max_length": too_long_message,
        },
    )
    # The server says "must be N characters or fewer"; a browser limit would cut the text off without a word.
    field.widget.attrs.pop("maxlength", None)
    return field


class ActionForm(forms.Form):
    """A button with no fields (mark reviewed, release now, remove the hold): it carries the refusal message, if
    any, to the page's error summary."""


class CommentForm(forms.Form):
    prefix = "comment"
    comment = _text_field(
        label="Comment for the patient",
        hint=f"The patient sees this with the result once it is released. Up to {COMMENT_MAX_LENGTH} characters. "
        "It replaces any earlier comment.",
        max_length=COMMENT_MAX_LENGTH,
        required_message="Enter a comment for the patient",
        too_long_message=f"Comment must be {COMMENT_MAX_LENGTH} characters or fewer",
        rows=5,
    )


class HoldForm(forms.Form):
    prefix = "hold"
    reason = _text_field(
        label="Reason for holding",
        hint="Only staff see this. For example: waiting for a repeat sample, or to tell the patient first.",
        max_length=REASON_MAX_LENGTH,
        required_message="Enter why you are holding this result",
        too_long_message=f"Reason must be {REASON_MAX_LENGTH} characters or fewer",
        rows=3,
    )


class RetractForm(forms.Form):
    prefix = "retract"
    reason = _text_field(
        label="Reason for withdrawing",
        hint="Only staff see this. The patient sees that the result was withdrawn, not its values.",
        max_length=REASON_MAX_LENGTH,
        required_message="Enter why you are withdrawing this result",
        too_long_message=f"Reason must be {REASON_MAX_LENGTH} characters or fewer",
        rows=3,
    )
