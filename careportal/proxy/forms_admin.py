"""The admin's form for the trust's proxy policy table (docs/proxy-age-rules.md): checks that the ages make sense
and that the scopes kept are real scopes, with errors that say what to change."""

from typing import Any

from django import forms

from careportal.proxy.models import ProxyPolicy, ProxyScope


class ProxyPolicyAdminForm(forms.ModelForm):
    scopes_kept_after_narrowing = forms.TypedMultipleChoiceField(
        choices=ProxyScope.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Scopes kept after narrowing",
        help_text="What a parent keeps from the narrowing birthday until access ends (appointments by default). "
        "Leave them all unticked to end a parent's access at the narrowing birthday.",
        error_messages={"invalid_choice": "%(value)s is not one of the parts of a record a proxy can be given."},
    )

    class Meta:
        model = ProxyPolicy
        fields = [
            "parental_full_access_until_age",
            "parental_access_ends_at_age",
            "scopes_kept_after_narrowing",
            "notice_days_before",
            "invitation_valid_days",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["scopes_kept_after_narrowing"] = list(self.instance.scopes_kept_after_narrowing or [])

    def clean_scopes_kept_after_narrowing(self) -> list[str]:
        chosen = self.cleaned_data.get("scopes_kept_after_narrowing") or []
        unknown = [value for value in chosen if value not in ProxyScope.values]
        if unknown:
            raise forms.ValidationError(
                "%(values)s: not a part of a record a proxy can be given. Choose from %(allowed)s.",
                params={"values": ", ".join(unknown), "allowed": ", ".join(ProxyScope.values)},
            )
        # Stored in the order the scopes are listed, each once.
        return [value for value in ProxyScope.values if value in chosen]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        narrows = cleaned.get("parental_full_access_until_age")
        ends = cleaned.get("parental_access_ends_at_age")
        if narrows is not None and ends is not None and narrows >= ends:
            self.add_error(
                "parental_full_access_until_age",
                f"The age at which a parent's access narrows ({narrows}) must be below the age at which it ends "
                f"({ends}).",
            )
        return cleaned
