"""Forms for the release rules and bank holidays pages. Each error says what to do, in NHS.UK style."""

import datetime
import re
import unicodedata
from typing import Any

from django import forms

from careportal.core.date_input import (
    DATE_PARTS,
    DayMonthYearWidget,
    date_input_params,
    missing_parts,
    not_numbers,
    typed_parts,
)
from careportal.core.forms import code_input, without_maxlength
from careportal.core.models import CalendarChange
from careportal.results.models import ReleaseMode, ReleaseRule, ResultKind, SensitiveCategory
from careportal.results.release_rules import (
    MAX_WORKING_DAYS,
    bank_holiday_problem,
    is_default_rule,
    is_weekend,
    release_rule_clash,
)

TEST_CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/+-]*$")
CATEGORY_PATTERN = re.compile(r"^[A-Za-z0-9]+$")


class AppliesTo:
    TEST_CODE = "test_code"
    CATEGORY = "category"
    DEFAULT = "default"


APPLIES_TO_CHOICES = [
    (AppliesTo.TEST_CODE, "One test, by its test code"),
    (AppliesTo.CATEGORY, "A category of tests (the lab's diagnostic service section)"),
    (AppliesTo.DEFAULT, "Every other result (the default rule)"),
]


class ReleaseRuleForm(forms.Form):
    """A rule for a test code, a category, or every other result; when its reports reach the patient.

    Pass `rule` to change an existing one. The default rule keeps its shape: the "applies to" fields are left out.
    """

    applies_to = forms.ChoiceField(
        label="What does this rule apply to?",
        choices=APPLIES_TO_CHOICES,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Select what this rule applies to",
            "invalid_choice": "Select what this rule applies to",
        },
    )
    test_code = without_maxlength(
        forms.CharField(
            label="Test code",
            help_text="Only for a rule for one test. The code the lab sends, for example FBC.",
            required=False,
            max_length=50,
            widget=code_input(10),
            error_messages={"max_length": "Test code must be 50 characters or fewer"},
        )
    )
    category = without_maxlength(
        forms.CharField(
            label="Category",
            help_text="Only for a rule for a category. The lab's diagnostic service section, for example HM or RAD.",
            required=False,
            max_length=10,
            widget=code_input(5),
            error_messages={"max_length": "Category must be 10 characters or fewer"},
        )
    )
    description = without_maxlength(
        forms.CharField(
            label="Description",
            help_text="What this rule covers, in plain words, for example Full blood count. Clinicians see it.",
            max_length=200,
            error_messages={
                "required": "Enter what this rule covers, for example Full blood count",
                "max_length": "Description must be 200 characters or fewer",
            },
        )
    )
    mode = forms.ChoiceField(
        label="When should patients see these results?",
        choices=ReleaseMode.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Select when patients should see these results",
            "invalid_choice": "Select when patients should see these results",
        },
    )
    working_days = forms.CharField(
        label="Number of working days after the final report",
        help_text=f"For automatic release only: 0 (as soon as it arrives) to {MAX_WORKING_DAYS}. Weekends and bank "
        "holidays do not count. Results are released at 7am.",
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "class": "nhsuk-input--width-3", "autocomplete": "off"}),
    )
    result_kind = forms.ChoiceField(
        label="Kind of result",
        help_text='Patients can choose to "wait for my clinician" for each kind of result.',
        choices=ResultKind.choices,
        error_messages={"required": "Select the kind of result", "invalid_choice": "Select the kind of result"},
    )
    sensitive_category = forms.ChoiceField(
        label="Sensitive category",
        help_text="Results in a sensitive category are never shown to proxies unless staff grant it to them.",
        choices=[("", "None"), *SensitiveCategory.choices],
        required=False,
        error_messages={"invalid_choice": "Select a sensitive category, or None"},
    )

    def __init__(self, *args: Any, rule: ReleaseRule | None = None, default_exists: bool = True, **kwargs: Any):
        self.rule = rule
        if rule is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "applies_to": AppliesTo.TEST_CODE
                if rule.test_code
                else AppliesTo.CATEGORY
                if rule.category
                else AppliesTo.DEFAULT,
                "test_code": rule.test_code,
                "category": rule.category,
                "description": rule.description,
                "mode": rule.mode,
                "working_days": rule.working_days if rule.mode == ReleaseMode.AFTER_WORKING_DAYS else "",
                "result_kind": rule.result_kind,
                "sensitive_category": rule.sensitive_category,
            }
        super().__init__(*args, **kwargs)
        if rule is not None and is_default_rule(rule):
            for name in ("applies_to", "test_code", "category"):
                del self.fields[name]
        elif rule is not None or default_exists:
            # Only one default rule: offer it only when there is none (a trust that deleted it in the admin).
            field: forms.ChoiceField = self.fields["applies_to"]  # type: ignore[assignment]
            field.choices = [choice for choice in APPLIES_TO_CHOICES if choice[0] != AppliesTo.DEFAULT]

    @property
    def is_for_default_rule(self) -> bool:
        return "applies_to" not in self.fields

    def clean_test_code(self) -> str:
        return unicodedata.normalize("NFKC", self.cleaned_data["test_code"]).strip().upper()

    def clean_category(self) -> str:
        return unicodedata.normalize("NFKC", self.cleaned_data["category"]).strip().upper()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.is_for_default_rule:
            cleaned["test_code"], cleaned["category"] = "", ""
        else:
            self._clean_scope(cleaned)
        self._clean_working_days(cleaned)
        if not self.errors:
            clash = release_rule_clash(
                test_code=cleaned["test_code"],
                category=cleaned["category"],
                exclude_pk=self.rule.pk if self.rule else None,
            )
            if clash is not None:
                if cleaned["test_code"]:
                    self.add_error("test_code", f"There is already a rule for test code {cleaned['test_code']}")
                elif cleaned["category"]:
                    self.add_error("category", f"There is already a rule for category {cleaned['category']}")
                else:
                    self.add_error("applies_to", "There is already a default rule. Change that rule instead")
        return cleaned

    def _clean_scope(self, cleaned: dict[str, Any]) -> None:
        applies_to = cleaned.get("applies_to")
        test_code = cleaned.get("test_code") or ""
        category = cleaned.get("category") or ""
        if applies_to == AppliesTo.TEST_CODE:
            cleaned["category"] = ""
            if "test_code" in self.errors:
                return
            if not test_code:
                self.add_error("test_code", "Enter the test code, for example FBC")
            elif not TEST_CODE_PATTERN.match(test_code) or not test_code.isascii():
                self.add_error(
                    "test_code",
                    "Test code must only include letters, numbers, full stops, hyphens, underscores, "
                    "slashes and plus signs, and start with a letter or number",
                )
        elif applies_to == AppliesTo.CATEGORY:
            cleaned["test_code"] = ""
            if "category" in self.errors:
                return
            if not category:
                self.add_error("category", "Enter the category, for example HM")
            elif not CATEGORY_PATTERN.match(category) or not category.isascii():
                self.add_error("category", "Category must only include letters and numbers, for example HM")
        elif applies_to == AppliesTo.DEFAULT:
            cleaned["test_code"], cleaned["category"] = "", ""

    def _clean_working_days(self, cleaned: dict[str, Any]) -> None:
        text = unicodedata.normalize("NFKC", cleaned.get("working_days") or "").strip()
        if cleaned.get("mode") != ReleaseMode.AFTER_WORKING_DAYS:
            # Review-only rules have no delay: whatever was typed in the box is ignored.
            cleaned["working_days"] = 0
            return
        if not text:
            self.add_error("working_days", "Enter the number of working days, from 0 to 60")
        elif not re.fullmatch(r"[0-9]{1,3}", text):
            self.add_error("working_days", "Number of working days must be a whole number, like 1")
        elif int(text) > MAX_WORKING_DAYS:
            self.add_error("working_days", f"Number of working days must be {MAX_WORKING_DAYS} or fewer")
        else:
            cleaned["working_days"] = int(text)


# Bank holidays -----------------------------------------------------------------------------------------------

EARLIEST_YEAR, LATEST_YEAR = 2000, 2100


class BankHolidayDateField(forms.Field):
    widget = DayMonthYearWidget

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error_parts: tuple[str, ...] = ()

    def clean(self, value: Any) -> datetime.date:
        self.error_parts = ()
        texts = typed_parts(value)
        missing = missing_parts(texts)
        if len(missing) == 3:
            self.error_parts = DATE_PARTS
            raise forms.ValidationError("Enter the date of the bank holiday", code="required")
        if missing:
            self.error_parts = missing
            raise forms.ValidationError(f"Date must include a {' and a '.join(missing)}", code="incomplete")
        day_text, month_text, year_text = texts
        wrong = not_numbers(texts)
        if wrong:
            self.error_parts = wrong
            raise forms.ValidationError("Date must be a real date, like 25 12 2026", code="invalid")
        try:
            day = datetime.date(int(year_text), int(month_text), int(day_text))
        except ValueError:
            self.error_parts = DATE_PARTS
            raise forms.ValidationError("Date must be a real date, like 25 12 2026", code="invalid") from None
        if not EARLIEST_YEAR <= day.year <= LATEST_YEAR:
            self.error_parts = ("year",)
            raise forms.ValidationError(f"Year must be between {EARLIEST_YEAR} and {LATEST_YEAR}", code="out_of_range")
        return day


class BankHolidayForm(forms.Form):
    change = forms.ChoiceField(
        label="What changes on this day",
        choices=[
            (CalendarChange.CLOSED, "The hospital is closed: it is not a working day"),
            (CalendarChange.OPEN, "The hospital works as normal on this bank holiday: it is a working day"),
        ],
        initial=CalendarChange.CLOSED,
        # Not required: a closure unless the working-day choice is made, as the page offers it pre-selected.
        required=False,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": "Choose whether the hospital is closed or works as normal on this day"},
    )
    date = BankHolidayDateField(label="Date")
    name = without_maxlength(
        forms.CharField(
            label="Name",
            help_text="For example, Coronation bank holiday, or Trust closure day",
            max_length=100,
            error_messages={
                "required": "Enter the name of the bank holiday, like Christmas Day",
                "max_length": "Name must be 100 characters or fewer",
            },
        )
    )
    weekend_confirmed = forms.BooleanField(
        label="Add it even though it falls on a weekend",
        required=False,
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        cleaned["change"] = cleaned.get("change") or CalendarChange.CLOSED
        day: datetime.date | None = cleaned.get("date")
        if day is None:
            return cleaned
        change = cleaned["change"]
        problem = bank_holiday_problem(day=day, change=change)
        if problem:
            self._date_error(problem)
        elif change == CalendarChange.CLOSED and is_weekend(day) and not cleaned.get("weekend_confirmed"):
            # Weekends are never working days, so a bank holiday on one changes no release date: usually the
            # weekday it is taken on (the substitute day) was meant.
            self._date_error(
                f"{day:%-d %B %Y} is a {day:%A}, which is not a working day anyway. Enter the weekday the holiday is "
                "taken on (the substitute day), or tick 'Add it even though it falls on a weekend'"
            )
        return cleaned

    def _date_error(self, message: str) -> None:
        field: BankHolidayDateField = self.fields["date"]  # type: ignore[assignment]
        field.error_parts = DATE_PARTS
        self.add_error("date", message)

    def date_input(self) -> dict[str, Any]:
        """Parameters for the NHS.UK `dateInput` macro."""
        return date_input_params(self["date"], hint="For example, 25 12 2026", legend="Date")
