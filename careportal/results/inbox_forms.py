"""Forms on a report's page in the results inbox. Several forms share the page, so each has a prefix: the error
summary's links then lead to the right field. Error messages say what to do, in NHS.UK style."""

from django import forms

from careportal.core.forms import reason_field, text_area_field
from careportal.results.review_services import COMMENT_MAX_LENGTH, REASON_MAX_LENGTH


class ActionForm(forms.Form):
    """A button with no fields (mark reviewed, release now, remove the hold): it carries the refusal message, if
    any, to the page's error summary."""


class CommentForm(forms.Form):
    prefix = "comment"
    comment = text_area_field(
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
    reason = reason_field(
        label="Reason for holding",
        hint="Only staff see this. For example: waiting for a repeat sample, or to tell the patient first.",
        max_length=REASON_MAX_LENGTH,
        required_message="Enter why you are holding this result",
    )


class RetractForm(forms.Form):
    prefix = "retract"
    reason = reason_field(
        label="Reason for withdrawing",
        hint="Only staff see this. The patient sees that the result was withdrawn, not its values.",
        max_length=REASON_MAX_LENGTH,
        required_message="Enter why you are withdrawing this result",
    )
