"""Inviting someone by email, and what opening the link does: the patient's side of issue 13 (part 1)."""

import datetime
import re
from html import unescape

import pytest
from django.test import Client
from django.utils import timezone

from careportal.audit.models import AccessAction, AccessEvent
from careportal.notifications.models import Notification
from careportal.proxy.models import (
    InvitationStatus,
    ProxyEventKind,
    ProxyInvitation,
    ProxyRelationship,
    ProxyRelationshipEvent,
    ProxyStatus,
)
from careportal.proxy.services import invitation_token_digest
from tests.accounts.factories import UserFactory
from tests.patients.factories import PatientFactory, PatientWithAccountFactory
from tests.proxy.conftest import INVITEE_EMAIL, invitation_token, invite_form, only_invitation, open_link
from tests.proxy.factories import ProxyRelationshipFactory

pytestmark = pytest.mark.django_db


def page_text(response) -> str:  # type: ignore[no-untyped-def]
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


# Sending -------------------------------------------------------------------------------------------------------


def test_an_adult_patient_invites_someone_by_email(adult, adult_client):
    response = adult_client.post(
        "/access-for-others/invite/",
        invite_form(email="Carer@Example.ORG", valid_until_day="1", valid_until_month="6", valid_until_year="2030"),
    )

    assert response.status_code == 302
    invitation = only_invitation()
    assert invitation.patient == adult
    assert invitation.invited_by == adult.user
    assert invitation.email == INVITEE_EMAIL
    assert invitation.relationship == "carer"
    assert invitation.scopes == ["appointments", "results"]
    assert invitation.valid_until == datetime.date(2030, 6, 1)
    assert invitation.status == InvitationStatus.PENDING
    lifetime = invitation.expires_at - invitation.created_at
    assert lifetime == pytest.approx(datetime.timedelta(days=14), abs=datetime.timedelta(seconds=60))
    # Only the keyed hash of the token is kept; the token itself is only in the email.
    token = invitation_token()
    assert len(token) >= 43
    assert invitation.token_digest == invitation_token_digest(token)
    assert token not in invitation.token_digest
    # No relationship yet, so no relationship history: the invitation keeps its own.
    assert not ProxyRelationship.objects.exists()
    assert not ProxyRelationshipEvent.objects.exists()
    assert AccessEvent.objects.filter(
        patient=adult, action=AccessAction.CREATE, object_label="an invitation to act for you"
    ).exists()


def test_the_invitation_email_names_the_inviter_by_first_name_only(adult, send_invitation):
    send_invitation()

    notification = Notification.objects.get(kind="proxy_invitation")
    assert notification.to_address == INVITEE_EMAIL
    assert notification.user is None
    values = notification.personalisation
    assert values["inviter_first_name"] == "Eleanor"
    assert re.fullmatch(r"http://testserver/access-for-others/invitations/[A-Za-z0-9_-]{43}/", values["link"])
    assert re.fullmatch(r"\d{1,2} [A-Z][a-z]+ \d{4}", values["expires"])
    flat = " ".join(values.values())
    for private in [adult.family_name, adult.nhs_number, adult.hospital_number, "results", "appointments"]:
        assert private not in flat


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"email": "eleanor@example.org"}, "This is your own email address"),
        ({"email": "ELEANOR@example.org"}, "This is your own email address"),
        ({"email": "not-an-email"}, "Enter an email address in the correct format"),
        ({"email": ""}, "Enter their email address"),
        ({"relationship": ""}, "Enter their relationship to you"),
        ({"relationship": "x" * 61}, "Relationship must be 60 characters or fewer"),
        ({"scopes": []}, "Choose at least one part of your record they can see"),
        ({"scopes": ["access_log"]}, "Choose from the parts of your record listed"),
        (
            {"valid_until_day": "1", "valid_until_month": "1", "valid_until_year": "2020"},
            "must be today or in the future",
        ),
        ({"valid_until_day": "31", "valid_until_month": "2", "valid_until_year": "2030"}, "must be a real date"),
        ({"valid_until_day": "3", "valid_until_month": "", "valid_until_year": "2030"}, "must include a month"),
    ],
)
def test_bad_invitations_are_refused_with_a_clear_error_and_nothing_written(adult_client, changes, message):
    response = adult_client.post("/access-for-others/invite/", invite_form(**changes))

    assert response.status_code == 200
    assert message in page_text(response)
    assert "There is a problem" in page_text(response)
    assert not ProxyInvitation.objects.exists()
    assert not Notification.objects.exists()


def test_an_address_already_invited_and_waiting_is_refused(adult_client, send_invitation):
    send_invitation()

    response = adult_client.post("/access-for-others/invite/", invite_form(email="CARER@example.org"))

    assert "You have already invited this email address" in page_text(response)
    assert ProxyInvitation.objects.count() == 1
    assert Notification.objects.filter(kind="proxy_invitation").count() == 1


def test_an_expired_invitation_does_not_stop_a_new_one(adult_client, send_invitation):
    send_invitation()
    ProxyInvitation.objects.update(expires_at=timezone.now() - datetime.timedelta(minutes=1))

    send_invitation()

    assert sorted(ProxyInvitation.objects.values_list("status", flat=True)) == ["cancelled", "pending"]


def test_an_address_whose_account_already_acts_for_the_patient_is_refused(adult, adult_client):
    ProxyRelationshipFactory(patient=adult, proxy=UserFactory(email="Carer@example.org"), basis="granted")

    response = adult_client.post("/access-for-others/invite/", invite_form())

    assert "The person with this email address can already act for you" in page_text(response)
    assert not ProxyInvitation.objects.exists()


def test_a_proxy_only_account_cannot_invite(proxy_client):
    assert proxy_client.get("/access-for-others/invite/").status_code == 404
    assert proxy_client.post("/access-for-others/invite/", invite_form()).status_code == 404
    assert not ProxyInvitation.objects.exists()
    assert AccessEvent.objects.filter(action=AccessAction.DENIED, object_label="inviting someone to act for you")


def test_a_proxy_with_someone_elses_record_open_cannot_invite_to_it(adult, adult_client):
    child = ProxyRelationshipFactory(proxy=adult.user).patient
    adult_client.post(f"/home/whose-record/{child.public_id}/")

    assert adult_client.post("/access-for-others/invite/", invite_form()).status_code == 404
    assert not ProxyInvitation.objects.exists()
    # With their own record open again, they may.
    adult_client.post(f"/home/whose-record/{adult.public_id}/")
    assert adult_client.post("/access-for-others/invite/", invite_form()).status_code == 302


def test_a_child_under_16_cannot_invite(db):
    child = PatientWithAccountFactory(birth_date=timezone.localdate().replace(year=timezone.localdate().year - 15))
    client = Client()
    client.force_login(child.user)

    assert client.get("/access-for-others/invite/").status_code == 404
    assert "looks after who can act for you until you are 16" in page_text(client.get("/access-for-others/"))


def test_the_patient_cancels_a_pending_invitation_and_its_link_stops_working(adult_client, send_invitation):
    token = send_invitation()
    invitation = only_invitation()

    assert adult_client.get(f"/access-for-others/invitations/{invitation.public_id}/cancel/").status_code == 200
    response = adult_client.post(f"/access-for-others/invitations/{invitation.public_id}/cancel/")

    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.CANCELLED
    assert "This invitation was cancelled" in page_text(open_link(Client(), token))


def test_another_patients_invitation_cannot_be_cancelled(send_invitation):
    send_invitation()
    invitation = only_invitation()
    someone = PatientWithAccountFactory()
    client = Client()
    client.force_login(someone.user)

    assert client.post(f"/access-for-others/invitations/{invitation.public_id}/cancel/").status_code == 404
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.PENDING


# Opening the link -------------------------------------------------------------------------------------------------


def test_the_link_moves_the_token_into_the_session_and_off_the_address(send_invitation):
    token = send_invitation()
    client = Client()

    page = open_link(client, token)

    assert token not in str(dict(client.session))
    assert client.session["careportal_proxy_invitation"] == invitation_token_digest(token)
    text = page_text(page)
    assert "Eleanor has invited you to help with their hospital record" in text
    assert "Hargreaves" not in text
    assert "Sign in to accept" in text
    assert "Create an account" in text
    assert 'href="/sign-in/?next=/access-for-others/invitation/"' in page.content.decode()


def test_the_invitee_accepts_and_the_relationship_starts(adult, send_invitation, invitee, invitee_client):
    token = send_invitation(valid_until_day="1", valid_until_month="6", valid_until_year="2030")

    page = open_link(invitee_client, token)
    assert page.status_code == 200
    assert "Accept the invitation" in page_text(page)
    response = invitee_client.post("/access-for-others/invitation/")

    assert response.status_code == 302
    assert response["Location"] == "/home/whose-record/"
    relationship = ProxyRelationship.objects.get()
    assert relationship.proxy == invitee
    assert relationship.patient == adult
    assert relationship.status == ProxyStatus.ACTIVE
    assert relationship.origin == "invitation"
    assert relationship.basis == "granted"
    assert relationship.scopes == ["appointments", "results"]
    assert relationship.valid_until == datetime.date(2030, 6, 1)
    assert relationship.valid_from == timezone.localdate()
    assert relationship.verified_by is None
    assert "invited them by email" in relationship.consent_note
    invitation = only_invitation()
    assert invitation.status == InvitationStatus.ACCEPTED
    assert invitation.accepted_by == invitee
    assert invitation.result == relationship
    events = list(relationship.events.values_list("kind", "actor"))
    assert events == [(ProxyEventKind.ACCEPTED, invitee.pk), (ProxyEventKind.INVITED, adult.user.pk)]
    told = Notification.objects.get(kind="proxy_access_changed")
    assert told.user == adult.user
    assert told.personalisation["change"] == "someone you invited accepted and can now act for you"
    assert "Chris" not in str(told.personalisation) and "Carer" not in str(told.personalisation)
    assert AccessEvent.objects.filter(patient=adult, action=AccessAction.CREATE, actor_role="proxy").exists()
    # The session no longer holds the invitation.
    assert "careportal_proxy_invitation" not in invitee_client.session


def test_a_used_link_is_refused_and_nothing_more_is_written(send_invitation, invitee_client):
    token = send_invitation()
    open_link(invitee_client, token)
    invitee_client.post("/access-for-others/invitation/")

    page = open_link(invitee_client, token)
    assert "This invitation has already been used" in page_text(page)
    response = invitee_client.post("/access-for-others/invitation/")
    assert response.status_code == 400
    assert ProxyRelationship.objects.count() == 1
    assert ProxyRelationshipEvent.objects.count() == 2


def test_an_expired_link_is_refused(send_invitation, invitee_client):
    token = send_invitation()

    # Invitations work for the policy's 14 days.
    ProxyInvitation.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))

    assert "This invitation has expired" in page_text(open_link(invitee_client, token))
    assert "Invitation links work for 14 days" in page_text(invitee_client.get("/access-for-others/invitation/"))
    assert invitee_client.post("/access-for-others/invitation/").status_code == 400

    assert not ProxyRelationship.objects.exists()
    assert only_invitation().status == InvitationStatus.PENDING


@pytest.mark.parametrize("token", ["not-a-real-token", "x" * 500])
def test_an_unknown_link_is_refused(invitee_client, token):
    assert "This link does not work" in page_text(open_link(invitee_client, token))
    assert invitee_client.post("/access-for-others/invitation/").status_code == 400
    assert not ProxyRelationship.objects.exists()


def test_without_opening_a_link_the_invitation_page_says_the_link_does_not_work(invitee_client):
    assert "This link does not work" in page_text(invitee_client.get("/access-for-others/invitation/"))


def test_a_signed_in_account_with_another_email_address_is_refused(send_invitation):
    token = send_invitation()
    other = UserFactory(email="someone.else@example.org")
    client = Client()
    client.force_login(other)

    assert "This invitation was sent to a different email address" in page_text(open_link(client, token))
    assert client.post("/access-for-others/invitation/").status_code == 400
    assert not ProxyRelationship.objects.exists()
    assert only_invitation().status == InvitationStatus.PENDING


def test_the_patient_cannot_accept_their_own_invitation(send_invitation, adult_client):
    token = send_invitation()

    assert "You cannot accept your own invitation" in page_text(open_link(adult_client, token))
    assert adult_client.post("/access-for-others/invitation/").status_code == 400
    assert not ProxyRelationship.objects.exists()


def test_an_account_that_already_acts_for_the_patient_is_refused(adult, send_invitation, invitee, invitee_client):
    token = send_invitation()
    # Between the invitation and the accept, the helpdesk set up access for the same person.
    ProxyRelationshipFactory(patient=adult, proxy=invitee, basis="lpa")

    assert "You can already act for this person" in page_text(open_link(invitee_client, token))
    assert invitee_client.post("/access-for-others/invitation/").status_code == 400
    assert ProxyRelationship.objects.count() == 1
    assert only_invitation().status == InvitationStatus.PENDING


def test_a_cancelled_invitation_cannot_be_accepted(send_invitation, invitee_client):
    token = send_invitation()
    ProxyInvitation.objects.update(status=InvitationStatus.CANCELLED)

    assert "This invitation was cancelled" in page_text(open_link(invitee_client, token))
    assert invitee_client.post("/access-for-others/invitation/").status_code == 400
    assert not ProxyRelationship.objects.exists()


def test_a_patient_with_no_account_is_never_emailed_on_accept(send_invitation, invitee_client, adult):
    token = send_invitation()
    adult.user = None
    adult.save()
    open_link(invitee_client, token)

    invitee_client.post("/access-for-others/invitation/")

    assert ProxyRelationship.objects.filter(status="active").count() == 1
    assert not Notification.objects.filter(kind="proxy_access_changed").exists()


def test_an_invitation_for_another_patient_is_never_found_by_a_patient_id(send_invitation):
    send_invitation()
    someone = PatientFactory()
    assert not ProxyInvitation.objects.filter(patient=someone).exists()
