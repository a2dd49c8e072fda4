"""The helpdesk's queue of applications to act for someone, and the decision on one: evidence, age rules, two
people deciding at once, emails with no patient data, and the audit."""

import datetime

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from careportal.access.layer import Viewer
from careportal.audit.models import AccessEvent, ActorRole
from careportal.notifications.models import Notification
from careportal.proxy.application_services import ApplicationAlreadyDecided, Decision, proxy_application_decide
from careportal.proxy.models import ProxyRelationship, ProxyRelationshipEvent
from tests.accounts.factories import UserFactory
from tests.patients.factories import PatientFactory, PatientWithAccountFactory
from tests.proxy.factories import ProxyRelationshipFactory

pytestmark = pytest.mark.django_db

QUEUE = "/staff/helpdesk/proxy-requests/"


def years_ago(years: int, *, days: int = 0) -> datetime.date:
    today = timezone.localdate()
    return today.replace(year=today.year - years) - datetime.timedelta(days=days)


def application_for(patient=None, **fields):
    defaults = {
        "patient": patient or PatientFactory(given_name="Arjun", family_name="Patel", birth_date=years_ago(8)),
        "proxy": UserFactory(first_name="Priya", last_name="Patel", email="priya@example.org"),
        "status": "requested",
        "origin": "application",
        "basis": "parental",
        "relationship": "mother",
        "scopes": ["appointments", "letters", "messages", "results"],
        "valid_from": timezone.localdate(),
        "applicant_note": "Please call after 3pm.",
    }
    defaults.update(fields)
    return ProxyRelationshipFactory(**defaults)


def url_of(application) -> str:
    return reverse("helpdesk:proxy-request", kwargs={"relationship_id": application.public_id})


APPROVE = {
    "identity_evidence": "passport",
    "relationship_evidence": "birth_certificate",
    "evidence_note": "Passport 123456789 seen at the desk",
    "scopes": ["appointments", "letters", "messages", "results"],
    "decision": "approve",
}
DECLINE = {"decision": "decline", "reason": "The birth certificate you showed does not name you."}


def assert_undecided(application):
    application.refresh_from_db()
    assert application.status == "requested"
    assert application.verified_by is None
    assert list(application.events.values_list("kind", flat=True)) == []
    assert not Notification.objects.exists()
    assert not AccessEvent.objects.filter(action="update").exists()


# The queue ------------------------------------------------------------------------------------------------------


def test_the_queue_is_empty_at_first(helpdesk_client):
    page = helpdesk_client.get(QUEUE).content.decode()
    assert "<h1>Requests to act for someone</h1>" in page
    assert "There are no requests waiting" in page


def test_the_queue_lists_waiting_applications_oldest_first_with_a_count(helpdesk_client, helpdesk_user):
    application_for(patient=PatientFactory(family_name="Newer"))
    older = application_for(patient=PatientFactory(family_name="Older"))
    ProxyRelationship.objects.filter(pk=older.pk).update(created_at=timezone.now() - datetime.timedelta(days=3))
    application_for(patient=PatientFactory(family_name="Decided"), status="active")

    page = helpdesk_client.get(QUEUE).content.decode()

    assert "2 waiting." in page
    assert page.index("Older") < page.index("Newer")
    assert "Decided" not in page
    assert "3 days" in page
    assert url_of(older) in page
    # Each patient listed is in their own access log as seen by the helpdesk.
    listed = AccessEvent.objects.filter(actor=helpdesk_user, object_label="a request to act for you")
    assert sorted(e.patient.family_name for e in listed) == ["Newer", "Older"]


def test_the_queue_pages(helpdesk_client, monkeypatch):
    monkeypatch.setattr("careportal.helpdesk.views.proxy.QUEUE_PAGE_SIZE", 2)
    for _ in range(3):
        application_for()
    first = helpdesk_client.get(QUEUE).content.decode()
    second = helpdesk_client.get(QUEUE + "?page=2").content.decode()
    assert "3 waiting." in first
    assert "Page 2 of 2" in first
    assert first.count("/staff/helpdesk/proxy-requests/") - second.count("/staff/helpdesk/proxy-requests/") == 1


def test_the_queue_takes_the_same_number_of_queries_however_many_applications(helpdesk_client):
    application_for()
    helpdesk_client.get(QUEUE)  # the first request of a session reads a few things once
    with CaptureQueriesContext(connection) as one:
        assert helpdesk_client.get(QUEUE).status_code == 200
    for _ in range(6):
        application_for()
    with CaptureQueriesContext(connection) as seven:
        assert helpdesk_client.get(QUEUE).status_code == 200
    assert len(seven.captured_queries) == len(one.captured_queries)


def test_the_console_home_links_to_the_queue_with_a_count(helpdesk_client):
    application_for()
    page = helpdesk_client.get("/staff/helpdesk/").content.decode()
    assert QUEUE in page
    assert "1 waiting for identity checks" in page


# One application ------------------------------------------------------------------------------------------------


def test_the_application_page_shows_the_applicant_the_patient_and_what_was_asked(helpdesk_client, helpdesk_user):
    application = application_for()
    page = helpdesk_client.get(url_of(application)).content.decode()

    for text in (
        "Priya Patel",
        application.proxy.username,
        "priya@example.org",
        "2-step verification",
        "Not set up",
        "Arjun Patel",
        "8 years old",
        application.patient.hospital_number,
        "Parent or guardian of a child",
        "mother",
        "Appointments, Test results, Messages, Letters",
        "Please call after 3pm.",
        "birth certificate naming them",
    ):
        assert text in page, text
    # Nothing sensitive is ticked to start with; the scopes asked for are.
    assert 'value="hiv" checked' not in page
    assert 'value="results" checked' in page
    assert "is hidden from people acting for a patient unless you tick it" in page
    seen = AccessEvent.objects.get(patient=application.patient, actor=helpdesk_user)
    assert (seen.action, seen.actor_role, seen.object_label) == ("view", "helpdesk", "a request to act for you")


def test_approving_gives_access_records_the_evidence_and_emails_the_applicant(
    helpdesk_client, helpdesk_user, django_capture_on_commit_callbacks, mailoutbox
):
    application = application_for()
    with django_capture_on_commit_callbacks(execute=True):
        response = helpdesk_client.post(url_of(application), {**APPROVE, "sensitive_categories": ["genetics"]})

    assert response.status_code == 302
    assert response["Location"] == QUEUE
    application.refresh_from_db()
    assert application.status == "active"
    assert application.verified_by == helpdesk_user
    assert application.verified_at is not None
    assert (application.identity_evidence, application.relationship_evidence) == ("passport", "birth_certificate")
    assert application.evidence_note == "Passport 123456789 seen at the desk"
    assert application.sensitive_categories_granted == ["genetics"]
    event = application.events.get(kind="approved")
    assert event.actor == helpdesk_user
    assert event.scopes_after == ["appointments", "letters", "messages", "results"]
    changed = AccessEvent.objects.get(patient=application.patient, action="update")
    assert (changed.actor, changed.object_label) == (helpdesk_user, "who can act for you")

    decided = Notification.objects.get()
    assert (decided.kind, decided.user) == ("proxy_application_decided", application.proxy)
    assert len(mailoutbox) == 1
    body = mailoutbox[0].body
    for detail in ("Arjun", "Patel", application.patient.hospital_number, "mother"):
        assert detail not in body
    assert "Hello Priya," in body


def test_an_adult_patient_with_an_account_is_told_when_someone_is_approved_for_them(
    helpdesk_client, django_capture_on_commit_callbacks, mailoutbox
):
    adult = PatientWithAccountFactory(birth_date=years_ago(70), given_name="Eleanor", family_name="Hargreaves")
    application = application_for(adult, basis="lpa", relationship="son")
    with django_capture_on_commit_callbacks(execute=True):
        helpdesk_client.post(url_of(application), {**APPROVE, "relationship_evidence": "lpa"})

    told = Notification.objects.get(user=adult.user)
    assert told.kind == "proxy_access_changed"
    assert "Hargreaves" not in str(told.personalisation)
    assert {m.to[0] for m in mailoutbox} == {adult.user.email, application.proxy.email}
    for message in mailoutbox:
        assert "Hargreaves" not in message.body
        assert adult.hospital_number not in message.body


def test_a_childs_account_is_not_emailed_about_a_parent(helpdesk_client, django_capture_on_commit_callbacks):
    child = PatientWithAccountFactory(birth_date=years_ago(12))
    application = application_for(child)
    with django_capture_on_commit_callbacks(execute=True):
        helpdesk_client.post(url_of(application), APPROVE)
    assert not Notification.objects.filter(user=child.user).exists()


@pytest.mark.parametrize(
    ("posted", "message"),
    [
        (
            {"decision": "approve", "scopes": ["appointments"]},
            "Select the evidence you saw of who they are before approving",
        ),
        (
            {"decision": "approve", "identity_evidence": "passport", "scopes": ["appointments"]},
            "Select the evidence you saw of their relationship or legal authority before approving",
        ),
        ({**APPROVE, "scopes": []}, "Select at least one thing they can see"),
        ({**APPROVE, "relationship_evidence": "lpa"}, "does not show this basis"),
        ({**APPROVE, "relationship_evidence": "patient_consent"}, "Select the evidence you saw of their relationship"),
        ({**APPROVE, "identity_evidence": "library_card"}, "Select the evidence you saw of who they are"),
        ({**APPROVE, "sensitive_categories": ["everything"]}, "Select only the sensitive categories listed"),
        ({**APPROVE, "decision": ""}, "Select approve or decline"),
        ({"decision": "decline", "reason": "  "}, "Enter the reason for declining: the applicant reads it"),
        ({"decision": "decline", "reason": "x" * 1001}, "Reason must be 1,000 characters or fewer"),
    ],
)
def test_a_decision_with_missing_or_wrong_evidence_is_refused_and_changes_nothing(helpdesk_client, posted, message):
    application = application_for()
    response = helpdesk_client.post(url_of(application), posted)
    assert response.status_code == 200
    page = response.content.decode()
    assert "There is a problem" in page
    assert message in page
    assert_undecided(application)


def test_an_application_with_no_evidence_recorded_cannot_be_approved_even_by_the_service(helpdesk_user):
    from careportal.proxy.application_services import DecisionRefused

    application = application_for()
    viewer = Viewer(user=helpdesk_user, role=ActorRole.HELPDESK)
    with pytest.raises(DecisionRefused, match="Access cannot be given with no evidence recorded"):
        proxy_application_decide(
            viewer=viewer, relationship=application, decision=Decision(approve=True, scopes=["appointments"])
        )
    assert_undecided(application)


def test_a_parent_whose_child_turned_16_while_waiting_cannot_be_approved_for_everything(helpdesk_client):
    application = application_for(PatientFactory(birth_date=years_ago(16)))
    response = helpdesk_client.post(url_of(application), APPROVE)
    page = response.content.decode()
    assert "They are now 16: from 16 a parent keeps appointments only" in page
    assert "Approve with only appointments selected" in page
    assert_undecided(application)

    response = helpdesk_client.post(url_of(application), {**APPROVE, "scopes": ["appointments"]})
    assert response.status_code == 302
    application.refresh_from_db()
    assert (application.status, application.scopes) == ("active", ["appointments"])


def test_a_parent_whose_child_turned_18_cannot_be_approved_at_all(helpdesk_client):
    application = application_for(PatientFactory(birth_date=years_ago(18)))
    response = helpdesk_client.post(url_of(application), {**APPROVE, "scopes": ["appointments"]})
    assert "access ends at 18, so this application cannot be approved" in response.content.decode()
    assert_undecided(application)


def test_declining_records_the_reason_the_applicant_reads(
    helpdesk_client, helpdesk_user, django_capture_on_commit_callbacks
):
    application = application_for()
    with django_capture_on_commit_callbacks(execute=True):
        response = helpdesk_client.post(url_of(application), DECLINE)
    assert response.status_code == 302
    application.refresh_from_db()
    assert application.status == "declined"
    assert application.decision_reason == "The birth certificate you showed does not name you."
    event = application.events.get()
    assert (event.kind, event.actor, event.note) == ("declined", helpdesk_user, application.decision_reason)
    assert Notification.objects.get().kind == "proxy_application_decided"
    assert AccessEvent.objects.get(patient=application.patient, action="update").object_label == (
        "a request to act for you"
    )

    applicant = Client()
    applicant.force_login(application.proxy)
    page = applicant.get(reverse("proxy:application", kwargs={"application_id": application.public_id}))
    assert "The birth certificate you showed does not name you." in page.content.decode()


def test_a_decided_application_opens_as_its_relationship_page(helpdesk_client):
    application = application_for(status="declined", decision_reason="No documents")
    response = helpdesk_client.get(url_of(application))
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "helpdesk:proxy-relationship", kwargs={"relationship_id": application.public_id}
    )


# Two people deciding at once ------------------------------------------------------------------------------------


def test_the_second_of_two_helpdesk_staff_deciding_at_once_is_told_it_is_already_decided(helpdesk_client):
    application = application_for()
    # Both opened the page; the first approves.
    second_agent = Client()
    second_agent.force_login(UserFactory(is_helpdesk=True))
    assert second_agent.get(url_of(application)).status_code == 200
    assert helpdesk_client.post(url_of(application), APPROVE).status_code == 302

    # The second, still looking at the form, declines.
    response = second_agent.post(url_of(application), DECLINE, follow=True)

    assert "already been decided by someone else. Nothing was changed" in response.content.decode()
    application.refresh_from_db()
    assert application.status == "active"
    assert application.decision_reason == ""
    assert list(application.events.values_list("kind", flat=True)) == ["approved"]
    assert Notification.objects.count() == 1


def test_the_decision_service_rereads_the_row_under_a_lock(helpdesk_user):
    # The view resolved the application while it was waiting; someone else decided it before the lock was taken.
    stale = application_for()
    viewer = Viewer(user=helpdesk_user, role=ActorRole.HELPDESK)
    proxy_application_decide(viewer=viewer, relationship=stale, decision=Decision(approve=False, reason="No ID"))
    assert stale.status == "requested", "the caller's copy is stale"

    with pytest.raises(ApplicationAlreadyDecided):
        proxy_application_decide(
            viewer=viewer,
            relationship=stale,
            decision=Decision(
                approve=True,
                identity_evidence="passport",
                relationship_evidence="birth_certificate",
                scopes=["appointments"],
            ),
        )
    stale.refresh_from_db()
    assert stale.status == "declined"
    assert ProxyRelationshipEvent.objects.filter(relationship=stale).count() == 1


def test_the_decision_goes_through_a_real_smtp_server_with_no_patient_data(
    helpdesk_client, smtp_server, django_capture_on_commit_callbacks
):
    application = application_for()
    with django_capture_on_commit_callbacks(execute=True):
        helpdesk_client.post(url_of(application), APPROVE)

    message = smtp_server.wait_for_message(to="priya@example.org")
    assert message["Subject"] == "Your request to act for someone in CarePortal has been decided"
    body = smtp_server.body(message)
    assert "Hello Priya," in body
    assert "Access for others" in body
    for detail in ("Arjun", "Patel", application.patient.hospital_number, application.patient.nhs_number):
        assert detail not in body
    assert Notification.objects.get().status == "sent"
