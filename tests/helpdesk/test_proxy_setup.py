"""Staff set up proxy access with the patient's recorded consent, change the sensitive categories shared, and end
access; only the helpdesk may (everyone else, and unknown ids, get 404)."""

import datetime
import uuid

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from careportal.audit.models import AccessEvent
from careportal.notifications.models import Notification
from careportal.proxy.models import ProxyRelationship, ProxyRelationshipEvent
from tests.accounts.factories import UserFactory
from tests.patients.factories import PatientFactory, PatientWithAccountFactory
from tests.proxy.factories import ProxyRelationshipFactory

pytestmark = pytest.mark.django_db


def years_ago(years: int) -> datetime.date:
    today = timezone.localdate()
    return today.replace(year=today.year - years) - datetime.timedelta(days=3)


@pytest.fixture
def eleanor():
    return PatientWithAccountFactory(given_name="Eleanor", family_name="Hargreaves", birth_date=years_ago(74))


@pytest.fixture
def daughter():
    return UserFactory(username="kate.h", first_name="Kate", last_name="Hargreaves", email="kate@example.org")


def new_url(patient) -> str:
    return reverse("helpdesk:patient-proxy-new", kwargs={"patient_id": patient.public_id})


def relationship_url(relationship, name: str = "helpdesk:proxy-relationship") -> str:
    return reverse(name, kwargs={"relationship_id": relationship.public_id})


SET_UP = {
    "account": "kate@example.org",
    "relationship": "daughter",
    "basis": "granted",
    "scopes": ["appointments", "letters"],
    "consent_note": "Patient asked at the Haematology desk on 3 December, in person.",
    "identity_evidence": "passport",
    "relationship_evidence": "patient_consent",
    "evidence_note": "",
}


def assert_nothing_set_up():
    assert not ProxyRelationship.objects.exists()
    assert not ProxyRelationshipEvent.objects.exists()
    assert not Notification.objects.exists()
    assert not AccessEvent.objects.filter(action="update").exists()


# The patient's page -----------------------------------------------------------------------------------------------


def test_the_patient_page_lists_everyone_who_acts_for_them_with_a_link(helpdesk_client, eleanor):
    active = ProxyRelationshipFactory(patient=eleanor, proxy=UserFactory(display_name="Kate Hargreaves"))
    asked = ProxyRelationshipFactory(
        patient=eleanor, proxy=UserFactory(display_name="Tom Hargreaves"), status="requested", relationship="son"
    )
    page = helpdesk_client.get(reverse("helpdesk:patient", kwargs={"patient_id": eleanor.public_id})).content.decode()
    assert "People who can act for this patient" in page
    assert "Kate Hargreaves" in page
    assert "Waiting for identity checks" in page
    assert relationship_url(active) in page
    assert reverse("helpdesk:proxy-request", kwargs={"relationship_id": asked.public_id}) in page
    assert new_url(eleanor) in page


def test_the_patient_page_says_when_nobody_acts_for_them(helpdesk_client, eleanor):
    page = helpdesk_client.get(reverse("helpdesk:patient", kwargs={"patient_id": eleanor.public_id})).content.decode()
    assert "Nobody acts for this patient in CarePortal, and nobody has asked to." in page


def test_the_account_page_links_to_the_patient_page(helpdesk_client, eleanor):
    page = helpdesk_client.get(reverse("helpdesk:account", kwargs={"account_id": eleanor.user.public_id}))
    assert reverse("helpdesk:patient", kwargs={"patient_id": eleanor.public_id}) in page.content.decode()


# Set-up with consent --------------------------------------------------------------------------------------------


def test_staff_set_up_access_with_the_patients_consent(
    helpdesk_client, helpdesk_user, eleanor, daughter, django_capture_on_commit_callbacks, mailoutbox
):
    assert "Set up access for someone" in helpdesk_client.get(new_url(eleanor)).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = helpdesk_client.post(new_url(eleanor), SET_UP)

    relationship = ProxyRelationship.objects.get()
    assert response.status_code == 302
    assert response["Location"] == relationship_url(relationship)
    assert (relationship.proxy, relationship.patient) == (daughter, eleanor)
    assert (relationship.status, relationship.origin, relationship.basis) == ("active", "staff", "granted")
    assert relationship.scopes == ["appointments", "letters"]
    assert relationship.consent_note == SET_UP["consent_note"]
    assert relationship.verified_by == helpdesk_user
    assert relationship.valid_until is None
    assert relationship.sensitive_categories_granted == []
    assert relationship.events.get().kind == "set_up"
    audit = AccessEvent.objects.get(patient=eleanor, action="update")
    assert audit.object_label == "who can act for you"
    assert {m.to[0] for m in mailoutbox} == {"kate@example.org", eleanor.user.email}
    for message in mailoutbox:
        assert "Eleanor" not in message.body or message.to[0] == eleanor.user.email
        assert "Hargreaves" not in message.body
        assert eleanor.hospital_number not in message.body

    page = helpdesk_client.get(response["Location"]).content.decode()
    assert "Set up by staff with the patient&#39;s consent" in page
    assert "Patient asked at the Haematology desk" in page


def test_the_account_can_be_found_by_username_and_an_end_date_set(helpdesk_client, eleanor, daughter):
    end = timezone.localdate() + datetime.timedelta(days=90)
    response = helpdesk_client.post(
        new_url(eleanor),
        {
            **SET_UP,
            "account": "KATE.H",
            "valid_until_day": str(end.day),
            "valid_until_month": str(end.month),
            "valid_until_year": str(end.year),
            "sensitive_categories": ["mental_health"],
        },
    )
    assert response.status_code == 302
    relationship = ProxyRelationship.objects.get()
    assert relationship.valid_until == end
    assert relationship.sensitive_categories_granted == ["mental_health"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"account": ""}, "Enter their username or email address"),
        ({"account": "nobody@example.org"}, "No account has that username or email address"),
        ({"relationship": ""}, "Enter their relationship to the patient"),
        ({"basis": ""}, "Select why they can act for the patient"),
        ({"scopes": []}, "Select at least one thing they can see"),
        ({"consent_note": "   "}, "Enter how and when the patient gave their consent"),
        ({"identity_evidence": ""}, "Select the evidence you saw of who they are"),
        ({"relationship_evidence": ""}, "Select the evidence you saw of their relationship or legal authority"),
        ({"relationship_evidence": "birth_certificate"}, "does not show this basis"),
        (
            {"basis": "parental", "relationship_evidence": "birth_certificate"},
            "a parent or guardian can be set up only",
        ),
        ({"valid_until_day": "1", "valid_until_month": "1", "valid_until_year": "2020"}, "End date must be today or"),
        (
            {"valid_until_day": "31", "valid_until_month": "2", "valid_until_year": "2030"},
            "End date must be a real date",
        ),
    ],
)
def test_bad_set_ups_are_refused_with_a_clear_error(helpdesk_client, eleanor, daughter, changes, message):
    response = helpdesk_client.post(new_url(eleanor), {**SET_UP, **changes})
    assert response.status_code == 200
    page = response.content.decode()
    assert "There is a problem" in page
    assert message in page
    assert_nothing_set_up()


def test_the_patients_own_account_cannot_act_for_them(helpdesk_client, eleanor):
    response = helpdesk_client.post(new_url(eleanor), {**SET_UP, "account": eleanor.user.username})
    assert "That is the patient&#39;s own account" in response.content.decode()
    assert_nothing_set_up()


def test_a_deactivated_account_cannot_be_set_up(helpdesk_client, eleanor, daughter):
    daughter.is_active = False
    daughter.save()
    response = helpdesk_client.post(new_url(eleanor), SET_UP)
    assert "That account is deactivated" in response.content.decode()
    assert_nothing_set_up()


def test_an_email_address_shared_by_two_accounts_asks_for_the_username(helpdesk_client, eleanor, daughter):
    UserFactory(username="kate.other", email="KATE@example.org")
    response = helpdesk_client.post(new_url(eleanor), SET_UP)
    assert "More than one account matches that email address" in response.content.decode()
    assert_nothing_set_up()


def test_someone_who_already_acts_for_the_patient_is_not_set_up_twice(helpdesk_client, eleanor, daughter):
    ProxyRelationshipFactory(patient=eleanor, proxy=daughter)
    response = helpdesk_client.post(new_url(eleanor), SET_UP)
    assert "This person can already act for this patient" in response.content.decode()
    assert ProxyRelationship.objects.count() == 1


def test_a_legal_authority_for_a_child_is_refused(helpdesk_client, daughter):
    child = PatientFactory(birth_date=years_ago(9))
    response = helpdesk_client.post(new_url(child), {**SET_UP, "basis": "lpa", "relationship_evidence": "lpa"})
    assert "only for someone aged 18 or over" in response.content.decode()
    assert_nothing_set_up()


def test_an_unknown_patient_is_not_found(helpdesk_client, daughter):
    url = reverse("helpdesk:patient-proxy-new", kwargs={"patient_id": uuid.uuid4()})
    assert helpdesk_client.get(url).status_code == 404
    assert helpdesk_client.post(url, SET_UP).status_code == 404
    assert_nothing_set_up()


# Sensitive categories and ending access -----------------------------------------------------------------------------


@pytest.fixture
def kates_access(eleanor, daughter):
    return ProxyRelationshipFactory(patient=eleanor, proxy=daughter, relationship="daughter", basis="granted")


def test_the_relationship_page_shows_the_access_and_its_history(helpdesk_client, helpdesk_user, kates_access):
    page = helpdesk_client.get(relationship_url(kates_access)).content.decode()
    assert "Access for kate.h" in page or "Access for Kate Hargreaves" in page
    assert "Sensitive information shared" in page
    assert "End their access" in page
    seen = AccessEvent.objects.get(patient=kates_access.patient, actor=helpdesk_user)
    assert (seen.action, seen.object_label) == ("view", "who can act for you")


def test_changing_the_sensitive_categories_is_recorded_and_emailed_without_naming_them(
    helpdesk_client, kates_access, django_capture_on_commit_callbacks, mailoutbox
):
    with django_capture_on_commit_callbacks(execute=True):
        response = helpdesk_client.post(
            relationship_url(kates_access, "helpdesk:proxy-relationship-sensitive"),
            {"sensitive_categories": ["hiv", "sexual_health"]},
        )
    assert response.status_code == 302
    kates_access.refresh_from_db()
    assert kates_access.sensitive_categories_granted == ["hiv", "sexual_health"]
    assert kates_access.events.get().kind == "sensitive_changed"
    assert AccessEvent.objects.get(patient=kates_access.patient, action="update").object_label == "who can act for you"
    assert Notification.objects.filter(kind="proxy_access_changed").count() == 2
    for message in mailoutbox:
        for word in ("HIV", "Sexual", "Hargreaves", "Eleanor"):
            assert word not in message.body


def test_saving_the_same_sensitive_categories_changes_nothing(helpdesk_client, kates_access):
    response = helpdesk_client.post(
        relationship_url(kates_access, "helpdesk:proxy-relationship-sensitive"),
        {"sensitive_categories": []},
        follow=True,
    )
    assert "Nothing was changed" in response.content.decode()
    assert not kates_access.events.exists()
    assert not Notification.objects.exists()


def test_ending_access_takes_effect_on_the_proxys_next_request(
    helpdesk_client, kates_access, daughter, django_capture_on_commit_callbacks, mailoutbox
):
    proxy = Client()
    proxy.force_login(daughter)
    assert proxy.get("/home/").status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        response = helpdesk_client.post(
            relationship_url(kates_access, "helpdesk:proxy-relationship-end"),
            {"reason": "The patient asked us to stop it."},
        )
    assert response.status_code == 302
    kates_access.refresh_from_db()
    assert kates_access.status == "revoked"
    assert kates_access.ended_at is not None
    event = kates_access.events.get()
    assert (event.kind, event.note) == ("revoked", "The patient asked us to stop it.")
    assert {m.to[0] for m in mailoutbox} == {"kate@example.org", kates_access.patient.user.email}
    assert proxy.get("/home/").status_code == 302, "no record left to open"


def test_ending_access_needs_a_reason(helpdesk_client, kates_access):
    response = helpdesk_client.post(relationship_url(kates_access, "helpdesk:proxy-relationship-end"), {"reason": ""})
    assert response.status_code == 200
    assert "Enter the reason for ending their access" in response.content.decode()
    kates_access.refresh_from_db()
    assert kates_access.status == "active"
    assert not Notification.objects.exists()


def test_access_that_has_already_ended_cannot_be_changed(helpdesk_client, kates_access):
    kates_access.status = "revoked"
    kates_access.save()
    response = helpdesk_client.post(
        relationship_url(kates_access, "helpdesk:proxy-relationship-end"), {"reason": "Again"}, follow=True
    )
    assert "This access is no longer active" in response.content.decode()
    assert not kates_access.events.exists()


# Only the helpdesk ----------------------------------------------------------------------------------------------

PROXY_URL_NAMES = [
    ("helpdesk:proxy-requests", "get", None),
    ("helpdesk:proxy-request", "get", "application"),
    ("helpdesk:proxy-request", "post", "application"),
    ("helpdesk:proxy-relationship", "get", "relationship"),
    ("helpdesk:proxy-relationship-sensitive", "post", "relationship"),
    ("helpdesk:proxy-relationship-end", "post", "relationship"),
    ("helpdesk:patient-proxy-new", "get", "patient"),
    ("helpdesk:patient-proxy-new", "post", "patient"),
]


def _url(name, target, *, application, relationship, patient):
    if target is None:
        return reverse(name)
    if target == "patient":
        return reverse(name, kwargs={"patient_id": patient.public_id})
    return reverse(
        name, kwargs={"relationship_id": (application if target == "application" else relationship).public_id}
    )


@pytest.mark.parametrize(("name", "method", "target"), PROXY_URL_NAMES)
def test_clinicians_patients_and_proxies_get_404_on_every_proxy_page_of_the_console(
    clinician_client, patient_client, proxy_client, proxy_relationship, patient, name, method, target
):
    application = ProxyRelationshipFactory(patient=patient, status="requested", origin="application")
    url = _url(name, target, application=application, relationship=proxy_relationship, patient=patient)
    data = {**SET_UP, "decision": "decline", "reason": "x", "sensitive_categories": ["hiv"]}
    for client in (clinician_client, patient_client, proxy_client):
        response = getattr(client, method)(url, data)
        assert response.status_code == 404, (name, method)
    assert AccessEvent.objects.filter(action="denied").count() == 3
    proxy_relationship.refresh_from_db()
    application.refresh_from_db()
    assert (proxy_relationship.status, proxy_relationship.sensitive_categories_granted) == ("active", [])
    assert application.status == "requested"
    assert ProxyRelationship.objects.count() == 2


@pytest.mark.parametrize(("name", "method", "target"), [n for n in PROXY_URL_NAMES if n[2]])
def test_unknown_ids_are_not_found_for_the_helpdesk(helpdesk_client, helpdesk_user, name, method, target):
    kwarg = "patient_id" if target == "patient" else "relationship_id"
    response = getattr(helpdesk_client, method)(reverse(name, kwargs={kwarg: uuid.uuid4()}), {"reason": "x"})
    assert response.status_code == 404
    assert AccessEvent.objects.get(actor=helpdesk_user).action == "denied"
