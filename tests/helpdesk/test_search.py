"""Find an account: by hospital number, NHS number (with or without spaces) or username; POSTed, never in a URL."""

import re

import pytest
from django.urls import reverse

from careportal.audit.models import AccessEvent
from tests.accounts.factories import UserFactory
from tests.patients.factories import CareTeamMembershipFactory, PatientFactory, PatientWithAccountFactory
from tests.proxy.factories import ProxyRelationshipFactory

pytestmark = pytest.mark.django_db

SEARCH = reverse("helpdesk:search")


def search(client, search_by: str, term: str):  # type: ignore[no-untyped-def]
    return client.post(SEARCH, {"search_by": search_by, "term": term})


def test_the_search_form_posts_so_no_identifier_reaches_a_url(helpdesk_client):
    page = helpdesk_client.get(SEARCH).content.decode()
    assert re.search(r'<form method="post" action="/staff/helpdesk/accounts/"', page)
    assert "Hospital number" in page and "NHS number" in page and "Username" in page


def test_a_get_with_identifiers_in_the_query_string_searches_nothing(helpdesk_client, patient):
    page = helpdesk_client.get(SEARCH, {"search_by": "nhs_number", "term": patient.nhs_number}).content.decode()
    assert patient.family_name not in page


def test_search_by_hospital_number_finds_the_patient_and_links_to_their_account(helpdesk_client, patient):
    page = search(helpdesk_client, "hospital_number", patient.hospital_number.lower()).content.decode()
    assert patient.full_name in page
    assert reverse("helpdesk:account", kwargs={"account_id": patient.user.public_id}) in page
    assert patient.user.username in page


@pytest.mark.parametrize(
    "typed", [lambda n: n, lambda n: f"{n[:3]} {n[3:6]} {n[6:]}", lambda n: f" {n[:3]}-{n[3:6]}-{n[6:]} "]
)
def test_search_by_nhs_number_with_or_without_spaces(helpdesk_client, patient, typed):
    page = search(helpdesk_client, "nhs_number", typed(patient.nhs_number)).content.decode()
    assert patient.full_name in page


def test_a_patient_without_an_account_links_to_their_patient_page(helpdesk_client):
    no_account = PatientFactory()
    page = search(helpdesk_client, "hospital_number", no_account.hospital_number).content.decode()
    assert "No account yet" in page
    assert reverse("helpdesk:patient", kwargs={"patient_id": no_account.public_id}) in page


def test_search_by_username_finds_patients_proxies_and_staff_from_the_start_of_the_name(helpdesk_client):
    patient = PatientWithAccountFactory(user__username="jordan.patient")
    proxy = ProxyRelationshipFactory(proxy__username="jordan.parent").proxy
    staff = CareTeamMembershipFactory(user__username="jordan.nurse").user
    UserFactory(username="not.jordan")

    page = search(helpdesk_client, "username", "JORDAN").content.decode()

    assert patient.full_name in page
    for user in (proxy, staff):
        assert reverse("helpdesk:account", kwargs={"account_id": user.public_id}) in page
    assert "Acts for others" in page
    assert "Care team staff" in page
    assert "not.jordan" not in page


def test_search_results_are_recorded_in_each_patients_access_log(helpdesk_client, helpdesk_user, patient):
    search(helpdesk_client, "hospital_number", patient.hospital_number)
    event = AccessEvent.objects.get(patient=patient)
    assert (event.actor, event.actor_role, event.action) == (helpdesk_user, "helpdesk", "view")
    assert event.object_label == "account details in a helpdesk search"


@pytest.mark.parametrize(
    ("search_by", "term", "message"),
    [
        ("hospital_number", "", "Enter a hospital number"),
        ("nhs_number", "", "Enter an NHS number"),
        ("username", "   ", "Enter a username"),
        ("nhs_number", "12345", "Enter an NHS number with 10 digits"),
        ("nhs_number", "999 000 001A", "Enter an NHS number with 10 digits"),
        ("nhs_number", "999 000 0019", "This is not a valid NHS number"),
        ("hospital_number", "4001<script>", "letters and numbers only"),
        ("hospital_number", "1" * 21, "up to 20 characters"),
        ("username", "jo", "Enter at least 3 characters of the username"),
        ("username", "jo%n", "only letters, numbers"),
        ("", "40012345", "Select what you are searching by"),
        ("passport", "40012345", "Select what you are searching by"),
        ("username", "x" * 151, "Enter no more than 150 characters"),
    ],
)
def test_bad_searches_get_a_specific_error(helpdesk_client, search_by, term, message):
    response = search(helpdesk_client, search_by, term)
    page = response.content.decode()
    assert response.status_code == 200
    assert "There is a problem" in page
    assert message in page


def test_a_search_term_is_shown_back_escaped(helpdesk_client):
    page = search(helpdesk_client, "hospital_number", "4001<script>alert(1)</script>").content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "4001&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_an_unknown_hospital_number_says_so(helpdesk_client):
    page = search(helpdesk_client, "hospital_number", "40099999").content.decode()
    assert "No patient has the hospital number 40099999" in page
    assert "There is a problem" not in page


def test_an_unknown_nhs_number_is_shown_back_in_the_usual_format(helpdesk_client):
    page = search(helpdesk_client, "nhs_number", "9434765919").content.decode()
    assert "No patient has the NHS number 943 476 5919" in page


def test_the_search_form_needs_its_csrf_token(helpdesk_user, patient):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(helpdesk_user)
    response = client.post(SEARCH, {"search_by": "hospital_number", "term": patient.hospital_number})
    assert response.status_code == 403
    assert patient.family_name not in response.content.decode()


def _add_matching_accounts(count: int, *, start: int) -> None:
    for n in range(start, start + count):
        PatientWithAccountFactory(user__username=f"crowd.patient{n}")
        ProxyRelationshipFactory(proxy__username=f"crowd.proxy{n}")
        CareTeamMembershipFactory(user__username=f"crowd.staff{n}")


def _queries_for_a_username_search(client) -> int:  # type: ignore[no-untyped-def]
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = search(client, "username", "crowd")
    assert response.status_code == 200
    return len(queries)


def test_search_queries_do_not_grow_with_the_number_of_results(helpdesk_client, django_assert_max_num_queries):
    helpdesk_client.get(SEARCH)  # the first request of a session also records the session (allauth usersessions)
    _add_matching_accounts(2, start=0)
    few = _queries_for_a_username_search(helpdesk_client)
    _add_matching_accounts(18, start=2)
    many = _queries_for_a_username_search(helpdesk_client)
    assert few == many
    with django_assert_max_num_queries(few):
        page = search(helpdesk_client, "username", "crowd").content.decode()
    assert page.count("crowd.patient") == 20
    assert page.count("crowd.proxy") + page.count("crowd.staff") == 25  # SEARCH_RESULT_LIMIT for other accounts


def test_more_results_than_shown_asks_for_more_of_the_username(helpdesk_client):
    for n in range(26):
        UserFactory(username=f"many.people{n:02d}")
    page = search(helpdesk_client, "username", "many").content.decode()
    assert "More accounts match than are shown here" in page
    assert page.count("many.people") == 25
