"""Applying to act for someone at /access-for-others/apply/: every bad input gets a clear error and writes nothing."""

import datetime
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from careportal.audit.models import AccessEvent
from careportal.proxy.application_services import NOT_FOUND
from careportal.proxy.models import ProxyRelationship, ProxyRelationshipEvent
from tests.accounts.factories import UserFactory
from tests.patients.factories import PatientFactory, PatientWithAccountFactory
from tests.proxy.factories import ProxyRelationshipFactory

pytestmark = pytest.mark.django_db

APPLY = "/access-for-others/apply/"


def years_ago(years: int, *, days: int = 0) -> datetime.date:
    today = timezone.localdate()
    return today.replace(year=today.year - years) - datetime.timedelta(days=days)


@pytest.fixture
def child():
    return PatientFactory(
        given_name="Arjun",
        family_name="Patel",
        birth_date=years_ago(8, days=40),
        hospital_number="40099887",
        nhs_number="9990000026",
    )


@pytest.fixture
def parent():
    # A proxy-only account: no hospital record of its own.
    return UserFactory(username="priya.patel", first_name="Priya", last_name="Patel", email="priya@example.org")


@pytest.fixture
def parent_client(parent) -> Client:
    client = Client()
    client.force_login(parent)
    return client


def form_data(patient, **changes):
    data = {
        "given_name": patient.given_name,
        "family_name": patient.family_name,
        "date_of_birth_day": str(patient.birth_date.day),
        "date_of_birth_month": str(patient.birth_date.month),
        "date_of_birth_year": str(patient.birth_date.year),
        "nhs_number": patient.nhs_number,
        "hospital_number": "",
        "relationship": "mother",
        "basis": "parental",
        "scopes": ["results", "messages", "appointments", "letters"],
        "note": "Please call after 3pm.",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def assert_nothing_written():
    assert not ProxyRelationship.objects.exists()
    assert not ProxyRelationshipEvent.objects.exists()
    assert not AccessEvent.objects.filter(action="create").exists()


def test_the_apply_page_is_for_signed_in_people_only(client):
    response = client.get(APPLY)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert reverse("proxy:apply") == APPLY


def test_the_form_asks_for_the_child_and_ticks_what_a_parent_usually_needs(parent_client):
    page = parent_client.get(APPLY).content.decode()
    assert "<h1>Apply to act for someone</h1>" in page
    for label in ("First name", "Last name", "Date of birth", "NHS number", "Hospital number"):
        assert label in page
    for scope in ("results", "messages", "appointments", "letters"):
        assert re.search(rf'value="{scope}"\s+checked', page), scope
    assert not re.search(r'value="details"\s+checked', page)


def test_a_parent_with_a_proxy_only_account_applies_for_their_child(parent_client, parent, child):
    response = parent_client.post(APPLY, form_data(child, nhs_number="999 000 0026"))

    application = ProxyRelationship.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/access-for-others/apply/{application.public_id}/"
    assert (application.proxy, application.patient) == (parent, child)
    assert application.status == "requested"
    assert application.origin == "application"
    assert application.basis == "parental"
    assert application.relationship == "mother"
    assert application.scopes == ["appointments", "letters", "messages", "results"]
    assert application.valid_from == timezone.localdate()
    assert application.applicant_note == "Please call after 3pm."
    event = application.events.get()
    assert (event.kind, event.actor, event.scopes_after) == ("applied", parent, application.scopes)
    audit = AccessEvent.objects.get(patient=child)
    assert (audit.action, audit.actor, audit.object_label) == ("create", parent, "a request to act for you")

    page = parent_client.get(response["Location"]).content.decode()
    assert "We have your request" in page
    assert "You asked to act for Arjun" in page
    assert "birth certificate" in page
    assert "within 2 working days" in page


def test_the_confirmation_address_carries_no_patient_data(parent_client, child):
    response = parent_client.post(APPLY, form_data(child))
    location = response["Location"]
    for detail in (child.given_name, child.family_name, child.nhs_number, child.hospital_number, "2018"):
        assert detail not in location


def test_the_hospital_number_finds_the_patient_without_an_nhs_number(parent_client, child):
    response = parent_client.post(APPLY, form_data(child, nhs_number="", hospital_number="40099887"))
    assert response.status_code == 302
    assert ProxyRelationship.objects.get().patient == child


def test_the_last_name_matches_without_case_accents_or_apostrophes(parent_client):
    patient = PatientFactory(family_name="Ó Súilleabháin", birth_date=years_ago(5), nhs_number="9990000034")
    response = parent_client.post(APPLY, form_data(patient, family_name="o'suilleabhain"))
    assert response.status_code == 302
    assert ProxyRelationship.objects.get().patient == patient


def test_an_adult_who_lacks_capacity_is_applied_for_with_a_lasting_power_of_attorney(parent_client):
    adult = PatientFactory(birth_date=years_ago(82), nhs_number="9990000042")
    response = parent_client.post(APPLY, form_data(adult, basis="lpa", relationship="son", scopes=["appointments"]))
    assert response.status_code == 302
    application = ProxyRelationship.objects.get()
    assert (application.basis, application.scopes) == ("lpa", ["appointments"])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"given_name": ""}, "Enter their first name"),
        ({"family_name": ""}, "Enter their last name"),
        ({"date_of_birth_day": "", "date_of_birth_month": "", "date_of_birth_year": ""}, "Enter their date of birth"),
        ({"date_of_birth_month": ""}, "Date of birth must include a month"),
        ({"date_of_birth_day": "31", "date_of_birth_month": "2"}, "Date of birth must be a real date"),
        ({"nhs_number": "", "hospital_number": ""}, "Enter their NHS number or their hospital number"),
        ({"nhs_number": "999 000 0027"}, "This is not a valid NHS number"),
        ({"nhs_number": "12345"}, "Enter an NHS number with 10 digits"),
        ({"hospital_number": "40/099", "nhs_number": ""}, "Enter a hospital number using letters and numbers only"),
        ({"relationship": ""}, "Enter how you are related to them"),
        ({"relationship": "m" * 61}, "Relationship must be 60 characters or fewer"),
        ({"basis": None}, "Select why you can act for them"),
        ({"basis": "granted"}, "Select why you can act for them"),
        ({"scopes": None}, "Select at least one thing you need to see"),
        ({"scopes": ["access_log"]}, "Select at least one thing you need to see"),
        ({"note": "x" * 1001}, "Your note must be 1,000 characters or fewer"),
    ],
)
def test_missing_or_malformed_fields_are_refused_with_a_specific_error(parent_client, child, changes, message):
    response = parent_client.post(APPLY, form_data(child, **changes))
    assert response.status_code == 200
    page = response.content.decode()
    assert "There is a problem" in page
    assert message in page
    assert_nothing_written()


def test_a_date_of_birth_in_the_future_is_refused(parent_client, child):
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    response = parent_client.post(
        APPLY,
        form_data(
            child,
            date_of_birth_day=str(tomorrow.day),
            date_of_birth_month=str(tomorrow.month),
            date_of_birth_year=str(tomorrow.year),
        ),
    )
    assert "Date of birth must be in the past" in response.content.decode()
    assert_nothing_written()


@pytest.mark.parametrize(
    "changes",
    [
        {"family_name": "Patil"},
        {"date_of_birth_day": "1"},
        {"nhs_number": "9990000034"},
        {"nhs_number": "", "hospital_number": "40099888"},
        {"hospital_number": "40099888"},  # the NHS number is right, the hospital number is not
    ],
)
def test_every_mismatch_gets_the_same_not_found_message(parent_client, child, changes):
    response = parent_client.post(APPLY, form_data(child, **changes))
    page = response.content.decode()
    assert response.status_code == 200
    assert "We could not find a patient with those details" in page
    assert NOT_FOUND.split(".")[0] in page
    assert_nothing_written()


def test_a_merged_record_is_not_found(parent_client, child):
    child.merged_into = PatientFactory()
    child.save()
    response = parent_client.post(APPLY, form_data(child))
    assert "We could not find a patient with those details" in response.content.decode()
    assert_nothing_written()


def test_a_parent_cannot_apply_for_someone_of_16_or_over(parent_client):
    teenager = PatientFactory(birth_date=years_ago(16), nhs_number="9990000034")
    response = parent_client.post(APPLY, form_data(teenager))
    page = response.content.decode()
    assert "A parent or guardian can apply only for a child under 16" in page
    assert "give you access themselves" in page
    assert_nothing_written()


def test_the_age_for_parents_comes_from_the_trusts_policy(parent_client):
    from careportal.proxy.models import ProxyPolicy

    policy = ProxyPolicy.current()
    policy.parental_full_access_until_age = 13
    policy.save()
    patient = PatientFactory(birth_date=years_ago(14), nhs_number="9990000034")
    response = parent_client.post(APPLY, form_data(patient))
    assert "only for a child under 13" in response.content.decode()
    assert_nothing_written()


@pytest.mark.parametrize(("basis", "age"), [("lpa", 8), ("deputy", 8), ("lpa", 17)])
def test_a_lasting_power_of_attorney_or_deputyship_is_refused_for_a_child(parent_client, basis, age):
    young = PatientFactory(birth_date=years_ago(age), nhs_number="9990000034")
    response = parent_client.post(APPLY, form_data(young, basis=basis))
    page = response.content.decode()
    assert "only for someone aged 18 or over" in page
    assert ("apply as their parent or guardian" in page) == (age < 16)
    assert_nothing_written()


def test_you_cannot_apply_for_yourself(client):
    me = PatientWithAccountFactory(birth_date=years_ago(40), nhs_number="9990000034")
    client.force_login(me.user)
    response = client.post(APPLY, form_data(me, basis="lpa"))
    assert "These are your own details" in response.content.decode()
    assert_nothing_written()


@pytest.mark.parametrize(
    ("status", "message"),
    [("requested", "You have already asked to act for this person"), ("active", "You can already act for this person")],
)
def test_a_live_relationship_already_exists(parent_client, parent, child, status, message):
    ProxyRelationshipFactory(proxy=parent, patient=child, status=status)
    before = ProxyRelationship.objects.count()
    response = parent_client.post(APPLY, form_data(child))
    assert message in response.content.decode()
    assert ProxyRelationship.objects.count() == before
    assert not ProxyRelationshipEvent.objects.exists()


@pytest.mark.parametrize("status", ["declined", "revoked", "ended"])
def test_applying_again_after_a_decline_or_an_end_is_allowed(parent_client, parent, child, status):
    ProxyRelationshipFactory(proxy=parent, patient=child, status=status)
    response = parent_client.post(APPLY, form_data(child))
    assert response.status_code == 302
    assert ProxyRelationship.objects.filter(status="requested").count() == 1


# Throttling -------------------------------------------------------------------------------------------------------


def test_failed_lookups_are_throttled_per_account(parent_client, child, settings):
    settings.CAREPORTAL_PROXY_LOOKUP_FAILURES_PER_ACCOUNT = 3
    for _ in range(3):
        page = parent_client.post(APPLY, form_data(child, family_name="Wrong")).content.decode()
        assert "We could not find a patient" in page

    # Now even the right details are not checked, for this account.
    page = parent_client.post(APPLY, form_data(child)).content.decode()
    assert "You have tried too many times" in page
    assert "We could not find a patient" not in page
    assert_nothing_written()

    other = Client(REMOTE_ADDR="10.0.0.9")
    other.force_login(UserFactory())
    assert other.post(APPLY, form_data(child)).status_code == 302, "another account elsewhere is not held back"


def test_failed_lookups_are_throttled_per_ip_address_across_accounts(child, settings):
    settings.CAREPORTAL_PROXY_LOOKUP_FAILURES_PER_IP = 2
    for _ in range(2):
        client = Client(REMOTE_ADDR="192.0.2.7")
        client.force_login(UserFactory())
        client.post(APPLY, form_data(child, family_name="Wrong"))

    fresh = Client(REMOTE_ADDR="192.0.2.7")
    fresh.force_login(UserFactory())
    assert "You have tried too many times" in fresh.post(APPLY, form_data(child)).content.decode()
    assert_nothing_written()


def test_refusals_that_are_not_lookups_do_not_count_towards_the_throttle(parent_client, child, settings):
    settings.CAREPORTAL_PROXY_LOOKUP_FAILURES_PER_ACCOUNT = 1
    parent_client.post(APPLY, form_data(child, nhs_number="999 000 0027"))  # invalid: never looked up
    parent_client.post(APPLY, form_data(child, basis="lpa"))  # wrong basis for the typed age: never looked up
    assert parent_client.post(APPLY, form_data(child)).status_code == 302


# The applicant's page -------------------------------------------------------------------------------------------


def test_only_the_applicant_sees_their_application(parent_client, child, patient_client):
    response = parent_client.post(APPLY, form_data(child))
    url = response["Location"]
    assert parent_client.get(url).status_code == 200

    someone = Client()
    someone.force_login(UserFactory())
    assert someone.get(url).status_code == 404
    assert patient_client.get(url).status_code == 404
    assert Client().get(url).status_code == 302  # signed out: sign in first
    assert AccessEvent.objects.filter(action="denied").count() == 2


def test_the_applicant_reads_the_reason_for_a_decline(parent_client, parent, child):
    declined = ProxyRelationshipFactory(
        proxy=parent,
        patient=child,
        status="declined",
        origin="application",
        decision_reason="The birth certificate you showed does not name you. Call us to show a court order.",
    )
    page = parent_client.get(reverse("proxy:application", kwargs={"application_id": declined.public_id}))
    text = page.content.decode()
    assert "Your request was not approved" in text
    assert "The birth certificate you showed does not name you. Call us to show a court order." in text
    assert "apply again" in text


def test_the_applicant_is_told_when_approved(parent_client, parent, child):
    approved = ProxyRelationshipFactory(proxy=parent, patient=child, status="active", origin="application")
    text = parent_client.get(reverse("proxy:application", kwargs={"application_id": approved.public_id})).content
    assert "Your request has been approved" in text.decode()
    assert "You can now act for Arjun" in text.decode()


def test_a_relationship_that_did_not_begin_as_an_application_has_no_application_page(parent_client, parent, child):
    invited = ProxyRelationshipFactory(proxy=parent, patient=child, status="active", origin="invitation")
    url = reverse("proxy:application", kwargs={"application_id": invited.public_id})
    assert parent_client.get(url).status_code == 404


def test_an_applicants_own_applications_are_listed_newest_first_for_their_pages(parent, child):
    from careportal.proxy.application_selectors import applications_of

    declined = ProxyRelationshipFactory(proxy=parent, patient=child, status="declined", origin="application")
    waiting = ProxyRelationshipFactory(proxy=parent, patient=PatientFactory(), status="requested", origin="application")
    ProxyRelationshipFactory(proxy=parent, patient=PatientFactory(), origin="invitation")
    ProxyRelationshipFactory(patient=child, status="requested", origin="application")  # someone else's

    assert list(applications_of(user=parent)) == [waiting, declined]


def test_a_decline_reason_keeps_its_paragraphs_and_is_never_read_as_html(parent_client, parent, child):
    declined = ProxyRelationshipFactory(
        proxy=parent,
        patient=child,
        status="declined",
        origin="application",
        decision_reason="We could not check your ID.\n\nPlease bring a passport <b>to reception</b>.",
    )
    page = parent_client.get(reverse("proxy:application", kwargs={"application_id": declined.public_id}))
    text = page.content.decode()
    assert "<p>We could not check your ID.</p>" in text
    assert "<p>Please bring a passport &lt;b&gt;to reception&lt;/b&gt;.</p>" in text
