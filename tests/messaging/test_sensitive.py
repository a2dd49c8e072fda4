"""Messages with a care team in a sensitive category (sexual health, HIV, genetics, mental health, safeguarding): a
proxy without the grant neither sees the thread, nor reaches it by id, nor counts it, nor is offered the team to
write to, nor is told of a reply; a request about an appointment at a sensitive clinic is as sensitive as the
appointment. The patient always sees everything, and a proxy with the grant sees it too."""

import datetime
import html
import re
import uuid

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from careportal.appointments.services import appointment_change_request
from careportal.audit.models import AccessEvent
from careportal.home.presenters import home_cards
from careportal.messaging import services
from careportal.messaging.selectors import thread_counts
from careportal.notifications.models import Notification
from tests.appointments.factories import AppointmentFactory, ClinicFactory
from tests.messaging.factories import MessageFactory, ThreadFactory
from tests.messaging.test_services import clinician_viewer_for, patient_side_viewer
from tests.patients.factories import (
    CareRelationshipFactory,
    CareTeamFactory,
    CareTeamMembershipFactory,
    PatientWithAccountFactory,
)
from tests.proxy.factories import ProxyRelationshipFactory

pytestmark = pytest.mark.django_db

SUBJECT = "About the clinic visit"


@pytest.fixture
def child():
    return PatientWithAccountFactory(
        given_name="Arjun", family_name="Patel", birth_date=datetime.date(2015, 6, 1), user__first_name="Arjun"
    )


@pytest.fixture
def ordinary(child):
    team = CareTeamFactory(name="Paediatric urology")
    CareRelationshipFactory(patient=child, care_team=team)
    return team


@pytest.fixture
def sensitive(child):
    team = CareTeamFactory(name="Sexual health clinic", sensitive_category="sexual_health")
    CareRelationshipFactory(patient=child, care_team=team)
    return team


@pytest.fixture
def mother(child):
    return ProxyRelationshipFactory(patient=child, proxy__first_name="Priya", valid_from=child.birth_date)


@pytest.fixture
def granted(child):
    return ProxyRelationshipFactory(
        patient=child,
        proxy__first_name="Gran",
        relationship="grandmother",
        basis="granted",
        sensitive_categories_granted=["sexual_health"],
        valid_from=child.birth_date,
    )


@pytest.fixture
def threads(child, ordinary, sensitive):
    # Each with a reply from the team that nobody has read yet.
    replied = {"last_team_message_at": timezone.now()}
    plain = MessageFactory(
        thread=ThreadFactory(patient=child, care_team=ordinary, subject="Bladder diary", **replied)
    ).thread
    hidden = MessageFactory(thread=ThreadFactory(patient=child, care_team=sensitive, subject=SUBJECT, **replied)).thread
    return plain, hidden


def client_for(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode()))


def test_the_list_hides_the_sensitive_thread_from_a_proxy_without_the_grant(child, mother, threads):
    page = text(client_for(mother.proxy).get(reverse("messaging:list")))

    assert "Bladder diary" in page
    assert SUBJECT not in page
    assert "Sexual health" not in page


def test_the_patient_and_a_proxy_with_the_grant_see_both(child, granted, threads):
    for user in (child.user, granted.proxy):
        page = text(client_for(user).get(reverse("messaging:list")))
        assert "Bladder diary" in page and SUBJECT in page


def test_the_thread_its_sent_page_and_its_files_are_not_found_for_a_proxy_without_the_grant(child, mother, threads):
    from careportal.messaging.models import Attachment

    _, hidden = threads
    attachment = Attachment.objects.create(
        message=hidden.messages.first(),
        stored_name=uuid.uuid4().hex,
        display_name="scan.png",
        content_type="image/png",
        size=10,
        sha256="0" * 64,
        scan_status="clean",
        created_at=timezone.now(),
    )
    client = client_for(mother.proxy)
    for url in (
        reverse("messaging:thread", args=[hidden.public_id]),
        reverse("messaging:sent", args=[hidden.public_id]),
        reverse("messaging:attachment", args=[hidden.public_id, attachment.public_id]),
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert SUBJECT not in response.content.decode()
    assert AccessEvent.objects.filter(actor=mother.proxy, action="denied").count() == 3
    # A reply to it is refused the same way, and nothing is written.
    response = client.post(reverse("messaging:thread", args=[hidden.public_id]), {"body": "Hello"})
    assert response.status_code == 404
    assert hidden.messages.count() == 1


def test_a_proxy_with_the_grant_opens_the_sensitive_thread(granted, threads):
    _, hidden = threads
    assert client_for(granted.proxy).get(reverse("messaging:thread", args=[hidden.public_id])).status_code == 200


def test_counts_on_the_home_page_leave_the_sensitive_thread_out(child, mother, granted, threads):
    assert thread_counts(viewer=patient_side_viewer(child.user, child)) == (2, 2)
    assert thread_counts(viewer=patient_side_viewer(granted.proxy, child)) == (2, 2)
    proxy_viewer = patient_side_viewer(mother.proxy, child)
    assert thread_counts(viewer=proxy_viewer) == (1, 1)
    messages_card = next(card for card in home_cards(proxy_viewer) if card.heading == "Messages")
    assert messages_card.description == "Arjun has 1 unread message."


def test_compose_does_not_offer_a_sensitive_team_to_a_proxy_without_the_grant(child, mother, granted, threads):
    page = text(client_for(mother.proxy).get(reverse("messaging:compose")))
    assert "Paediatric urology" in page
    assert "Sexual health clinic" not in page

    assert "Sexual health clinic" in text(client_for(granted.proxy).get(reverse("messaging:compose")))
    assert "Sexual health clinic" in text(client_for(child.user).get(reverse("messaging:compose")))


def test_a_forged_choice_of_a_sensitive_team_is_not_found_and_writes_nothing(child, mother, ordinary, sensitive):
    client = client_for(mother.proxy)
    response = client.post(reverse("messaging:compose"), {"care_team": str(sensitive.public_id), "topic": "care"})
    assert response.status_code == 404

    response = client.post(
        reverse("messaging:compose-write"),
        {"care_team": str(sensitive.public_id), "topic": "care", "subject": "Hi", "body": "Hello"},
    )
    assert response.status_code == 404
    assert not sensitive.message_threads.exists()


def test_the_service_refuses_a_proxy_writing_to_a_sensitive_team_in_the_usual_words(child, mother, sensitive):
    with pytest.raises(services.MessagingError, match="You can only write to a care team that is looking after you"):
        services.thread_start_by_patient(
            viewer=patient_side_viewer(mother.proxy, child),
            care_team=sensitive,
            topic="care",
            subject="Hi",
            body="Hello",
            files=[],
        )
    assert not sensitive.message_threads.exists()


def test_a_reply_from_a_sensitive_team_is_not_told_to_a_proxy_without_the_grant(child, mother, granted, sensitive):
    staff = clinician_viewer_for(CareTeamMembershipFactory(care_team=sensitive).user)
    thread = services.thread_start_by_patient(
        viewer=patient_side_viewer(child.user, child),
        care_team=sensitive,
        topic="care",
        subject="Hi",
        body="Hello",
        files=[],
    )

    services.thread_reply_by_staff(viewer=staff, thread=thread, body="Reply", files=[])

    told = set(Notification.objects.filter(kind="new_message").values_list("user_id", flat=True))
    assert told == {child.user.pk, granted.proxy.pk}


def test_a_reply_from_an_ordinary_team_is_told_to_every_proxy_with_messages(child, mother, granted, ordinary):
    staff = clinician_viewer_for(CareTeamMembershipFactory(care_team=ordinary).user)

    services.thread_start_by_staff(
        viewer=staff, patient=child, care_team=ordinary, topic="care", subject="", body="Hello", files=[]
    )

    told = set(Notification.objects.filter(kind="new_message").values_list("user_id", flat=True))
    assert told == {child.user.pk, mother.proxy.pk, granted.proxy.pk}


def test_a_team_marked_sensitive_later_hides_its_old_threads(child, mother, ordinary, threads):
    plain, _ = threads
    ordinary.sensitive_category = "mental_health"
    ordinary.save()

    assert client_for(mother.proxy).get(reverse("messaging:thread", args=[plain.public_id])).status_code == 404


def test_a_request_about_an_appointment_at_a_sensitive_clinic_is_hidden_from_a_proxy(child, mother, ordinary):
    # The clinic is sensitive, its team is not: the request names the clinic, so it is as sensitive as the clinic.
    clinic = ClinicFactory(care_team=ordinary, sensitive_category="hiv", patient_name="Florence clinic")
    appointment = AppointmentFactory(
        patient=child, clinic=clinic, care_team=ordinary, sensitive_category="hiv", external_id="APT-S1"
    )

    thread = appointment_change_request(
        viewer=patient_side_viewer(child.user, child), appointment=appointment, action="cancel", reason="Away"
    )

    assert thread.sensitive_category == "hiv"
    proxy = client_for(mother.proxy)
    assert proxy.get(reverse("messaging:thread", args=[thread.public_id])).status_code == 404
    assert "Florence" not in text(proxy.get(reverse("messaging:list")))
    assert thread_counts(viewer=patient_side_viewer(mother.proxy, child)) == (0, 0)
    # The team's reply tells the patient, not the proxy.
    staff = clinician_viewer_for(CareTeamMembershipFactory(care_team=ordinary).user)
    services.thread_reply_by_staff(viewer=staff, thread=thread, body="Cancelled", files=[])
    told = set(Notification.objects.filter(kind="new_message").values_list("user_id", flat=True))
    assert told == {child.user.pk}
