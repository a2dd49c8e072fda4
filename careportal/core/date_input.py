"""A date typed in three boxes (day, month, year), drawn by the NHS.UK date input: the widget, the parts of the
checks every such date shares, the optional "not in the past" date (an end date), and the macro's parameters.

Each field sets `error_parts` to the boxes to mark as wrong, so the error summary's link moves focus to the first
box in error. A date of birth (careportal/accounts/activation_forms.py) and a bank holiday
(careportal/results/rule_forms.py) add their own rules on top of these.
"""

import datetime
import re
import unicodedata
from typing import Any

from django import forms
from django.utils import timezone

DATE_PARTS = ("day", "month", "year")


def date_parts(value: Any) -> list[Any]:
    if isinstance(value, datetime.date):
        return [value.day, value.month, value.year]
    return [None, None, None]


class DayMonthYearWidget(forms.MultiWidget):
    """Three text boxes, `<name>_day`, `<name>_month` and `<name>_year`, drawn by the NHS.UK date input."""

    def __init__(self) -> None:
        super().__init__(widgets={part: forms.TextInput() for part in DATE_PARTS})

    def decompress(self, value: Any) -> list[Any]:
        return date_parts(value)


def typed_parts(value: Any, *, longest: int = 10) -> list[str]:
    """The three boxes' text, normalised (full-width digits become ASCII) and cut to `longest` characters."""
    return [
        unicodedata.normalize("NFKC", str(part or "")).strip()[:longest]
        for part in (value if isinstance(value, list | tuple) else [None, None, None])
    ]


def missing_parts(texts: list[str]) -> tuple[str, ...]:
    return tuple(part for part, text in zip(DATE_PARTS, texts, strict=True) if not text)


def not_numbers(texts: list[str]) -> tuple[str, ...]:
    """The boxes that are not 1 or 2 digits (day, month) or 4 digits (year)."""
    return tuple(
        part
        for part, text in zip(DATE_PARTS, texts, strict=True)
        if not re.fullmatch(r"[0-9]{4}" if part == "year" else r"[0-9]{1,2}", text)
    )


class OptionalFutureDateField(forms.Field):
    """An optional day, month and year; blank means no date. Today or later, and within `LATEST_YEARS_AHEAD`."""

    widget = DayMonthYearWidget
    LATEST_YEARS_AHEAD = 100

    def __init__(self, *, noun: str = "End date", example: str = "25 12 2027", **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.noun = noun
        self.example = example
        self.error_parts: tuple[str, ...] = ()

    def clean(self, value: Any) -> datetime.date | None:
        self.error_parts = ()
        texts = typed_parts(value)
        missing = missing_parts(texts)
        if len(missing) == 3:
            return None
        if missing:
            self.error_parts = missing
            raise forms.ValidationError(f"{self.noun} must include a {' and a '.join(missing)}", code="incomplete")
        not_real = f"{self.noun} must be a real date, like {self.example}"
        wrong = not_numbers(texts)
        if wrong:
            self.error_parts = wrong
            raise forms.ValidationError(not_real, code="invalid")
        day_text, month_text, year_text = texts
        try:
            day = datetime.date(int(year_text), int(month_text), int(day_text))
        except ValueError:
            self.error_parts = DATE_PARTS
            raise forms.ValidationError(not_real, code="invalid") from None
        today = timezone.localdate()
        if day < today:
            self.error_parts = DATE_PARTS
            raise forms.ValidationError(f"{self.noun} must be today or in the future", code="past")
        if day.year > today.year + self.LATEST_YEARS_AHEAD:
            self.error_parts = ("year",)
            raise forms.ValidationError(f"{self.noun} must be within {self.LATEST_YEARS_AHEAD} years", code="too_far")
        return day


def date_input_params(
    bound: forms.BoundField, *, hint: str, legend: str = "", autocomplete_prefix: str = "", numeric: bool = True
) -> dict[str, Any]:
    """Parameters for the NHS.UK `dateInput` macro. The first box in error takes the field's id, so that the error
    summary's link (to `#<id>`) moves focus straight to it. `autocomplete_prefix="bday"` for the person's own date
    of birth (never for someone else's); `numeric=False` where a month may be typed as a word ("March")."""
    values = bound.value()
    if not isinstance(values, list | tuple):
        values = date_parts(values)
    errors = list(bound.errors)
    error_parts = (getattr(bound.field, "error_parts", ()) or DATE_PARTS) if errors else ()
    first = error_parts[0] if error_parts else "day"
    items = []
    for part, value in zip(DATE_PARTS, values, strict=True):
        item = {
            "id": bound.auto_id if part == first else f"{bound.auto_id}_{part}",
            "name": f"{bound.html_name}_{part}",
            "label": part.capitalize(),
            "value": "" if value is None else str(value),
            "width": 4 if part == "year" else 2,
            "error": part in error_parts,
        }
        if numeric:
            item["inputmode"] = "numeric"
        if autocomplete_prefix:
            item["autocomplete"] = f"{autocomplete_prefix}-{part}"
        items.append(item)
    params: dict[str, Any] = {
        "id": f"{bound.auto_id}_group",
        "fieldset": {"legend": {"text": legend or str(bound.label), "size": "s"}},
        "hint": {"text": hint},
        "items": items,
    }
    if errors:
        params["errorMessage"] = {"text": str(errors[0])}
    return params
