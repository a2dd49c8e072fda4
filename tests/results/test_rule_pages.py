"""The release rules and bank holidays pages: who may use them, what they accept, and what they refuse."""

import datetime
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from careportal.core.models import BankHoliday
from careportal.results.models import ReleaseRule
from careportal.results.release_rules import release_due_at_for, release_rule_for
from tests.accounts.factories import UserFactory
from tests.results.factories import DiagnosticReportFactory

pytestmark = pytest.mark.django_db
LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def rules_admin(clinician_membership) -> Client:
    """A clinician given the permission to change release rules (as a clinical lead would be, in the admin)."""
    clinician_membership.user.user_permissions.add(Permission.objects.get(codename="change_releaserule"))
    client = Client()
    client.force_login(clinician_membership.user)
    return client


@pytest.fixture(autouse=True)
def local_closure(db) -> BankHoliday:
    """A day the trust added itself (the national bank holidays are computed, not stored)."""
    return BankHoliday.objects.create(date=datetime.date(2027, 12, 28), name="Boxing Day (substitute day)")


def _rule_urls() -> list[tuple[str, str]]:
    rule = ReleaseRule.objects.get(test_code="PSA")
    holiday = BankHoliday.objects.first()
    return [
        ("get", reverse("results:rules")),
        ("get", reverse("results:rule-add")),
        ("post", reverse("results:rule-add")),
        ("get", reverse("results:rule-edit", kwargs={"pk": rule.pk})),
        ("post", reverse("results:rule-edit", kwargs={"pk": rule.pk})),
        ("get", reverse("results:rule-delete", kwargs={"pk": rule.pk})),
        ("post", reverse("results:rule-delete", kwargs={"pk": rule.pk})),
        ("get", reverse("results:bank-holidays")),
        ("post", reverse("results:bank-holidays")),
        ("post", reverse("results:bank-holiday-delete", kwargs={"pk": holiday.pk})),
    ]


@pytest.mark.parametrize("who", ["patient_client", "proxy_client", "clinician_client"])
def test_everyone_else_gets_not_found_and_changes_nothing(who, request):
    client = request.getfixturevalue(who)
    rules_before = list(ReleaseRule.objects.values_list("pk", "working_days", "mode"))
    holidays_before = BankHoliday.objects.count()
    for method, url in _rule_urls():
        response = getattr(client, method)(url, {"description": "x", "mode": "after_review"})
        assert response.status_code == 404, (method, url)
    assert list(ReleaseRule.objects.values_list("pk", "working_days", "mode")) == rules_before
    assert BankHoliday.objects.count() == holidays_before


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get(reverse("results:rules"))
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


@pytest.mark.parametrize("who", ["rules_admin", "helpdesk_client", "superuser"])
def test_rule_managers_see_the_rules_grouped(who, request):
    if who == "superuser":
        client = Client()
        client.force_login(UserFactory(is_superuser=True))
    else:
        client = request.getfixturevalue(who)
    page = client.get(reverse("results:rules")).content.decode()
    assert "Rules for one test" in page and "Rules for a category of tests" in page and "Default rule" in page
    assert "PSA" in page and "Histopathology" in page and "Blood and other lab results" in page
    assert "A change applies to results that arrive after it" in page


def test_unknown_rule_and_holiday_ids_get_not_found(rules_admin):
    assert rules_admin.get(reverse("results:rule-edit", kwargs={"pk": 999999})).status_code == 404
    assert rules_admin.post(reverse("results:rule-delete", kwargs={"pk": 999999})).status_code == 404
    assert rules_admin.post(reverse("results:bank-holiday-delete", kwargs={"pk": 999999})).status_code == 404


def _new_rule(**overrides: str) -> dict[str, str]:
    data = {
        "applies_to": "test_code",
        "test_code": "fbc",
        "category": "",
        "description": "Full blood count",
        "mode": "after_working_days",
        "working_days": "2",
        "result_kind": "lab",
        "sensitive_category": "",
    }
    data.update(overrides)
    return data


def test_adding_a_rule_records_who_and_says_it_applies_from_now(rules_admin, clinician_membership):
    response = rules_admin.post(reverse("results:rule-add"), _new_rule(), follow=True)

    rule = ReleaseRule.objects.get(test_code="FBC")
    assert (rule.category, rule.working_days, rule.updated_by) == ("", 2, clinician_membership.user)
    page = response.content.decode()
    assert "The rule for test code FBC was saved" in page
    assert "results that arrive from now on" in page
    assert release_rule_for(test_code="FBC", category="HM") == rule


def test_a_duplicate_test_code_is_refused_with_a_clear_error(rules_admin):
    rules_admin.post(reverse("results:rule-add"), _new_rule())
    response = rules_admin.post(reverse("results:rule-add"), _new_rule(test_code="FBC", description="Again"))

    assert response.status_code == 200
    assert "There is already a rule for test code FBC" in response.content.decode()
    assert ReleaseRule.objects.filter(test_code="FBC").count() == 1


def test_a_duplicate_category_is_refused_with_a_clear_error(rules_admin):
    response = rules_admin.post(reverse("results:rule-add"), _new_rule(applies_to="category", category="rad"))
    assert "There is already a rule for category RAD" in response.content.decode()


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"applies_to": ""}, "Select what this rule applies to"),
        ({"applies_to": "default"}, "Select what this rule applies to"),  # there is a default rule already
        ({"test_code": ""}, "Enter the test code, for example FBC"),
        ({"test_code": "F B C"}, "Test code must only include letters, numbers"),
        ({"test_code": "FBC|X"}, "Test code must only include letters, numbers"),
        ({"test_code": "X" * 51}, "Test code must be 50 characters or fewer"),
        ({"applies_to": "category", "category": ""}, "Enter the category, for example HM"),
        ({"applies_to": "category", "category": "H-M"}, "Category must only include letters and numbers"),
        ({"description": ""}, "Enter what this rule covers"),
        ({"mode": ""}, "Select when patients should see these results"),
        ({"working_days": ""}, "Enter the number of working days, from 0 to 60"),
        ({"working_days": "61"}, "Number of working days must be 60 or fewer"),
        ({"working_days": "-1"}, "Number of working days must be a whole number"),
        ({"working_days": "1.5"}, "Number of working days must be a whole number"),
        ({"working_days": "two"}, "Number of working days must be a whole number"),
        ({"result_kind": "blood"}, "Select the kind of result"),
        ({"sensitive_category": "secret"}, "Select a sensitive category, or None"),
    ],
)
def test_bad_rules_are_refused_with_a_specific_error(rules_admin, overrides, error):
    before = ReleaseRule.objects.count()
    response = rules_admin.post(reverse("results:rule-add"), _new_rule(**overrides))

    assert response.status_code == 200
    page = response.content.decode()
    assert "There is a problem" in page
    assert error in page
    assert ReleaseRule.objects.count() == before


def test_working_days_are_ignored_for_a_review_only_rule(rules_admin):
    rules_admin.post(reverse("results:rule-add"), _new_rule(mode="after_review", working_days="lots"))
    assert ReleaseRule.objects.get(test_code="FBC").working_days == 0


def test_zero_working_days_is_accepted(rules_admin):
    rules_admin.post(reverse("results:rule-add"), _new_rule(working_days="0"))
    assert ReleaseRule.objects.get(test_code="FBC").summary == "As soon as the final report arrives"


def test_editing_a_rule_applies_to_later_reports_only(rules_admin):
    rule = ReleaseRule.objects.get(test_code="PSA")
    waiting = DiagnosticReportFactory(test_code="PSA", release_due_at=None, release_mode="after_review")

    response = rules_admin.post(
        reverse("results:rule-edit", kwargs={"pk": rule.pk}),
        _new_rule(test_code="PSA", description="PSA", working_days="3"),
    )

    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.mode, rule.working_days) == ("after_working_days", 3)
    waiting.refresh_from_db()
    assert waiting.release_due_at is None
    assert release_due_at_for(rule, final_at=datetime.datetime(2026, 11, 23, 12, 0, tzinfo=LONDON)) is not None


def test_a_rule_cannot_be_changed_into_a_duplicate_of_another(rules_admin):
    rule = ReleaseRule.objects.get(test_code="PSA")
    response = rules_admin.post(reverse("results:rule-edit", kwargs={"pk": rule.pk}), _new_rule(test_code="CEA"))
    assert "There is already a rule for test code CEA" in response.content.decode()
    rule.refresh_from_db()
    assert rule.test_code == "PSA"


def test_the_default_rule_can_be_changed_but_not_deleted(rules_admin):
    default = ReleaseRule.objects.get(test_code="", category="")
    form_page = rules_admin.get(reverse("results:rule-edit", kwargs={"pk": default.pk})).content.decode()
    assert "This is the default rule" in form_page
    assert 'name="applies_to"' not in form_page

    rules_admin.post(
        reverse("results:rule-edit", kwargs={"pk": default.pk}),
        {**_new_rule(working_days="2"), "test_code": "SNEAKY", "applies_to": "test_code"},
    )
    default.refresh_from_db()
    assert (default.test_code, default.category, default.working_days) == ("", "", 2)

    delete_page = rules_admin.get(reverse("results:rule-delete", kwargs={"pk": default.pk})).content.decode()
    assert "The default rule cannot be deleted" in delete_page
    response = rules_admin.post(reverse("results:rule-delete", kwargs={"pk": default.pk}), follow=True)
    assert "The default rule cannot be deleted" in response.content.decode()
    assert ReleaseRule.objects.filter(pk=default.pk).exists()


def test_deleting_a_rule_hands_its_tests_to_the_next_rule(rules_admin):
    rule = ReleaseRule.objects.get(test_code="PSA")
    assert (
        "Delete the rule for test psa?"
        in rules_admin.get(reverse("results:rule-delete", kwargs={"pk": rule.pk})).content.decode()
    )

    response = rules_admin.post(reverse("results:rule-delete", kwargs={"pk": rule.pk}), follow=True)

    assert "The rule for test code PSA was deleted" in response.content.decode()
    assert not ReleaseRule.objects.filter(test_code="PSA").exists()
    assert release_rule_for(test_code="PSA", category="CH").description == "Blood and other lab results"


def test_changes_need_the_csrf_token(rules_admin, clinician_membership):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(clinician_membership.user)
    assert strict.post(reverse("results:rule-add"), _new_rule()).status_code == 403
    holiday = BankHoliday.objects.first()
    assert strict.post(reverse("results:bank-holiday-delete", kwargs={"pk": holiday.pk})).status_code == 403
    assert not ReleaseRule.objects.filter(test_code="FBC").exists()
    assert BankHoliday.objects.filter(pk=holiday.pk).exists()


# Bank holidays ------------------------------------------------------------------------------------------------


def _holiday(day: datetime.date, name: str = "Extra bank holiday", **extra: str) -> dict[str, str]:
    return {"date_day": str(day.day), "date_month": str(day.month), "date_year": str(day.year), "name": name, **extra}


def test_the_bank_holidays_page_lists_upcoming_and_past(rules_admin, time_machine):
    time_machine.move_to(datetime.datetime(2026, 6, 1, 12, 0, tzinfo=LONDON))
    page = rules_admin.get(reverse("results:bank-holidays")).content.decode()
    upcoming, past = page.split("Past bank holidays", 1)
    assert "Monday 31 August 2026" in upcoming
    assert "Friday 3 April 2026" not in upcoming and "Friday 3 April 2026" in past
    assert "Friday 26 March 2027" in upcoming


def test_adding_a_bank_holiday_on_the_page_moves_the_due_date(rules_admin):
    default = ReleaseRule.objects.get(test_code="", category="")
    friday = datetime.datetime(2027, 6, 4, 16, 0, tzinfo=LONDON)
    assert release_due_at_for(default, final_at=friday) == datetime.datetime(2027, 6, 7, 7, 0, tzinfo=LONDON)

    response = rules_admin.post(reverse("results:bank-holidays"), _holiday(datetime.date(2027, 6, 7)), follow=True)

    assert "Extra bank holiday (7 June 2027) was added" in response.content.decode()
    assert release_due_at_for(default, final_at=friday) == datetime.datetime(2027, 6, 8, 7, 0, tzinfo=LONDON)


def test_a_duplicate_bank_holiday_is_refused(rules_admin):
    response = rules_admin.post(reverse("results:bank-holidays"), _holiday(datetime.date(2026, 12, 25), "Xmas"))
    assert "25 December 2026 is already a bank holiday (Christmas Day)" in response.content.decode()
    assert not BankHoliday.objects.filter(date=datetime.date(2026, 12, 25)).exists()


def test_a_weekend_bank_holiday_needs_confirming(rules_admin):
    saturday = datetime.date(2027, 6, 5)
    response = rules_admin.post(reverse("results:bank-holidays"), _holiday(saturday))
    assert "5 June 2027 is a Saturday, which is not a working day anyway" in response.content.decode()
    assert not BankHoliday.objects.filter(date=saturday).exists()

    rules_admin.post(reverse("results:bank-holidays"), _holiday(saturday, weekend_confirmed="on"))
    assert BankHoliday.objects.filter(date=saturday).exists()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"date_day": "", "date_month": "", "date_year": "", "name": "X"}, "Enter the date of the bank holiday"),
        ({"date_day": "7", "date_month": "", "date_year": "2027", "name": "X"}, "Date must include a month"),
        ({"date_day": "31", "date_month": "2", "date_year": "2027", "name": "X"}, "Date must be a real date"),
        ({"date_day": "7", "date_month": "6", "date_year": "27", "name": "X"}, "Date must be a real date"),
        ({"date_day": "7", "date_month": "June", "date_year": "2027", "name": "X"}, "Date must be a real date"),
        ({"date_day": "7", "date_month": "6", "date_year": "1999", "name": "X"}, "Year must be between 2000 and 2100"),
        ({"date_day": "7", "date_month": "6", "date_year": "2027", "name": ""}, "Enter the name of the bank holiday"),
        ({"date_day": "7", "date_month": "6", "date_year": "2027", "name": "N" * 101}, "Name must be 100 characters"),
    ],
)
def test_bad_bank_holidays_are_refused_with_a_specific_error(rules_admin, data, error):
    before = BankHoliday.objects.count()
    response = rules_admin.post(reverse("results:bank-holidays"), data)
    page = response.content.decode()
    assert response.status_code == 200
    assert "There is a problem" in page and error in page
    assert BankHoliday.objects.count() == before


def test_removing_a_bank_holiday_is_post_only(rules_admin):
    holiday = BankHoliday.objects.get(date=datetime.date(2027, 12, 28))
    url = reverse("results:bank-holiday-delete", kwargs={"pk": holiday.pk})
    assert rules_admin.get(url).status_code == 405

    response = rules_admin.post(url, follow=True)

    assert "Boxing Day (substitute day) (28 December 2027) was removed" in response.content.decode()
    assert not BankHoliday.objects.filter(pk=holiday.pk).exists()


def test_the_bank_holidays_never_run_out(rules_admin, clinician_membership, time_machine):
    # Easter Monday 2030 (22 April), computed by the holidays package: nobody loaded it.
    time_machine.move_to(datetime.datetime(2030, 4, 1, 12, 0, tzinfo=LONDON))
    rules_admin.force_login(clinician_membership.user)  # a session from 2026 has long expired
    page = rules_admin.get(reverse("results:bank-holidays")).content.decode()
    assert "Monday 22 April 2030" in page.split("Past bank holidays", 1)[0]
    default = ReleaseRule.objects.get(test_code="", category="")
    # Final on Thursday 18 April 2030: Good Friday and Easter Monday are not working days.
    thursday = datetime.datetime(2030, 4, 18, 16, 0, tzinfo=LONDON)
    assert release_due_at_for(default, final_at=thursday) == datetime.datetime(2030, 4, 23, 7, 0, tzinfo=LONDON)


def test_a_bank_holiday_can_be_made_a_working_day_and_back(rules_admin):
    default = ReleaseRule.objects.get(test_code="", category="")
    friday = datetime.datetime(2028, 8, 25, 16, 0, tzinfo=LONDON)  # Monday 28 August 2028 is the summer bank holiday
    assert release_due_at_for(default, final_at=friday) == datetime.datetime(2028, 8, 29, 7, 0, tzinfo=LONDON)

    response = rules_admin.post(
        reverse("results:bank-holidays"),
        _holiday(datetime.date(2028, 8, 28), "Summer bank holiday, clinics open", change="open"),
        follow=True,
    )
    assert "(28 August 2028) was added as a working day." in response.content.decode()
    assert release_due_at_for(default, final_at=friday) == datetime.datetime(2028, 8, 28, 7, 0, tzinfo=LONDON)
    due_that_day = DiagnosticReportFactory(release_due_at=datetime.datetime(2028, 8, 28, 7, 0, tzinfo=LONDON))

    opening = BankHoliday.objects.get(date=datetime.date(2028, 8, 28))
    response = rules_admin.post(reverse("results:bank-holiday-delete", kwargs={"pk": opening.pk}), follow=True)

    page = response.content.decode()
    assert "28 August 2028 is a bank holiday again. 1 result that would have been released" in page
    due_that_day.refresh_from_db()
    assert due_that_day.release_due_at == datetime.datetime(2028, 8, 29, 7, 0, tzinfo=LONDON)


@pytest.mark.parametrize(
    ("day", "change", "error"),
    [
        (datetime.date(2028, 6, 7), "open", "7 June 2028 is not a bank holiday in England, so it is a working day"),
        (datetime.date(2027, 12, 28), "closed", "28 December 2027 is already a bank holiday"),
        (datetime.date(2027, 12, 28), "open", "28 December 2027 is already a bank holiday"),
        (datetime.date(2028, 6, 7), "sometimes", "Choose whether the hospital is closed or works as normal"),
    ],
)
def test_a_change_that_makes_no_sense_is_refused(rules_admin, day, change, error):
    before = list(BankHoliday.objects.values_list("date", "change"))
    response = rules_admin.post(reverse("results:bank-holidays"), _holiday(day, change=change))
    assert response.status_code == 200 and error in response.content.decode()
    assert list(BankHoliday.objects.values_list("date", "change")) == before
