"""Which rule applies to a report, when it makes the report due, and the rule and bank holiday services."""

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from careportal.core.models import BankHoliday
from careportal.core.working_days import add_working_days, bank_holidays
from careportal.results.models import ReleaseMode, ReleaseRule
from careportal.results.release_rules import (
    ReleaseRuleError,
    bank_holiday_add,
    release_due_at_for,
    release_rule_delete,
    release_rule_for,
    release_rule_save,
)
from tests.accounts.factories import UserFactory
from tests.results.factories import DiagnosticReportFactory

LONDON = ZoneInfo("Europe/London")
pytestmark = pytest.mark.django_db


def london(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=LONDON)


def rule(days: int = 1, mode: str = ReleaseMode.AFTER_WORKING_DAYS) -> ReleaseRule:
    return ReleaseRule(description="test", mode=mode, working_days=days)


# Precedence ---------------------------------------------------------------------------------------------------


def test_a_test_code_rule_beats_a_category_rule_and_the_default():
    # Loaded by the migration: PSA (test code, review only); no rule for category CH; the default (1 working day).
    ReleaseRule.objects.create(test_code="", category="CH", description="Chemistry", working_days=2)

    assert release_rule_for(test_code="PSA", category="CH").test_code == "PSA"
    assert release_rule_for(test_code="UE", category="CH").category == "CH"
    default = release_rule_for(test_code="UE", category="ZZ")
    assert (default.test_code, default.category) == ("", "")


def test_a_category_rule_beats_the_default_even_when_no_test_code_is_sent():
    assert release_rule_for(test_code="", category="SP").category == "SP"
    assert release_rule_for(test_code="", category="").description == "Blood and other lab results"


def test_codes_match_in_any_case_and_with_surrounding_spaces():
    assert release_rule_for(test_code=" psa ", category="").test_code == "PSA"
    assert release_rule_for(test_code="XX", category="sp").category == "SP"


def test_a_category_rule_does_not_match_a_test_code_of_the_same_name():
    # A category "HIV" must not be mistaken for the HIV test-code rule, nor the other way round.
    ReleaseRule.objects.create(test_code="", category="HM", description="Haematology", working_days=3)
    assert release_rule_for(test_code="HM", category="").category == ""
    assert release_rule_for(test_code="", category="HIV").test_code == ""


def test_with_no_default_rule_an_unmatched_report_has_no_rule():
    ReleaseRule.objects.filter(test_code="", category="").delete()
    assert release_rule_for(test_code="UE", category="CH") is None


# Due dates ----------------------------------------------------------------------------------------------------


def test_friday_evening_with_one_working_day_is_due_monday_at_7am():
    assert release_due_at_for(rule(1), final_at=london(2026, 11, 20, 17, 0)) == london(2026, 11, 23, 7, 0)


def test_before_a_bank_holiday_monday_it_is_due_on_tuesday():
    # Friday 28 August 2026; Monday 31 August is the summer bank holiday (loaded by the migration).
    assert release_due_at_for(rule(1), final_at=london(2026, 8, 28, 17, 0)) == london(2026, 9, 1, 7, 0)


def test_easter_and_weekends_are_skipped_for_longer_delays():
    # Thursday 2 April 2026; Good Friday 3 April and Easter Monday 6 April are bank holidays. 3 working days:
    # Tuesday 7, Wednesday 8, Thursday 9 April.
    assert release_due_at_for(rule(3), final_at=london(2026, 4, 2, 9, 30)) == london(2026, 4, 9, 7, 0)


def test_a_report_final_at_the_weekend_counts_from_the_next_working_day():
    assert release_due_at_for(rule(1), final_at=london(2026, 11, 21, 10, 0)) == london(2026, 11, 23, 7, 0)


def test_a_report_final_before_7am_is_still_due_the_next_working_day_not_the_same_one():
    assert release_due_at_for(rule(1), final_at=london(2026, 11, 24, 3, 0)) == london(2026, 11, 25, 7, 0)


def test_7am_is_london_time_in_summer_and_winter():
    summer = release_due_at_for(rule(1), final_at=london(2026, 6, 1, 12, 0))
    winter = release_due_at_for(rule(1), final_at=london(2026, 12, 1, 12, 0))
    assert summer.astimezone(datetime.UTC).hour == 6
    assert winter.astimezone(datetime.UTC).hour == 7


def test_the_day_is_the_london_day_even_when_final_at_is_given_in_utc():
    # 23:30 UTC on Friday 5 June 2026 is 00:30 on Saturday in London: counting starts after Saturday.
    final_at = datetime.datetime(2026, 6, 5, 23, 30, tzinfo=datetime.UTC)
    assert release_due_at_for(rule(1), final_at=final_at) == london(2026, 6, 8, 7, 0)


def test_zero_working_days_is_at_once_even_at_the_weekend():
    final_at = london(2026, 11, 21, 22, 15)
    assert release_due_at_for(rule(0), final_at=final_at) == final_at


def test_review_only_and_no_rule_are_never_due_automatically():
    final_at = london(2026, 11, 20, 17, 0)
    assert release_due_at_for(rule(5, mode=ReleaseMode.AFTER_REVIEW), final_at=final_at) is None
    assert release_due_at_for(None, final_at=final_at) is None


def test_a_bank_holiday_added_later_moves_the_due_date_of_reports_that_arrive_afterwards():
    final_at = london(2027, 6, 4, 16, 0)  # a Friday
    assert release_due_at_for(rule(1), final_at=final_at) == london(2027, 6, 7, 7, 0)
    BankHoliday.objects.create(date=datetime.date(2027, 6, 7), name="Extra bank holiday")
    assert release_due_at_for(rule(1), final_at=final_at) == london(2027, 6, 8, 7, 0)


def test_bank_holidays_can_leave_out_the_past():
    assert datetime.date(2026, 1, 1) in bank_holidays()
    assert datetime.date(2026, 1, 1) not in bank_holidays(on_or_after=datetime.date(2026, 6, 1))
    assert datetime.date(2026, 12, 25) in bank_holidays(on_or_after=datetime.date(2026, 6, 1))


def test_working_days_refuse_a_negative_count():
    with pytest.raises(ValueError, match="negative"):
        add_working_days(datetime.date(2026, 1, 5), -1)


# Rule changes -------------------------------------------------------------------------------------------------


def _save(existing: ReleaseRule | None = None, **overrides: object) -> ReleaseRule:
    values: dict = {
        "test_code": "FBC",
        "category": "",
        "description": "Full blood count",
        "mode": ReleaseMode.AFTER_WORKING_DAYS,
        "working_days": 2,
        "result_kind": "lab",
        "sensitive_category": "",
    }
    values.update(overrides)
    return release_rule_save(rule=existing, by=UserFactory(), **values)


def test_a_saved_rule_records_who_changed_it_and_stores_codes_in_capitals():
    saved = _save(test_code=" fbc ", category="HM")
    saved.refresh_from_db()
    assert (saved.test_code, saved.category) == ("FBC", "")
    assert saved.updated_by is not None


def test_a_second_rule_for_the_same_test_code_is_refused_whatever_its_case():
    _save()
    with pytest.raises(ReleaseRuleError, match="There is already a rule for test code FBC"):
        _save(test_code="fbc")
    assert ReleaseRule.objects.filter(test_code="FBC").count() == 1


def test_a_second_rule_for_a_category_is_refused():
    with pytest.raises(ReleaseRuleError, match="There is already a rule for category SP"):
        _save(test_code="", category="sp")


def test_review_only_rules_keep_no_working_days():
    saved = _save(mode=ReleaseMode.AFTER_REVIEW, working_days=40)
    assert saved.working_days == 0


def test_working_days_outside_0_to_60_are_refused():
    with pytest.raises(ReleaseRuleError, match="between 0 and 60"):
        _save(working_days=61)


def test_the_default_rule_keeps_its_shape_and_cannot_be_deleted():
    default = ReleaseRule.objects.get(test_code="", category="")
    changed = _save(default, test_code="FBC", working_days=3)
    changed.refresh_from_db()
    assert (changed.test_code, changed.category, changed.working_days) == ("", "", 3)
    with pytest.raises(ReleaseRuleError, match="cannot be deleted"):
        release_rule_delete(rule=default, by=UserFactory())
    assert ReleaseRule.objects.filter(pk=default.pk).exists()


def test_a_changed_rule_leaves_reports_already_waiting_alone():
    report = DiagnosticReportFactory(test_code="FBC")
    due = report.release_due_at
    _save(mode=ReleaseMode.AFTER_REVIEW)
    report.refresh_from_db()
    assert report.release_due_at == due


# Bank holidays ------------------------------------------------------------------------------------------------


@time_machine.travel(london(2027, 6, 1, 12, 0), tick=False)
def test_adding_a_bank_holiday_moves_reports_due_that_day_to_the_next_working_day():
    due_on_holiday = DiagnosticReportFactory(release_due_at=london(2027, 6, 7, 7, 0))
    released = DiagnosticReportFactory(release_due_at=london(2027, 6, 7, 7, 0), released=True)
    due_day_before = DiagnosticReportFactory(release_due_at=london(2027, 6, 4, 7, 0))
    due_day_after = DiagnosticReportFactory(release_due_at=london(2027, 6, 8, 7, 0))

    added = bank_holiday_add(day=datetime.date(2027, 6, 7), name="Extra bank holiday", by=UserFactory())

    assert added.reports_moved == 1
    due_on_holiday.refresh_from_db()
    assert due_on_holiday.release_due_at == london(2027, 6, 8, 7, 0)
    for untouched, expected in [
        (released, london(2027, 6, 7, 7, 0)),
        (due_day_before, london(2027, 6, 4, 7, 0)),
        (due_day_after, london(2027, 6, 8, 7, 0)),
    ]:
        untouched.refresh_from_db()
        assert untouched.release_due_at == expected


@time_machine.travel(london(2027, 6, 7, 9, 0), tick=False)
def test_a_bank_holiday_added_on_the_day_does_not_hold_back_reports_already_due():
    already_due = DiagnosticReportFactory(release_due_at=london(2027, 6, 7, 7, 0))
    later_today = DiagnosticReportFactory(release_due_at=london(2027, 6, 7, 15, 0))

    bank_holiday_add(day=datetime.date(2027, 6, 7), name="Extra bank holiday", by=UserFactory())

    already_due.refresh_from_db()
    later_today.refresh_from_db()
    assert already_due.release_due_at == london(2027, 6, 7, 7, 0)
    assert later_today.release_due_at == london(2027, 6, 8, 7, 0)


def test_the_same_bank_holiday_cannot_be_added_twice():
    with pytest.raises(ReleaseRuleError, match="25 December 2026 is already a bank holiday"):
        bank_holiday_add(day=datetime.date(2026, 12, 25), name="Christmas", by=UserFactory())


def test_bank_holidays_are_computed_for_any_year_and_region(settings):
    easter_monday_2030, st_andrews_day_2029, second_of_january_2029 = (
        datetime.date(2030, 4, 22),
        datetime.date(2029, 11, 30),
        datetime.date(2029, 1, 2),
    )
    assert easter_monday_2030 in bank_holidays()
    assert second_of_january_2029 not in bank_holidays()
    settings.BANK_HOLIDAY_REGION = "scotland"
    assert second_of_january_2029 in bank_holidays() and st_andrews_day_2029 in bank_holidays()
    assert easter_monday_2030 not in bank_holidays()  # not a bank holiday in Scotland
    settings.BANK_HOLIDAY_REGION = "northern-ireland"
    assert datetime.date(2029, 3, 19) in bank_holidays()  # St Patrick's Day, substitute Monday


def test_a_local_closure_and_an_opening_change_the_national_calendar():
    BankHoliday.objects.create(date=datetime.date(2031, 6, 10), name="Trust closure day")
    BankHoliday.objects.create(date=datetime.date(2031, 5, 5), name="Open as usual", change="open")
    holidays = bank_holidays(on_or_after=datetime.date(2031, 1, 1))
    assert datetime.date(2031, 6, 10) in holidays
    assert datetime.date(2031, 5, 5) not in holidays  # the early May bank holiday, worked
    assert datetime.date(2031, 5, 26) in holidays  # the spring bank holiday, untouched
