"""The daily age rules (careportal/proxy/age_rules.py): notices 30 days before and on the day of the 16th and 18th
birthdays, the narrowing recorded at 16, the end at 18, end dates, idempotence and bounded queries."""

import datetime
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from careportal.core.schedule import schedule
from careportal.notifications.models import Notification
from careportal.proxy.age_rules import ON_THE_DAY_GRACE_DAYS, candidate_ids, proxy_age_rules_apply
from careportal.proxy.models import ProxyAgeNotice, ProxyEventKind, ProxyPolicy, ProxyRelationship
from tests.accounts.factories import UserFactory
from tests.patients.factories import PatientFactory
from tests.proxy.factories import ProxyRelationshipFactory

pytestmark = pytest.mark.django_db

BIRTH = datetime.date(2015, 5, 3)
SIXTEENTH = datetime.date(2031, 5, 3)
EIGHTEENTH = datetime.date(2033, 5, 3)
DAY = datetime.timedelta(days=1)


def _child(birth_date: datetime.date = BIRTH, *, with_account: bool = True):
    user = UserFactory(first_name="Arjun") if with_account else None
    return PatientFactory(birth_date=birth_date, given_name="Arjun", family_name="Patel", user=user)


def _parent_of(child, **kwargs) -> ProxyRelationship:
    kwargs.setdefault("proxy", UserFactory(first_name="Priya"))
    return ProxyRelationshipFactory(patient=child, valid_from=child.birth_date, **kwargs)


def _age_emails() -> list[Notification]:
    return list(Notification.objects.filter(kind="proxy_age_notice").order_by("pk"))


def _events(relationship: ProxyRelationship, kind: ProxyEventKind) -> list:
    return list(relationship.events.filter(kind=kind))


# Notices -----------------------------------------------------------------------------------------------------------


def test_thirty_days_before_the_sixteenth_both_sides_are_told_in_plain_words() -> None:
    child = _child()
    relationship = _parent_of(child)

    proxy_age_rules_apply(today=SIXTEENTH - 30 * DAY)

    emails = _age_emails()
    assert {email.user_id for email in emails} == {relationship.proxy_id, child.user_id}
    for email in emails:
        assert email.personalisation["when"] == "3 May 2031"
        assert email.personalisation["change"] == (
            "a parent's access to a young person's record narrows to appointments only"
        )
        assert "Arjun" not in email.personalisation["change"] and "Patel" not in email.personalisation["change"]
    notice = ProxyAgeNotice.objects.get()
    assert (notice.milestone, notice.timing, notice.change_on) == (16, "advance", SIXTEENTH)
    assert len(_events(relationship, ProxyEventKind.AGE_NOTICE_SENT)) == 1
    relationship.refresh_from_db()
    assert relationship.status == "active"


def test_thirty_one_days_before_nobody_is_told_yet() -> None:
    _parent_of(_child())

    proxy_age_rules_apply(today=SIXTEENTH - 31 * DAY)

    assert _age_emails() == []


def test_the_young_person_without_an_active_account_is_not_emailed() -> None:
    child = _child(with_account=False)
    relationship = _parent_of(child)

    proxy_age_rules_apply(today=SIXTEENTH - 30 * DAY)

    assert [email.user_id for email in _age_emails()] == [relationship.proxy_id]


def test_a_run_missed_for_days_sends_the_advance_notice_late_but_once() -> None:
    relationship = _parent_of(_child())

    proxy_age_rules_apply(today=SIXTEENTH - 20 * DAY)
    proxy_age_rules_apply(today=SIXTEENTH - 19 * DAY)

    assert len(_age_emails()) == 2  # parent and young person, once each
    assert ProxyAgeNotice.objects.filter(relationship=relationship).count() == 1


def test_the_day_before_the_advance_notice_is_still_sent_if_it_was_missed() -> None:
    _parent_of(_child())

    proxy_age_rules_apply(today=SIXTEENTH - DAY)

    assert list(ProxyAgeNotice.objects.values_list("timing", flat=True)) == ["advance"]
    assert ProxyRelationship.objects.get().events.filter(kind=ProxyEventKind.NARROWED_BY_AGE).count() == 0


def test_on_the_sixteenth_birthday_narrowed_once_and_both_sides_told() -> None:
    child = _child()
    relationship = _parent_of(child)
    proxy_age_rules_apply(today=SIXTEENTH - 30 * DAY)

    proxy_age_rules_apply(today=SIXTEENTH)
    proxy_age_rules_apply(today=SIXTEENTH)  # run twice
    proxy_age_rules_apply(today=SIXTEENTH + DAY)  # and the day after

    relationship.refresh_from_db()
    assert relationship.status == "active"
    assert sorted(relationship.scopes) == ["appointments", "details", "letters", "messages", "results"]
    (narrowed,) = _events(relationship, ProxyEventKind.NARROWED_BY_AGE)
    assert narrowed.scopes_before == ["appointments", "details", "letters", "messages", "results"]
    assert narrowed.scopes_after == ["appointments"]
    assert narrowed.actor is None and narrowed.actor_name == "CarePortal"
    assert sorted(ProxyAgeNotice.objects.values_list("timing", flat=True)) == ["advance", "on_the_day"]
    assert len(_age_emails()) == 4  # two each time, two times


def test_a_missed_birthday_is_still_narrowed_and_told_within_the_grace_days() -> None:
    relationship = _parent_of(_child())

    proxy_age_rules_apply(today=SIXTEENTH + ON_THE_DAY_GRACE_DAYS * DAY)

    assert len(_events(relationship, ProxyEventKind.NARROWED_BY_AGE)) == 1
    assert list(ProxyAgeNotice.objects.values_list("timing", flat=True)) == ["on_the_day"]


def test_a_birthday_long_past_is_recorded_but_nobody_is_told_late() -> None:
    relationship = _parent_of(_child())

    proxy_age_rules_apply(today=SIXTEENTH + (ON_THE_DAY_GRACE_DAYS + 1) * DAY)

    assert len(_events(relationship, ProxyEventKind.NARROWED_BY_AGE)) == 1
    assert _age_emails() == []


def test_thirty_days_before_the_eighteenth_the_end_is_announced() -> None:
    relationship = _parent_of(_child())
    proxy_age_rules_apply(today=SIXTEENTH)
    Notification.objects.all().delete()

    proxy_age_rules_apply(today=EIGHTEENTH - 30 * DAY)

    emails = _age_emails()
    assert len(emails) == 2
    assert emails[0].personalisation["change"].startswith("a parent's access to a young person's record ends.")
    assert emails[0].personalisation["when"] == "3 May 2033"
    relationship.refresh_from_db()
    assert relationship.status == "active"


def test_on_the_eighteenth_birthday_the_relationship_ends_and_both_sides_are_told() -> None:
    relationship = _parent_of(_child())

    proxy_age_rules_apply(today=EIGHTEENTH - DAY)
    relationship.refresh_from_db()
    assert relationship.status == "active"

    proxy_age_rules_apply(today=EIGHTEENTH)
    proxy_age_rules_apply(today=EIGHTEENTH)

    relationship.refresh_from_db()
    assert relationship.status == "ended"
    assert relationship.ended_at is not None
    (ended,) = _events(relationship, ProxyEventKind.ENDED_BY_AGE)
    assert ended.scopes_before == ["appointments", "details", "letters", "messages", "results"]
    assert ended.scopes_after == []
    assert sorted(ProxyAgeNotice.objects.filter(milestone=18).values_list("timing", flat=True)) == [
        "advance",
        "on_the_day",
    ]
    # The narrowing at 16 was not recorded on the way: it is history by now, and nobody is told of it.
    assert not ProxyAgeNotice.objects.filter(milestone=16).exists()


def test_a_job_off_for_years_ends_a_relationship_of_an_adult() -> None:
    relationship = _parent_of(_child(datetime.date(2000, 1, 1)))

    outcome = proxy_age_rules_apply(today=datetime.date(2026, 12, 6))

    relationship.refresh_from_db()
    assert relationship.status == "ended"
    assert outcome.ended == 1
    assert _age_emails() == []


@pytest.mark.parametrize(
    ("today", "narrowed"),
    [
        (datetime.date(2032, 2, 28), False),  # the day before a 29 February child's 16th (2032 has a 29th)
        (datetime.date(2032, 2, 29), True),
    ],
)
def test_leap_day_birthdays_in_a_leap_year(today: datetime.date, narrowed: bool) -> None:
    relationship = _parent_of(_child(datetime.date(2016, 2, 29)))

    proxy_age_rules_apply(today=today)

    assert bool(_events(relationship, ProxyEventKind.NARROWED_BY_AGE)) is narrowed


def test_leap_day_birthday_in_a_year_without_29_february_changes_on_1_march() -> None:
    relationship = _parent_of(_child(datetime.date(2012, 2, 29)))  # 16 in 2028 (leap), 18 in 2030 (not)

    proxy_age_rules_apply(today=datetime.date(2030, 1, 28))  # 32 days before 1 March 2030
    assert not ProxyAgeNotice.objects.filter(milestone=18).exists()
    proxy_age_rules_apply(today=datetime.date(2030, 1, 30))  # 30 days before
    assert ProxyAgeNotice.objects.get(milestone=18).change_on == datetime.date(2030, 3, 1)
    assert _age_emails()[-1].personalisation["when"] == "1 March 2030"

    proxy_age_rules_apply(today=datetime.date(2030, 2, 28))
    relationship.refresh_from_db()
    assert relationship.status == "active"
    proxy_age_rules_apply(today=datetime.date(2030, 3, 1))
    relationship.refresh_from_db()
    assert relationship.status == "ended"


# What is never touched ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("basis", ["lpa", "deputy", "granted"])
def test_lasting_power_of_attorney_deputy_and_granted_access_are_never_touched_by_age(basis: str) -> None:
    relationship = _parent_of(_child(), basis=basis, relationship="carer")

    for day in (SIXTEENTH - 30 * DAY, SIXTEENTH, EIGHTEENTH - 30 * DAY, EIGHTEENTH, EIGHTEENTH + 400 * DAY):
        proxy_age_rules_apply(today=day)

    relationship.refresh_from_db()
    assert relationship.status == "active"
    assert not relationship.events.exists()
    assert _age_emails() == []


@pytest.mark.parametrize("status", ["ended", "revoked", "declined", "requested"])
def test_relationships_that_are_not_active_are_not_touched(status: str) -> None:
    relationship = _parent_of(_child(), status=status)

    for day in (SIXTEENTH - 30 * DAY, SIXTEENTH, EIGHTEENTH):
        proxy_age_rules_apply(today=day)

    relationship.refresh_from_db()
    assert relationship.status == status
    assert not relationship.events.exists()
    assert _age_emails() == []


def test_a_parent_granted_appointments_only_is_not_told_of_a_narrowing_that_changes_nothing() -> None:
    relationship = _parent_of(_child(), scopes=["appointments"])

    proxy_age_rules_apply(today=SIXTEENTH - 30 * DAY)

    assert _age_emails() == []
    proxy_age_rules_apply(today=EIGHTEENTH - 30 * DAY)
    assert len(_age_emails()) == 2
    assert relationship.age_notices.get().milestone == 18


# End dates ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("basis", ["parental", "granted", "lpa"])
def test_a_relationship_past_its_end_date_ends(basis: str) -> None:
    relationship = ProxyRelationshipFactory(
        basis=basis, valid_from=datetime.date(2026, 1, 1), valid_until=datetime.date(2026, 12, 5)
    )

    proxy_age_rules_apply(today=datetime.date(2026, 12, 5))
    relationship.refresh_from_db()
    assert relationship.status == "active"  # the last day it is valid

    proxy_age_rules_apply(today=datetime.date(2026, 12, 6))
    proxy_age_rules_apply(today=datetime.date(2026, 12, 7))

    relationship.refresh_from_db()
    assert relationship.status == "ended"
    assert len(_events(relationship, ProxyEventKind.EXPIRED)) == 1


# The policy --------------------------------------------------------------------------------------------------------


def test_a_changed_policy_applies_to_the_next_run() -> None:
    relationship = _parent_of(_child())
    policy = ProxyPolicy.current()
    policy.parental_full_access_until_age = 13
    policy.scopes_kept_after_narrowing = ["appointments", "letters"]
    policy.notice_days_before = 10
    policy.save()

    proxy_age_rules_apply(today=datetime.date(2028, 5, 3) - 11 * DAY)
    assert _age_emails() == []
    proxy_age_rules_apply(today=datetime.date(2028, 5, 3) - 10 * DAY)
    assert _age_emails()[0].personalisation["change"].endswith("narrows to appointments and letters only")
    proxy_age_rules_apply(today=datetime.date(2028, 5, 3))
    (narrowed,) = _events(relationship, ProxyEventKind.NARROWED_BY_AGE)
    assert narrowed.scopes_after == ["appointments", "letters"]


# Efficiency --------------------------------------------------------------------------------------------------------


def test_candidates_are_found_by_birth_date_without_reading_every_relationship() -> None:
    due = _parent_of(_child())
    for year in range(2016, 2024):  # younger children: nothing to do
        _parent_of(_child(datetime.date(year, 1, 1)))
    _parent_of(_child(datetime.date(2014, 1, 1)))  # 17: narrowed on a run below, and nothing due till 2032
    proxy_age_rules_apply(today=datetime.date(2030, 6, 1))

    with CaptureQueriesContext(connection) as queries:
        ids = candidate_ids(today=SIXTEENTH - 30 * DAY, policy=ProxyPolicy.current())

    assert ids == [due.pk]
    assert len(queries) == 1


def _queries_for_a_run(today: datetime.date) -> int:
    with CaptureQueriesContext(connection) as queries:
        proxy_age_rules_apply(today=today)
    return len(queries)


def test_the_number_of_queries_does_not_grow_with_the_relationships_that_have_nothing_due() -> None:
    ProxyPolicy.current()  # cached, as in a long-running worker
    _parent_of(_child())
    few = _queries_for_a_run(SIXTEENTH - 30 * DAY)
    ProxyAgeNotice.objects.all().delete()
    for year in range(2016, 2026):
        for _ in range(3):
            _parent_of(_child(datetime.date(year, 6, 1)))
            ProxyRelationshipFactory(basis="lpa")

    many = _queries_for_a_run(SIXTEENTH - 30 * DAY)

    assert many == few


def test_queries_per_batch_are_bounded_whatever_its_size(django_assert_max_num_queries) -> None:
    ProxyPolicy.current()
    for _ in range(12):
        _parent_of(_child(with_account=False))
    # Per batch: lock, notices already sent, accounts, notices insert, events insert, narrowing events; and one
    # notification row per email. Twelve relationships, one email each, in batches of five (three batches).
    with django_assert_max_num_queries(1 + 3 * 8 + 12 * 1 + 6):
        outcome = proxy_age_rules_apply(today=SIXTEENTH - 30 * DAY, batch_size=5)
    assert outcome.notices == 12 and outcome.emails == 12


# The task, the schedule and the command ----------------------------------------------------------------------------


def test_the_job_is_scheduled_daily_just_after_midnight_london_time() -> None:
    schedule.autodiscover()
    job = next(job for job in schedule.jobs() if job.name == "proxy.age_rules")
    assert job.daily_at == datetime.time(0, 5)
    assert job.description == "daily at 00:05 Europe/London"


def test_the_task_runs_for_the_london_date_just_after_midnight() -> None:
    from careportal.proxy.tasks import apply_proxy_age_rules

    relationship = _parent_of(_child())
    # 00:05 on 3 May 2031 in London is 23:05 UTC on 2 May (British Summer Time).
    with time_machine.travel(datetime.datetime(2031, 5, 2, 23, 5, tzinfo=datetime.UTC), tick=False):
        result = apply_proxy_age_rules.enqueue()

    assert result.return_value["narrowed"] == 1
    assert len(_events(relationship, ProxyEventKind.NARROWED_BY_AGE)) == 1


def test_the_command_runs_once_for_a_given_date() -> None:
    relationship = _parent_of(_child())
    out = StringIO()

    call_command("proxy_age_rules", "--date", "2033-05-03", stdout=out)

    assert "1 ended at the age limit" in out.getvalue()
    relationship.refresh_from_db()
    assert relationship.status == "ended"


def test_the_command_runs_for_today_by_default() -> None:
    relationship = _parent_of(_child())
    out = StringIO()
    with time_machine.travel(datetime.datetime(2031, 5, 3, 12, 0, tzinfo=datetime.UTC), tick=False):
        call_command("proxy_age_rules", stdout=out)
    assert "for 2031-05-03: 1 narrowed" in out.getvalue()
    assert len(_events(relationship, ProxyEventKind.NARROWED_BY_AGE)) == 1


def test_the_command_refuses_a_bad_date_and_does_nothing() -> None:
    relationship = _parent_of(_child())
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("proxy_age_rules", "--date", "3 May 2031")
    assert not relationship.events.exists()
