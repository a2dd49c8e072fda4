"""people_to_tell: whom to tell that something new is in a patient's record, shared by results, letters and
appointments."""

import datetime

import pytest

from careportal.access.scopes import Scope
from careportal.proxy.models import ProxyPolicy
from careportal.proxy.selectors import people_to_tell
from tests.accounts.factories import UserFactory
from tests.patients.factories import PatientFactory
from tests.proxy.factories import ProxyRelationshipFactory

pytestmark = pytest.mark.django_db
TODAY = datetime.date(2026, 12, 6)


def test_the_patient_first_then_proxies_with_the_scope_today() -> None:
    child = PatientFactory(birth_date=datetime.date(2015, 6, 1), user=UserFactory(first_name="Arjun"))
    parent = ProxyRelationshipFactory(patient=child, sensitive_categories_granted=["sexual_health"]).proxy
    ProxyRelationshipFactory(patient=child, scopes=["appointments"])  # no letters scope
    ProxyRelationshipFactory(patient=child, status="revoked")

    people = people_to_tell([child.pk], scope=Scope.LETTERS, today=TODAY)[child.pk]

    assert [person.user.pk for person in people] == [child.user.pk, parent.pk]
    assert people[0].sensitive_categories is None and people[0].may_see("hiv")
    assert people[1].may_see("") and people[1].may_see("sexual_health")
    assert not people[1].may_see("hiv")


def test_a_parent_of_a_sixteen_year_old_keeps_appointments_only() -> None:
    teenager = PatientFactory(birth_date=datetime.date(2010, 12, 6), user=None)
    ProxyRelationshipFactory(patient=teenager)

    assert people_to_tell([teenager.pk], scope=Scope.RESULTS, today=TODAY) == {teenager.pk: []}
    assert len(people_to_tell([teenager.pk], scope=Scope.APPOINTMENTS, today=TODAY)[teenager.pk]) == 1


def test_two_queries_however_many_patients(django_assert_num_queries) -> None:
    patients = [ProxyRelationshipFactory().patient for _ in range(5)]
    ProxyPolicy.current()  # the trust's policy table is read once and cached, not once per relationship

    with django_assert_num_queries(2):
        people = people_to_tell([p.pk for p in patients], scope=Scope.APPOINTMENTS, today=TODAY)

    assert set(people) == {p.pk for p in patients}
    assert people_to_tell([], scope=Scope.RESULTS) == {}
