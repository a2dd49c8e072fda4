"""careportal/access/proxy_policy.py: which scopes a proxy relationship gives on a given day, under the trust's
policy table (ProxyPolicy), with its boundaries: the first and last valid days, birthdays (29 February included)
and an admin's change to the policy, which applies at once."""

import datetime

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from careportal.access.proxy_policy import age_on, birthday_at_age, effective_proxy_scopes
from careportal.access.scopes import PROXY_GRANTABLE_SCOPES, Scope
from careportal.proxy.models import ProxyPolicy
from tests.accounts.factories import UserFactory
from tests.patients.factories import PatientFactory
from tests.proxy.factories import ProxyRelationshipFactory

ALL = ["appointments", "results", "messages", "letters", "details"]
EVERY_SCOPE = frozenset(PROXY_GRANTABLE_SCOPES)
LEAP_DAY_CHILD = datetime.date(2012, 2, 29)


def relationship_for(birth_date: datetime.date, **fields):  # type: ignore[no-untyped-def]
    fields.setdefault("valid_from", birth_date)
    return ProxyRelationshipFactory(patient=PatientFactory(birth_date=birth_date), **fields)


# Ages and birthdays -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "age"),
    [
        (datetime.date(2028, 2, 28), 15),
        (datetime.date(2028, 2, 29), 16),  # a leap year: the birthday itself
        (datetime.date(2029, 2, 28), 16),
        (datetime.date(2029, 3, 1), 17),  # not a leap year: the day after 28 February
        (datetime.date(2030, 2, 28), 17),
        (datetime.date(2030, 3, 1), 18),
    ],
)
def test_a_leap_day_child_is_a_year_older_on_29_february_or_else_1_march(day: datetime.date, age: int) -> None:
    assert age_on(LEAP_DAY_CHILD, day) == age


@pytest.mark.parametrize(
    ("age", "birthday"),
    [
        (16, datetime.date(2028, 2, 29)),
        (17, datetime.date(2029, 3, 1)),
        (18, datetime.date(2030, 3, 1)),
        (20, datetime.date(2032, 2, 29)),
    ],
)
def test_birthday_at_age_for_a_leap_day_child(age: int, birthday: datetime.date) -> None:
    assert birthday_at_age(LEAP_DAY_CHILD, age) == birthday


@given(
    birth_date=st.dates(min_value=datetime.date(1900, 1, 1), max_value=datetime.date(2090, 12, 31)),
    age=st.integers(min_value=1, max_value=100),
)
def test_birthday_at_age_is_the_first_day_age_on_counts_the_new_age(birth_date: datetime.date, age: int) -> None:
    birthday = birthday_at_age(birth_date, age)

    assert age_on(birth_date, birthday) == age
    assert age_on(birth_date, birthday - datetime.timedelta(days=1)) == age - 1


# The default policy: 16 and 18, appointments kept ----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (datetime.date(2028, 2, 28), EVERY_SCOPE),
        (datetime.date(2028, 2, 29), {Scope.APPOINTMENTS}),
        (datetime.date(2030, 2, 28), {Scope.APPOINTMENTS}),
        (datetime.date(2030, 3, 1), set()),
    ],
)
def test_a_parent_of_a_leap_day_child_narrows_on_the_birthday_and_ends_on_1_march(day, expected) -> None:  # type: ignore[no-untyped-def]
    relationship = relationship_for(LEAP_DAY_CHILD, basis="parental", scopes=ALL)

    assert effective_proxy_scopes(relationship, today=day) == frozenset(expected)


@pytest.mark.django_db
def test_a_parent_who_was_not_granted_appointments_has_nothing_from_sixteen() -> None:
    relationship = relationship_for(datetime.date(2010, 6, 1), basis="parental", scopes=["results", "letters"])

    assert effective_proxy_scopes(relationship, today=datetime.date(2026, 5, 31)) == {Scope.RESULTS, Scope.LETTERS}
    assert effective_proxy_scopes(relationship, today=datetime.date(2026, 6, 1)) == frozenset()


@pytest.mark.django_db
@pytest.mark.parametrize("basis", ["granted", "lpa", "deputy"])
def test_an_adults_own_grant_or_a_legal_authority_is_not_age_limited(basis: str) -> None:
    relationship = relationship_for(datetime.date(1950, 1, 1), basis=basis, scopes=ALL)

    assert effective_proxy_scopes(relationship, today=datetime.date(2026, 12, 6)) == EVERY_SCOPE


@pytest.mark.django_db
def test_scopes_a_proxy_cannot_hold_are_dropped_whatever_is_stored() -> None:
    relationship = relationship_for(
        datetime.date(2018, 1, 1), basis="granted", scopes=["results", "access_log", "account", "not-a-scope"]
    )

    assert effective_proxy_scopes(relationship, today=datetime.date(2026, 12, 6)) == {Scope.RESULTS}


# Status and dates ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["requested", "declined", "revoked", "ended"])
def test_only_an_active_relationship_gives_anything(status: str) -> None:
    relationship = relationship_for(datetime.date(2018, 1, 1), status=status, scopes=ALL)

    assert effective_proxy_scopes(relationship, today=datetime.date(2026, 12, 6)) == frozenset()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("day", "gives"),
    [
        (datetime.date(2026, 11, 30), False),  # the day before it starts
        (datetime.date(2026, 12, 1), True),  # the first valid day
        (datetime.date(2026, 12, 31), True),  # the last valid day is included
        (datetime.date(2027, 1, 1), False),  # the day after it ends
    ],
)
def test_valid_from_and_valid_until_are_both_included(day: datetime.date, gives: bool) -> None:
    relationship = relationship_for(
        datetime.date(1960, 1, 1),
        basis="granted",
        scopes=ALL,
        valid_from=datetime.date(2026, 12, 1),
        valid_until=datetime.date(2026, 12, 31),
    )

    assert effective_proxy_scopes(relationship, today=day) == (EVERY_SCOPE if gives else frozenset())


# The trust's policy table, changed by an admin ---------------------------------------------------------------------


@pytest.mark.django_db
def test_the_defaults_are_uclhs_rules() -> None:
    policy = ProxyPolicy.current()

    assert (policy.parental_full_access_until_age, policy.parental_access_ends_at_age) == (16, 18)
    assert policy.scopes_kept_after_narrowing == ["appointments"]


@pytest.mark.django_db
def test_a_changed_policy_applies_at_once_because_saving_clears_the_cache() -> None:
    relationship = relationship_for(datetime.date(2013, 6, 1), basis="parental", scopes=ALL)
    thirteen = datetime.date(2026, 6, 1)
    assert effective_proxy_scopes(relationship, today=thirteen) == EVERY_SCOPE  # read, and cached

    policy = ProxyPolicy.current()
    policy.parental_full_access_until_age = 13
    policy.parental_access_ends_at_age = 16
    policy.scopes_kept_after_narrowing = ["appointments", "details"]
    policy.save()

    assert effective_proxy_scopes(relationship, today=thirteen - datetime.timedelta(days=1)) == EVERY_SCOPE
    assert effective_proxy_scopes(relationship, today=thirteen) == {Scope.APPOINTMENTS, Scope.DETAILS}
    assert effective_proxy_scopes(relationship, today=datetime.date(2029, 6, 1)) == frozenset()


@pytest.mark.django_db
def test_a_change_that_skips_save_waits_for_the_cache() -> None:
    """The policy is cached for a minute: a change written around `save` (a bulk update, another tool) is seen
    only once the cache is cleared. This is why the admin's form goes through `save`."""
    relationship = relationship_for(datetime.date(2010, 6, 1), basis="parental", scopes=ALL)
    sixteen = datetime.date(2026, 6, 1)
    assert effective_proxy_scopes(relationship, today=sixteen) == {Scope.APPOINTMENTS}

    ProxyPolicy.objects.filter(pk=1).update(scopes_kept_after_narrowing=["appointments", "messages"])

    assert effective_proxy_scopes(relationship, today=sixteen) == {Scope.APPOINTMENTS}
    cache.clear()
    assert effective_proxy_scopes(relationship, today=sixteen) == {Scope.APPOINTMENTS, Scope.MESSAGES}


@pytest.mark.django_db
def test_an_admin_changes_the_policy_in_the_admin_and_the_proxys_next_request_follows_it() -> None:
    # Fifteen today (turned 15 earlier this year, or on 28 February for a 29 February today).
    today = timezone.localdate()
    fifteen = datetime.date(today.year - 15, today.month, min(today.day, 28 if today.month == 2 else today.day))
    relationship = relationship_for(fifteen, basis="parental", scopes=ALL)
    proxy = Client()
    proxy.force_login(relationship.proxy)
    assert proxy.get(reverse("results:list")).status_code == 200
    assert proxy.get(reverse("letters:list")).status_code == 200
    ProxyPolicy.current()  # cached, as it is in a running portal

    admin = Client()
    admin.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = admin.post(
        reverse("admin:proxy_proxypolicy_change", args=[1]),
        {
            "parental_full_access_until_age": "15",
            "parental_access_ends_at_age": "18",
            "scopes_kept_after_narrowing": ["appointments", "letters"],
            "notice_days_before": "30",
            "invitation_valid_days": "14",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]

    assert proxy.get(reverse("results:list")).status_code == 404
    assert proxy.get(reverse("letters:list")).status_code == 200
    assert proxy.get(reverse("appointments:list")).status_code == 200
