"""Messages with a care team in a sensitive category (sexual health, HIV, genetics, mental health, safeguarding): a
proxy without the grant neither sees the conversation (not in the list, not by its id, not its files, not counted
on the home page), nor can write to the team, nor is told when it writes; the patient and a proxy granted the
category are. The same rule as for the team's letters and appointments (docs/access-and-audit.md)."""

import datetime
import html

import pytest
from django.test import Client
from django.urls import reverse

from careportal.messaging import services
from careportal.messaging.models import Thread
from careportal.notifications.models import Notification
from tests.messaging.test_services import clinician_viewer_for, patient_side_viewer
from tests.patients.factories import (
    CareRelationshipFactory,
    CareTeamFactory,
    CareTeamMembershipFactory,
    PatientWithAccountFactory,
)
from tests.proxy.factories import ProxyRelationshipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def clinic():
    return CareTeamFactory(name="Sexual health clinic", sensitive_category="sexual_health")


@pytest.fixture
def child(clinic):
    patient = PatientWithAccountFactory(given_name="Arjun", birth_date=datetime.date(2014, 3, 1))
    CareRelationshipFactory(patient=patient, care_team=clinic)
    return patient


@pytest.fixture
def mother(child):
    return ProxyRelationshipFactory(patient=child, valid_from=datetime.date(2014, 3, 1))


@pytest.fixture
def granted(child):
    return ProxyRelationshipFactory(
        patient=child, valid_from=datetime.date(2014, 3, 1), sensitive_categories_granted=["sexual_health"]
    )


@pytest.fixture
def thread(child, clinic):
    staff = clinician_viewer_for(CareTeamMembershipFactory(care_team=clinic).user)
    return services.thread_start_by_staff(
        viewer=staff,
        patient=child,
        care_team=clinic,
        topic="care",
        subject="Your test",
        body="Please call us.",
        files=[],
    )


def client_for(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.content.decode())


def test_a_proxy_without_the_grant_is_not_told_of_the_teams_message(mother, granted, thread, child):
    told = set(Notification.objects.values_list("to_address", flat=True))

    assert told == {child.user.email, granted.proxy.email}
    assert mother.proxy.email not in told


def test_a_proxy_without_the_grant_neither_sees_nor_counts_the_conversation(mother, thread):
    client = client_for(mother.proxy)

    assert "Sexual health" not in text(client.get(reverse("messaging:list")))
    assert client.get(reverse("messaging:thread", kwargs={"public_id": thread.public_id})).status_code == 404
    assert "Sexual health" not in text(client.get(reverse("home:home")))


def test_a_proxy_with_the_grant_and_the_patient_see_it(granted, thread, child):
    for user in (granted.proxy, child.user):
        client = client_for(user)
        assert "Sexual health clinic" in text(client.get(reverse("messaging:list")))
        assert client.get(reverse("messaging:thread", kwargs={"public_id": thread.public_id})).status_code == 200


def test_a_proxy_without_the_grant_is_not_offered_the_team_and_cannot_write_to_it(mother, clinic, child):
    other = CareTeamFactory(name="Paediatrics")
    CareRelationshipFactory(patient=child, care_team=other)
    client = client_for(mother.proxy)

    compose = text(client.get(reverse("messaging:compose")))
    forged = client.post(
        reverse("messaging:compose-write"),
        {"care_team": str(clinic.public_id), "topic": "care", "subject": "Hello", "body": "A question"},
    )

    assert "Paediatrics" in compose and "Sexual health" not in compose
    assert forged.status_code == 404
    assert not Thread.objects.exists()
    # The service refuses it too, whoever calls it.
    with pytest.raises(services.MessagingError):
        services.thread_start_by_patient(
            viewer=patient_side_viewer(mother.proxy, child),
            care_team=clinic,
            topic="care",
            subject="Hello",
            body="A question",
            files=[],
        )
    assert not Thread.objects.exists()
