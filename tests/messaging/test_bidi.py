"""Bidirectional controls in what people type (issue 10): a right-to-left override (U+202E) and its kin are removed
from message bodies, subjects and urgent-phrase categories on the way in (careportal/core/text.py), any saved
before that are dropped on the way out, and typed text is shown in an isolated element (dir="auto" or <bdi>), so it
cannot reorder the page around it. Right-to-left writing itself (Arabic, Hebrew) is kept exactly."""

import re

import pytest
from django.urls import reverse

from careportal.messaging.models import Message, Thread, UrgentPhrase
from tests.messaging.factories import MessageFactory, ThreadFactory
from tests.patients.factories import CareRelationshipFactory, CareTeamFactory

pytestmark = pytest.mark.django_db

COMPOSE = "/messages/new/"
WRITE = "/messages/new/write/"
PHRASES = reverse("messaging:urgent-phrases")
RLO = "\u202e"
CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


@pytest.fixture
def team(patient):
    team = CareTeamFactory(name="Haematology")
    CareRelationshipFactory(patient=patient, care_team=team)
    return team


def _send(client, team, *, subject: str, body: str):  # type: ignore[no-untyped-def]
    client.post(COMPOSE, {"care_team": str(team.public_id), "topic": "care"})
    return client.post(WRITE, {"care_team": str(team.public_id), "topic": "care", "subject": subject, "body": body})


def _patient_thread_url(thread: Thread) -> str:
    return reverse("messaging:thread", kwargs={"public_id": thread.public_id})


def test_a_right_to_left_override_in_a_body_and_subject_is_not_saved(patient_client, team):
    response = _send(
        patient_client, team, subject=f"Invoice {RLO}fdp.exe", body=f"Please see{RLO} the letter\u2066x\u2069"
    )
    assert response.status_code == 302

    thread = Thread.objects.get()
    assert thread.subject == "Invoice fdp.exe"
    assert Message.objects.get().body == "Please see the letterx"


def test_the_body_and_subject_are_shown_inside_isolated_elements(patient_client, team):
    _send(patient_client, team, subject=f"Invoice {RLO}fdp.exe", body=f"Please see{RLO} the letter")
    thread = Thread.objects.get()

    html = patient_client.get(_patient_thread_url(thread)).content.decode()
    assert RLO not in html
    assert '<h1 dir="auto">Invoice fdp.exe</h1>' in html
    assert '<p dir="auto">Please see the letter</p>' in html
    listing = patient_client.get("/messages/").content.decode()
    assert re.search(r'<a href="[^"]+" dir="auto">Invoice fdp.exe</a>', listing)


def test_text_saved_before_the_fix_is_shown_without_its_controls(patient, patient_client, team):
    # A thread written straight to the database, as one saved before the forms removed the controls.
    thread = ThreadFactory(patient=patient, care_team=team, subject=f"Old {RLO}subject")
    MessageFactory(thread=thread, body=f"Old{CONTROLS} body")
    html = patient_client.get(_patient_thread_url(thread)).content.decode()
    assert '<p dir="auto">Old body</p>' in html
    listing = patient_client.get("/messages/").content.decode()
    assert "Old subject" in listing and RLO not in listing


def test_the_staff_inbox_and_thread_isolate_and_strip_typed_text(clinician_membership, clinician_client, patient):
    thread = ThreadFactory(patient=patient, care_team=clinician_membership.care_team, subject=f"Staff {RLO}view")
    MessageFactory(thread=thread, body=f"Body{RLO} here", author_display="سارة أحمد")

    inbox = clinician_client.get(reverse("messaging:inbox")).content.decode()
    assert RLO not in inbox
    assert re.search(r'<a href="[^"]+" dir="auto">Staff view</a>', inbox)

    html = clinician_client.get(reverse("messaging:inbox-thread", kwargs={"thread_id": thread.public_id})).content
    html = html.decode()
    assert RLO not in html
    assert '<h1 dir="auto">Staff view</h1>' in html
    assert '<div dir="auto" class="careportal-typed-text"><p>Body here</p></div>' in html
    assert "<bdi>سارة أحمد</bdi>" in html


def test_a_staff_reply_loses_its_override(clinician_membership, clinician_client, patient):
    thread = ThreadFactory(patient=patient, care_team=clinician_membership.care_team)
    url = reverse("messaging:inbox-thread-reply", kwargs={"thread_id": thread.public_id})
    response = clinician_client.post(url, {"reply-body": f"Take{RLO} two a day"})
    assert response.status_code == 302
    assert Message.objects.get(thread=thread).body == "Take two a day"


def test_an_override_alone_is_an_empty_message(patient_client, team):
    response = _send(patient_client, team, subject="Hello", body=f"{RLO}\u2066  \u2069")
    assert "Enter your message" in response.content.decode()
    assert not Message.objects.exists()


def test_arabic_and_hebrew_are_saved_and_shown_as_typed_marks_included(patient_client, team):
    # The right-to-left mark (U+200F) placing the question mark is part of ordinary Arabic typing: kept.
    body = "مرحبا، هل يمكنني تغيير موعدي\u200f؟\nשלום"
    _send(patient_client, team, subject="موعدي", body=body)
    thread = Thread.objects.get()
    assert Message.objects.get().body == body
    assert thread.subject == "موعدي"
    html = patient_client.get(_patient_thread_url(thread)).content.decode()
    assert '<p dir="auto">مرحبا، هل يمكنني تغيير موعدي\u200f؟<br>שלום</p>' in html
    assert '<h1 dir="auto">موعدي</h1>' in html


def test_a_phrase_category_loses_its_controls_and_is_shown_isolated(helpdesk_client):
    response = helpdesk_client.post(
        PHRASES, {"add-phrase": "lips turning grey", "add-category": f"{RLO}breathing\u2066 \u2069problems\u202c"}
    )
    assert response.status_code == 302
    assert UrgentPhrase.objects.get(phrase="lips turning grey").category == "breathing problems"
    html = helpdesk_client.get(PHRASES).content.decode()
    assert "<bdi>Breathing problems</bdi>" in html
    assert "<bdi>lips turning grey</bdi>" in html


def test_a_category_saved_with_an_override_before_the_fix_is_shown_without_it(helpdesk_client):
    UrgentPhrase.objects.create(phrase="blue lips", category=f"breath{RLO}ing")
    html = helpdesk_client.get(PHRASES).content.decode()
    assert RLO not in html
    assert "<bdi>Breathing</bdi>" in html


def test_an_arabic_category_is_kept(helpdesk_client):
    response = helpdesk_client.post(PHRASES, {"add-phrase": "ألم في الصدر", "add-category": "ألم الصدر"})
    assert response.status_code == 302
    assert UrgentPhrase.objects.get(phrase="ألم في الصدر").category == "ألم الصدر"
    assert "<bdi>ألم الصدر</bdi>" in helpdesk_client.get(PHRASES).content.decode()


def test_a_helpdesk_reason_loses_its_override_and_the_account_history_isolates_it(helpdesk_client, patient):
    from careportal.accounts.models import AccountEvent

    url = reverse("helpdesk:account-unlock", kwargs={"account_id": patient.user.public_id})
    assert helpdesk_client.post(url, {"reason": f"Called{RLO} the helpdesk; قفل"}).status_code == 302
    assert AccountEvent.objects.get(user=patient.user, kind="unlocked").reason == "Called the helpdesk; قفل"

    page = helpdesk_client.get(reverse("helpdesk:account", kwargs={"account_id": patient.user.public_id}))
    html = page.content.decode()
    assert RLO not in html
    assert "<bdi>Called the helpdesk; قفل</bdi>" in html
