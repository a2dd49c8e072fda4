"""The hub at /access-for-others/ and one relationship's page: seeing, changing and taking away access, a proxy
stopping, and revocation taking effect on the proxy's very next request."""

import datetime
import re
from html import unescape

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from careportal.audit.models import AccessAction, AccessEvent
from careportal.notifications.models import Notification
from careportal.proxy.models import ProxyEventKind, ProxyInvitation, ProxyPolicy, ProxyRelationship, ProxyStatus
from tests.accounts.factories import UserFactory
from tests.patients.factories import PatientFactory, PatientWithAccountFactory
from tests.proxy.factories import ProxyRelationshipFactory
from tests.results.factories import DiagnosticReportFactory

pytestmark = pytest.mark.django_db


def page_text(response) -> str:  # type: ignore[no-untyped-def]
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def granted(adult, **kwargs):  # type: ignore[no-untyped-def]
    """Someone the adult patient granted access to themself."""
    kwargs.setdefault("proxy", UserFactory(first_name="Chris", last_name="Carer"))
    return ProxyRelationshipFactory(
        patient=adult,
        basis="granted",
        origin="invitation",
        relationship=kwargs.pop("relationship", "carer"),
        scopes=kwargs.pop("scopes", ["appointments", "results"]),
        valid_from=datetime.date(2026, 1, 1),
        **kwargs,
    )


def years_ago(years: int, *, days: int = 0) -> datetime.date:
    today = timezone.localdate()
    return today.replace(year=today.year - years) - datetime.timedelta(days=days)


# The hub -------------------------------------------------------------------------------------------------------


def test_the_hub_lists_who_acts_for_the_patient_and_whom_they_act_for(adult, adult_client, send_invitation):
    granted(adult, valid_until=datetime.date(2030, 6, 1))
    granted(adult, proxy=UserFactory(first_name="Robin", last_name="Gone"), status="revoked", ended_at=timezone.now())
    send_invitation(email="friend@example.org", relationship="friend", scopes=["letters"])
    child = PatientFactory(given_name="Arjun", family_name="Patel", birth_date=years_ago(10))
    ProxyRelationshipFactory(patient=child, proxy=adult.user, relationship="mother", scopes=["results", "letters"])
    teen = PatientFactory(given_name="Maya", family_name="Patel", birth_date=years_ago(16, days=3))
    ProxyRelationshipFactory(patient=teen, proxy=adult.user, relationship="mother")
    waiting = PatientFactory(given_name="Ada", family_name="Waits")
    ProxyRelationshipFactory(patient=waiting, proxy=adult.user, status="requested", relationship="daughter")
    refused = PatientFactory(given_name="Sam", family_name="Refused")
    ProxyRelationshipFactory(
        patient=refused, proxy=adult.user, status="declined", decision_reason="The birth certificate was unreadable."
    )

    text = page_text(adult_client.get("/access-for-others/"))

    # Who can act for her: the active one in full, the invitation, and the revoked one under "Past access".
    assert "People who can act for you" in text
    assert "Chris Carer (carer)" in text
    assert "Appointments and test results." in text
    assert "1 June 2030" in text
    assert "You invited them by email" in text
    assert "Sexual health, HIV, genetics, mental health and safeguarding" in text
    assert "friend@example.org (friend)" in text
    assert "Cancel the invitation to friend@example.org" in text
    past = text.split("Past access", 1)[1]
    assert "Robin Gone" in past and "Access taken away" in past
    # Whom she acts for: what she sees today, with the age rule said in words.
    assert "People you can act for" in text
    assert "Arjun Patel (you are their mother)" in text
    assert "Test results and letters." in text
    assert "Maya Patel (you are their mother)" in text
    assert "Because Maya is 16 or older, you can see Maya's appointments only." in text
    assert "Stop acting for Arjun Patel" in text
    assert "Waiting for the helpdesk to check" in text and "Ada Waits" in text
    assert "The birth certificate was unreadable." in text
    assert "{# lead" not in text
    assert AccessEvent.objects.filter(
        patient=adult, action=AccessAction.VIEW, object_label="people who can act for you"
    ).exists()


def test_the_hub_has_plain_empty_states(adult_client):
    text = page_text(adult_client.get("/access-for-others/"))

    assert "Nobody can act for you at the moment." in text
    assert "You cannot act for anyone at the moment." in text
    assert "Invite someone to act for you" in text
    assert "Past access" not in text


def test_a_proxy_never_sees_who_else_acts_for_the_patient_they_act_for(proxy_relationship, proxy_client):
    child = proxy_relationship.patient
    other = ProxyRelationshipFactory(patient=child, proxy=UserFactory(first_name="Second", last_name="Parent"))
    proxy_client.get("/home/")  # the child's record is open

    text = page_text(proxy_client.get("/access-for-others/"))

    assert "People who can act for you" not in text
    assert "Second Parent" not in text
    assert child.full_name in text  # under "People you can act for"
    assert proxy_client.get(f"/access-for-others/people/{other.public_id}/").status_code == 404
    assert proxy_client.get(f"/access-for-others/people/{proxy_relationship.public_id}/").status_code == 404


def test_a_patient_with_a_childs_record_open_still_sees_only_their_own_proxies(adult, adult_client):
    child = ProxyRelationshipFactory(proxy=adult.user).patient
    ProxyRelationshipFactory(patient=child, proxy=UserFactory(first_name="Second", last_name="Parent"))
    granted(adult)
    adult_client.post(f"/home/whose-record/{child.public_id}/")

    text = page_text(adult_client.get("/access-for-others/"))

    assert "Chris Carer" in text
    assert "Second Parent" not in text
    assert "switch to your own record" in text


def test_the_hub_makes_the_same_queries_however_many_people(adult, adult_client):
    def count() -> int:
        adult_client.get("/access-for-others/")  # warm the session and the policy cache
        with CaptureQueriesContext(connection) as queries:
            assert adult_client.get("/access-for-others/").status_code == 200
        return len(queries)

    granted(adult)
    ProxyRelationshipFactory(proxy=adult.user)
    one = count()
    for n in range(4):
        granted(adult, proxy=UserFactory(), status="revoked")
        granted(adult, proxy=UserFactory()) if n == 0 else None
        ProxyRelationshipFactory(proxy=adult.user)
        ProxyInvitation.objects.create(
            patient=adult,
            invited_by=adult.user,
            email=f"p{n}@example.org",
            relationship="friend",
            scopes=["letters"],
            token_digest=f"digest{n}",
            expires_at=timezone.now() + datetime.timedelta(days=3),
        )

    assert count() == one


def test_signed_out_people_are_sent_to_sign_in():
    response = Client().get("/access-for-others/")
    assert response.status_code == 302
    assert response["Location"].startswith("/sign-in/")


# One relationship ------------------------------------------------------------------------------------------------


def test_the_relationship_page_shows_details_and_history_newest_first(adult, adult_client):
    relationship = granted(adult)
    adult_client.post(
        f"/access-for-others/people/{relationship.public_id}/",
        {"scopes": ["letters"], "valid_until_day": "", "valid_until_month": "", "valid_until_year": ""},
    )

    text = page_text(adult_client.get(f"/access-for-others/people/{relationship.public_id}/"))

    assert "Chris Carer" in text
    assert "What they can see today Letters." in text
    history = text.split("History", 1)[1]
    assert "What they can see was changed" in history
    assert "Before: Appointments and test results" in history
    assert "After: Letters" in history
    assert "You" in history


def test_another_patients_relationship_is_not_found(adult_client):
    someone_elses = ProxyRelationshipFactory(patient=PatientWithAccountFactory(), basis="granted")

    for url in [
        f"/access-for-others/people/{someone_elses.public_id}/",
        f"/access-for-others/people/{someone_elses.public_id}/take-away-access/",
        f"/access-for-others/acting-for/{someone_elses.public_id}/stop/",
    ]:
        assert adult_client.get(url).status_code == 404, url
        assert adult_client.post(url).status_code == 404, url
    someone_elses.refresh_from_db()
    assert someone_elses.status == ProxyStatus.ACTIVE
    assert AccessEvent.objects.filter(action=AccessAction.DENIED).count() >= 6


def test_the_patient_changes_what_someone_sees_and_until_when(adult, adult_client):
    relationship = granted(adult)

    response = adult_client.post(
        f"/access-for-others/people/{relationship.public_id}/",
        {
            "scopes": ["letters", "messages"],
            "valid_until_day": "1",
            "valid_until_month": "3",
            "valid_until_year": "2031",
        },
    )

    assert response.status_code == 302
    relationship.refresh_from_db()
    assert relationship.scopes == ["letters", "messages"]
    assert relationship.valid_until == datetime.date(2031, 3, 1)
    kinds = list(relationship.events.values_list("kind", "scopes_before", "scopes_after", "note"))
    assert kinds == [
        (ProxyEventKind.END_DATE_CHANGED, ["letters", "messages"], ["letters", "messages"], "Until 1 March 2031."),
        (ProxyEventKind.SCOPES_CHANGED, ["appointments", "results"], ["letters", "messages"], ""),
    ]
    told = Notification.objects.get(kind="proxy_access_changed")
    assert told.user == relationship.proxy
    assert told.personalisation["change"] == "what you can see in someone's record was changed"
    assert AccessEvent.objects.filter(patient=adult, action=AccessAction.UPDATE).exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"scopes": []}, "Choose at least one part of your record they can see"),
        (
            {"scopes": ["letters"], "valid_until_day": "2", "valid_until_month": "1", "valid_until_year": "2021"},
            "must be today or in the future",
        ),
        ({"scopes": ["access_log"]}, "Choose from the parts of your record listed"),
    ],
)
def test_bad_changes_are_refused_and_nothing_written(adult, adult_client, data, message):
    relationship = granted(adult)

    response = adult_client.post(f"/access-for-others/people/{relationship.public_id}/", data)

    assert response.status_code == 200
    assert message in page_text(response)
    relationship.refresh_from_db()
    assert relationship.scopes == ["appointments", "results"]
    assert not relationship.events.exists()
    assert not Notification.objects.exists()


def test_saving_without_a_change_writes_nothing(adult, adult_client):
    relationship = granted(adult)

    adult_client.post(f"/access-for-others/people/{relationship.public_id}/", {"scopes": ["results", "appointments"]})

    assert not relationship.events.exists()
    assert not Notification.objects.exists()


def test_a_child_under_16_cannot_change_or_take_away_a_parents_access(db):
    parental = ProxyRelationshipFactory(patient=PatientWithAccountFactory(birth_date=years_ago(12)))
    child = Client()
    child.force_login(parental.patient.user)

    page = child.get(f"/access-for-others/people/{parental.public_id}/")
    assert page.status_code == 200
    assert "managed by the hospital's helpdesk" in page_text(page)
    assert "Take away" not in page_text(page)
    assert child.post(f"/access-for-others/people/{parental.public_id}/", {"scopes": ["letters"]}).status_code == 404
    assert child.post(f"/access-for-others/people/{parental.public_id}/take-away-access/").status_code == 404
    parental.refresh_from_db()
    assert parental.status == ProxyStatus.ACTIVE


def test_a_16_year_old_may_take_away_a_parents_access_but_not_widen_it(db):
    ProxyPolicy.current()
    parental = ProxyRelationshipFactory(patient=PatientWithAccountFactory(birth_date=years_ago(16, days=10)))
    teen = Client()
    teen.force_login(parental.patient.user)

    page = page_text(teen.get(f"/access-for-others/people/{parental.public_id}/"))
    assert "What a parent or guardian can see is set by your age" in page
    assert "What can they see and do for you?" not in page
    # A posted list of parts is ignored; the end date is saved.
    teen.post(
        f"/access-for-others/people/{parental.public_id}/",
        {"scopes": ["results"], "valid_until_day": "1", "valid_until_month": "1", "valid_until_year": "2040"},
    )
    parental.refresh_from_db()
    assert parental.scopes == ["appointments", "results", "messages", "letters", "details"]
    assert parental.valid_until == datetime.date(2040, 1, 1)

    assert teen.post(f"/access-for-others/people/{parental.public_id}/take-away-access/").status_code == 302
    parental.refresh_from_db()
    assert parental.status == ProxyStatus.REVOKED


# Taking access away -------------------------------------------------------------------------------------------


def test_taking_access_away_ends_it_and_tells_both_sides_without_names(adult, adult_client):
    relationship = granted(adult)

    confirm = adult_client.get(f"/access-for-others/people/{relationship.public_id}/take-away-access/")
    assert "Take away Chris Carer's access to your record" in page_text(confirm)
    response = adult_client.post(f"/access-for-others/people/{relationship.public_id}/take-away-access/")

    assert response.status_code == 302
    relationship.refresh_from_db()
    assert relationship.status == ProxyStatus.REVOKED
    assert relationship.ended_at is not None
    event = relationship.events.get()
    assert (event.kind, event.actor, event.scopes_before) == (
        ProxyEventKind.REVOKED,
        adult.user,
        ["appointments", "results"],
    )
    told = {n.user_id: n.personalisation["change"] for n in Notification.objects.filter(kind="proxy_access_changed")}
    assert told == {
        relationship.proxy_id: "your access to someone's record was taken away",
        adult.user.pk: "someone's access to your record was taken away",
    }
    for words in told.values():
        for private in ["Eleanor", "Hargreaves", "Chris", "Carer"]:
            assert private not in words
    # Taking it away twice changes nothing more.
    adult_client.post(f"/access-for-others/people/{relationship.public_id}/take-away-access/")
    assert relationship.events.count() == 1


def test_revocation_takes_effect_on_the_proxys_next_request_in_an_open_session(adult, adult_client):
    relationship = granted(adult)
    report = DiagnosticReportFactory(patient=adult, released=True)
    proxy = Client()
    proxy.force_login(relationship.proxy)
    assert proxy.get("/home/").status_code == 200  # the patient's record is open in the proxy's session
    assert proxy.get(f"/test-results/{report.public_id}/").status_code == 200

    adult_client.post(f"/access-for-others/people/{relationship.public_id}/take-away-access/")

    # The same session, the very next request: the report is gone, and home asks whose record to open.
    assert proxy.get(f"/test-results/{report.public_id}/").status_code in {302, 404}
    home = proxy.get("/home/")
    assert home.status_code == 302
    assert home["Location"] == "/home/whose-record/"
    assert adult.full_name not in page_text(proxy.get("/home/whose-record/"))


# A proxy stopping -----------------------------------------------------------------------------------------------


def test_a_proxy_stops_acting_for_someone(adult):
    relationship = granted(adult)
    proxy = Client()
    proxy.force_login(relationship.proxy)

    assert "Stop acting for Eleanor Hargreaves" in page_text(
        proxy.get(f"/access-for-others/acting-for/{relationship.public_id}/stop/")
    )
    assert proxy.post(f"/access-for-others/acting-for/{relationship.public_id}/stop/").status_code == 302

    relationship.refresh_from_db()
    assert relationship.status == ProxyStatus.ENDED
    assert relationship.events.get().kind == ProxyEventKind.STOPPED_BY_PROXY
    told = Notification.objects.get(kind="proxy_access_changed")
    assert told.user == adult.user
    assert told.personalisation["change"] == "someone stopped acting for you"
    assert proxy.post(f"/access-for-others/acting-for/{relationship.public_id}/stop/").status_code == 404


def test_the_patient_cannot_use_the_proxys_stop_page(adult, adult_client):
    relationship = granted(adult)

    assert adult_client.post(f"/access-for-others/acting-for/{relationship.public_id}/stop/").status_code == 404
    relationship.refresh_from_db()
    assert relationship.status == ProxyStatus.ACTIVE


def test_revoked_and_ended_relationships_stay_readable_with_their_history(adult, adult_client):
    relationship = granted(adult)
    adult_client.post(f"/access-for-others/people/{relationship.public_id}/take-away-access/")

    text = page_text(adult_client.get(f"/access-for-others/people/{relationship.public_id}/"))

    assert "Access taken away" in text
    assert "Save changes" not in text
    assert ProxyRelationship.objects.get().status == "revoked"
