"""Role fixtures: a signed-in client for each kind of person who uses CarePortal."""

from pathlib import Path

import pytest
from django.test import Client

from tests.accounts.factories import UserFactory
from tests.patients.factories import (
    CareRelationshipFactory,
    CareTeamMembershipFactory,
    PatientWithAccountFactory,
)
from tests.proxy.factories import ProxyRelationshipFactory


@pytest.fixture
def patient(db):
    return PatientWithAccountFactory()


@pytest.fixture
def other_patient(db):
    # A first name no page has in its own words, for the tests that check it never shows.
    return PatientWithAccountFactory(given_name="Ottoline")


@pytest.fixture
def patient_client(patient) -> Client:
    client = Client()
    client.force_login(patient.user)
    return client


@pytest.fixture
def proxy_relationship(db):
    return ProxyRelationshipFactory()


@pytest.fixture
def proxy_client(proxy_relationship) -> Client:
    client = Client()
    client.force_login(proxy_relationship.proxy)
    return client


@pytest.fixture
def clinician_membership(db, patient):
    membership = CareTeamMembershipFactory(user__display_name="Dr A Okafor", care_team__name="Haematology")
    CareRelationshipFactory(patient=patient, care_team=membership.care_team)
    return membership


@pytest.fixture
def clinician_client(clinician_membership) -> Client:
    client = Client()
    client.force_login(clinician_membership.user)
    return client


@pytest.fixture
def helpdesk_user(db):
    return UserFactory(is_helpdesk=True, display_name="Sam Reid")


@pytest.fixture
def helpdesk_client(helpdesk_user) -> Client:
    client = Client()
    client.force_login(helpdesk_user)
    return client


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Rate-limit counters (allauth) live in the cache: one test's sign-ins must not throttle the next test's.
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


# The test folders whose tests run with the inbound interfaces of the test senders (tests/hl7/interfaces.py).
HL7_INTERFACE_FOLDERS = frozenset({"hl7", "results", "appointments"})
_DB_FIXTURES = {"db", "transactional_db", "live_server"}


@pytest.fixture(autouse=True)
def test_interfaces(request: pytest.FixtureRequest):
    """The inbound interfaces of the test senders, for every test with a database in HL7_INTERFACE_FOLDERS."""
    from careportal.hl7.interfaces import interfaces_cache_clear
    from tests.hl7.interfaces import configure_test_interfaces

    folder = request.node.path.relative_to(Path(__file__).parent).parts[0]
    names = set(request.fixturenames)
    marker = request.node.get_closest_marker("django_db")
    if folder not in HL7_INTERFACE_FOLDERS or not (names & _DB_FIXTURES or marker):
        yield None
        return
    transactional = (
        "transactional_db" in names or "live_server" in names or bool(marker and marker.kwargs.get("transaction"))
    )
    request.getfixturevalue("transactional_db" if transactional else "db")
    interfaces = configure_test_interfaces()
    yield interfaces
    interfaces_cache_clear()


pytest_plugins = ["tests.smtp"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`make test` runs the suite twice, on SQLite and on PostgreSQL. The PostgreSQL half skips what would prove
    nothing new there, to keep the whole run inside CI's time:
    - a test marked database_independent (a static scan, collectstatic);
    - the browser journeys (tests/browser/), which check pages, focus and accessibility through a live server: every
      database behaviour under them (locking, SKIP LOCKED claims, constraints, bulk COPY) has its own test outside
      tests/browser/, which runs on both databases. A journey marked every_database still runs on both, so the
      portal is driven end to end on PostgreSQL too.
    """
    from django.db import connection

    if connection.vendor == "sqlite":
        return
    independent = pytest.mark.skip(reason="database_independent: ran in the SQLite half of make test")
    journey = pytest.mark.skip(reason="browser journey: ran in the SQLite half of make test")
    browser_tests = Path(__file__).parent / "browser"
    for item in items:
        if item.get_closest_marker("database_independent"):
            item.add_marker(independent)
        elif browser_tests in Path(item.path).parents and not item.get_closest_marker("every_database"):
            item.add_marker(journey)
