"""The patient's and proxy's messages pages: /messages/ and below."""

import datetime
import re
import zoneinfo
from html import unescape

import pytest
import time_machine
from django.db import connection
from django.test import Client, TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from careportal.audit.models import AccessAction, AccessEvent
from careportal.messaging.attachments import CleanFile, attachments_store
from careportal.messaging.models import (
    Attachment,
    AuthorRole,
    CorrectionRequest,
    CorrectionStatus,
    CorrectionStatusChange,
    Message,
    ReadMarker,
    ScanStatus,
    Thread,
    ThreadStatus,
    UrgentInterception,
)
from tests.accounts.factories import UserFactory
from tests.messaging.factories import MessageFactory, ThreadFactory
from tests.messaging.files import pdf, png, upload, windows_executable
from tests.patients.factories import CareRelationshipFactory, CareTeamFactory

pytestmark = pytest.mark.django_db

LONDON = zoneinfo.ZoneInfo("Europe/London")
LIST = "/messages/"
COMPOSE = "/messages/new/"
WRITE = "/messages/new/write/"
URGENT_999_111 = "In an emergency, call 999. For urgent advice, call 111 or go to 111.nhs.uk."


def at(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=LONDON)


def page_text(response) -> str:  # type: ignore[no-untyped-def]
    """The main content's words with tags removed and spaces collapsed, for sentences that span elements."""
    html = response.content.decode()
    html = html.split("<main", 1)[-1].split("</main>", 1)[0]
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def thread_url(thread) -> str:  # type: ignore[no-untyped-def]
    return reverse("messaging:thread", kwargs={"public_id": thread.public_id})


def attachment_url(attachment) -> str:  # type: ignore[no-untyped-def]
    return reverse(
        "messaging:attachment",
        kwargs={"public_id": attachment.message.thread.public_id, "attachment_id": attachment.public_id},
    )


@pytest.fixture
def team(patient):
    team = CareTeamFactory(name="Haematology", response_target_working_days=3)
    CareRelationshipFactory(patient=patient, care_team=team)
    return team


def team_replies(thread, body="Yes, keep taking them.", when=None):  # type: ignore[no-untyped-def]
    """A care team's reply, as the inbox writes it: a staff message and the thread's last team message time."""
    when = when or timezone.now()
    message = MessageFactory(
        thread=thread,
        author_role=AuthorRole.STAFF,
        author_display="Dr C Okafor, Haematology",
        body=body,
        created_at=when,
    )
    Thread.objects.filter(pk=thread.pk).update(last_team_message_at=when, status=ThreadStatus.WAITING_ON_PATIENT)
    return message


def attach(message, *, status=ScanStatus.NOT_SCANNED, name="scan.png", data=None):  # type: ignore[no-untyped-def]
    """An attachment stored the way the service stores it, without going through a form."""
    data = data if data is not None else png()
    # The file is moved into place when the transaction commits; tests run inside one that never does.
    with TestCase.captureOnCommitCallbacks(execute=True):
        stored = attachments_store(
            message=message, files=[CleanFile(display_name=name, content_type="image/png", data=data)]
        )
    attachment = stored[0]
    Attachment.objects.filter(pk=attachment.pk).update(scan_status=status)
    attachment.refresh_from_db()
    return attachment


def start_thread(client, team, *, topic="care", subject="Iron tablets", body="Should I keep taking them?", files=()):  # type: ignore[no-untyped-def]
    client.post(COMPOSE, {"care_team": str(team.public_id), "topic": topic})
    data = {"care_team": str(team.public_id), "topic": topic, "subject": subject, "body": body}
    if files:
        data["attachments"] = list(files)
    return client.post(WRITE, data)


# The list ---------------------------------------------------------------------------------------------------


def test_the_empty_list_says_what_will_appear_with_the_999_and_111_line(patient_client):
    response = patient_client.get(LIST)

    assert response.status_code == 200
    text = page_text(response)
    assert "You have no messages" in text
    assert "In an emergency, call 999" in text and "call 111" in text
    assert reverse("messaging:compose") in response.content.decode()
    assert "Write a message" in text


def test_the_list_is_latest_activity_first_with_team_subject_topic_and_date(patient, patient_client):
    older = ThreadFactory(
        patient=patient,
        care_team=CareTeamFactory(name="Cardiology"),
        subject="Blood pressure readings",
        topic="results",
        created_at=at(2026, 10, 1, 9),
        last_patient_message_at=at(2026, 10, 1, 9),
    )
    newer = ThreadFactory(
        patient=patient,
        care_team=CareTeamFactory(name="Dermatology"),
        subject="Cream",
        created_at=at(2026, 9, 1, 9),
        last_patient_message_at=at(2026, 9, 1, 9),
    )
    team_replies(newer, when=at(2026, 11, 2, 10))

    response = patient_client.get(LIST)

    html = response.content.decode()
    assert html.index("Cream") < html.index("Blood pressure readings"), "a team's reply counts as activity"
    text = page_text(response)
    assert "Dermatology" in text and "Cardiology" in text
    assert "My test results" in text
    assert "Last message 2 November 2026" in text and "Last message 1 October 2026" in text
    assert thread_url(older) in html and thread_url(newer) in html


def test_the_unread_tag_appears_after_a_team_reply_and_clears_when_read(patient, patient_client):
    thread = ThreadFactory(patient=patient, subject="Iron tablets")
    MessageFactory(thread=thread)
    assert "Unread" not in page_text(patient_client.get(LIST)), "your own message is not unread"

    team_replies(thread)
    assert "Unread" in page_text(patient_client.get(LIST))
    assert "You have 1 unread message" in page_text(patient_client.get("/home/"))

    patient_client.get(thread_url(thread))

    assert "Unread" not in page_text(patient_client.get(LIST))
    assert "You have no unread messages" in page_text(patient_client.get("/home/"))
    assert ReadMarker.objects.filter(thread=thread, user=patient.user).exists()


def test_a_proxys_reading_does_not_mark_the_thread_read_for_the_patient(proxy_relationship, proxy_client):
    child = proxy_relationship.patient
    child.user = UserFactory()
    child.save()
    thread = ThreadFactory(patient=child)
    team_replies(thread)

    proxy_client.get(thread_url(thread))

    child_client = Client()
    child_client.force_login(child.user)
    assert "Unread" not in page_text(proxy_client.get(LIST))
    assert "Unread" in page_text(child_client.get(LIST))


def test_a_correction_request_shows_its_status_in_the_list(patient, patient_client):
    thread = ThreadFactory(patient=patient, topic="correction", subject="My date of birth is wrong")
    now = timezone.now()
    CorrectionRequest.objects.create(
        thread=thread, status=CorrectionStatus.UNDER_REVIEW, created_at=now, updated_at=now
    )

    assert "Correction: under review" in page_text(patient_client.get(LIST))


def test_a_closed_conversation_says_so_in_the_list(patient, patient_client):
    ThreadFactory(patient=patient, status=ThreadStatus.DONE)

    assert "Closed" in page_text(patient_client.get(LIST))


def test_a_conversation_the_team_has_not_answered_yet_says_it_is_waiting_for_a_reply(patient, patient_client):
    import datetime

    ThreadFactory(patient=patient, status=ThreadStatus.NEW, reply_due_on=datetime.date(2026, 12, 1))
    ThreadFactory(patient=patient, status=ThreadStatus.WAITING_ON_PATIENT, reply_due_on=None)

    assert page_text(patient_client.get(LIST)).count("Waiting for a reply") == 1


def test_the_list_is_paged(patient, patient_client):
    for n in range(23):
        ThreadFactory(
            patient=patient, subject=f"Question {n:02d}", created_at=at(2026, 1, 1) + datetime.timedelta(days=n)
        )

    first = page_text(patient_client.get(LIST))
    second = page_text(patient_client.get(LIST, {"page": 2}))

    assert "Question 22" in first and "Question 03" in first and "Question 02" not in first
    assert "Question 02" in second and "Question 00" in second
    assert "Page 2 of 2" in first


def test_the_list_takes_the_same_number_of_queries_however_many_threads(
    patient, patient_client, django_assert_num_queries
):
    def add(count: int) -> None:
        for _ in range(count):
            thread = ThreadFactory(patient=patient, care_team=CareTeamFactory())
            team_replies(thread)
            now = timezone.now()
            CorrectionRequest.objects.create(thread=thread, created_at=now, updated_at=now)

    add(2)
    patient_client.get(LIST)  # the session and the viewer's first lookups are not what is measured
    with CaptureQueriesContext(connection) as two:
        patient_client.get(LIST)
    add(8)
    with django_assert_num_queries(len(two.captured_queries)):
        response = patient_client.get(LIST)
    assert page_text(response).count("Unread") == 10


def test_another_patients_threads_are_not_listed(patient_client, other_patient):
    ThreadFactory(patient=other_patient, subject="Someone else's question")

    assert "Someone else" not in page_text(patient_client.get(LIST))


# Writing a message --------------------------------------------------------------------------------------------


def test_the_first_compose_page_lists_the_patients_teams_with_their_response_targets(patient, patient_client, team):
    CareRelationshipFactory(
        patient=patient, care_team=CareTeamFactory(name="Cardiology", response_target_working_days=5)
    )
    CareTeamFactory(name="Oncology")  # not looking after this patient

    response = patient_client.get(COMPOSE)

    assert response.status_code == 200
    text = page_text(response)
    assert "Do not use messages for urgent problems. " + URGENT_999_111 in text
    assert "Haematology They aim to reply within 3 working days" in text
    assert "Cardiology They aim to reply within 5 working days" in text
    assert "Oncology" not in text
    assert "A correction to my record" in text


def test_a_patient_with_no_care_teams_is_told_why_and_what_to_do(patient_client):
    response = patient_client.get(COMPOSE)

    assert response.status_code == 200
    text = page_text(response)
    assert "You cannot send a message yet" in text
    assert "care team that is looking after you" in text
    assert "call the number on your appointment letter" in text
    assert patient_client.get(WRITE).status_code == 302


def test_the_compose_choice_must_be_made(patient_client, team):
    response = patient_client.post(COMPOSE, {})

    text = page_text(response)
    assert "Choose the care team you want to write to" in text
    assert "Choose what your message is about" in text


@pytest.mark.parametrize("step", ["choose", "write"])
def test_a_team_not_looking_after_the_patient_is_not_found(patient_client, team, step):
    stranger = CareTeamFactory(name="Oncology")
    data = {"care_team": str(stranger.public_id), "topic": "care", "body": "Hello"}

    response = patient_client.post(COMPOSE if step == "choose" else WRITE, data)

    assert response.status_code == 404
    assert not Thread.objects.exists()


def test_the_write_page_shows_the_warning_and_the_teams_target_before_the_text_box(patient_client, team):
    patient_client.post(COMPOSE, {"care_team": str(team.public_id), "topic": "appointment"})

    response = patient_client.get(WRITE)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.index("Do not use messages for urgent problems") < html.index("<textarea")
    assert html.index("They aim to reply within 3 working days") < html.index("<textarea")
    text = page_text(response)
    assert "To Haematology" in text and "About My appointment" in text
    assert 'dir="auto"' in html


@time_machine.travel(at(2026, 11, 24, 10), tick=False)
def test_a_patient_sends_a_message_and_is_told_when_to_expect_a_reply(patient, patient_client, team):
    response = start_thread(patient_client, team)

    thread = Thread.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("messaging:sent", kwargs={"public_id": thread.public_id})
    assert (thread.patient, thread.care_team, thread.subject, thread.topic) == (patient, team, "Iron tablets", "care")
    assert Message.objects.get().body == "Should I keep taking them?"
    ack = page_text(patient_client.get(response["Location"]))
    assert "We have sent your message to Haematology. They aim to reply by Friday 27 November 2026." in ack
    assert "call 999" in ack and "call 111" in ack
    assert "Haematology aims to reply by Friday 27 November 2026." in page_text(patient_client.get(thread_url(thread)))
    assert AccessEvent.objects.filter(
        patient=patient, action=AccessAction.CREATE, object_label="message thread"
    ).exists()


def test_the_choice_is_not_in_the_address(patient_client, team):
    response = start_thread(patient_client, team)

    assert str(team.public_id) not in response["Location"]
    assert "?" not in response["Location"]


def test_a_message_with_a_png_and_a_pdf_is_sent_with_both_files(
    patient, patient_client, team, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = start_thread(
            patient_client,
            team,
            files=[upload("rash.png", png(), "image/png"), upload("letter.pdf", pdf(), "application/pdf")],
        )

    assert response.status_code == 302
    attachments = list(Attachment.objects.order_by("display_name"))
    assert [(a.display_name, a.content_type) for a in attachments] == [
        ("letter.pdf", "application/pdf"),
        ("rash.png", "image/png"),
    ]
    page = patient_client.get(thread_url(Thread.objects.get()))
    assert attachment_url(attachments[0]) in page.content.decode()
    download = patient_client.get(attachment_url(attachments[0]))
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")
    assert download["X-Content-Type-Options"] == "nosniff"
    assert b"".join(download.streaming_content).startswith(b"%PDF")
    event = AccessEvent.objects.get(action=AccessAction.DOWNLOAD)
    assert event.patient == patient and event.actor == patient.user


def test_an_executable_renamed_pdf_is_refused_by_name_and_nothing_is_sent(patient_client, team):
    response = start_thread(patient_client, team, files=[upload("results.pdf", windows_executable())])

    assert response.status_code == 200
    text = page_text(response)
    assert "There is a problem" in text
    assert "‘results.pdf’ is not a" in text
    assert not Thread.objects.exists() and not Attachment.objects.exists()
    assert "Iron tablets" in response.content.decode(), "what was typed is kept for another try"
    assert "Files are not kept when there is a problem with the form" in text


@pytest.mark.parametrize("body", ["", "   \n\n  "])
def test_an_empty_message_is_an_error_and_nothing_is_sent(patient_client, team, body):
    response = start_thread(patient_client, team, body=body)

    assert response.status_code == 200
    assert "Enter your message" in page_text(response)
    assert not Thread.objects.exists()


def test_a_message_that_is_too_long_is_an_error(patient_client, team, settings):
    settings.MESSAGE_BODY_MAX_CHARACTERS = 50

    response = start_thread(patient_client, team, body="x" * 51)

    assert "Your message must be 50 characters or fewer" in page_text(response)
    assert not Thread.objects.exists()
    assert start_thread(patient_client, team, body="x" * 50).status_code == 302


def test_html_and_script_are_shown_as_text(patient_client, team):
    body = '<script>alert("hi")</script>\n<b>bold</b> & <img src=x onerror=alert(1)>'
    start_thread(patient_client, team, subject="<i>subject</i>", body=body)
    thread = Thread.objects.get()

    html = patient_client.get(thread_url(thread)).content.decode()
    listing = patient_client.get(LIST).content.decode()

    assert "<script>alert" not in html and "<img src=x" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(&#34;hi&#34;)&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;img src=x onerror=alert(1)&gt;" in html
    assert "<i>subject</i>" not in listing and "&lt;i&gt;subject&lt;/i&gt;" in listing


def test_right_to_left_text_emoji_and_line_breaks_come_back_as_typed(patient_client, team):
    body = "مرحبا، هل يمكنني تغيير موعدي؟ 🙏\nשלום\n\nThank you 👍🏽"
    start_thread(patient_client, team, subject="موعدي 📅", body=body)
    thread = Thread.objects.get()

    assert Message.objects.get().body == body
    assert thread.subject == "موعدي 📅"
    html = patient_client.get(thread_url(thread)).content.decode()
    assert '<p dir="auto">مرحبا، هل يمكنني تغيير موعدي؟ 🙏<br>שלום</p>' in html
    assert '<p dir="auto">Thank you 👍🏽</p>' in html


def test_a_correction_topic_opens_a_tracked_request(patient_client, team):
    start_thread(patient_client, team, topic="correction", subject="Wrong address")

    request = CorrectionRequest.objects.get()
    page = page_text(patient_client.get(thread_url(request.thread)))
    assert "Your request to correct your record" in page
    assert "Status: Received" in page


# Urgent-symptom interception ------------------------------------------------------------------------------------


def test_an_urgent_phrase_shows_the_urgent_care_page_and_sends_nothing(patient_client, team):
    response = start_thread(patient_client, team, body="I have had chest pains since this morning")

    assert response.status_code == 200
    text = page_text(response)
    assert "Do you need urgent help?" in text
    assert "Your message has not been sent yet" in text
    assert "Call 999" in text and "call 111" in text and "NHS 111 online" in text
    assert "https://111.nhs.uk/" in response.content.decode()
    assert "Samaritans on 116 123" in text and "free" in text
    assert "I do not need urgent help: send my message" in text
    assert "Do not send" in text
    assert not Thread.objects.exists() and not Message.objects.exists()


def test_the_interception_is_recorded_without_the_text(patient_client, team):
    start_thread(patient_client, team, subject="Help", body="I cant breathe properly at night")

    interception = UrgentInterception.objects.get()
    assert interception.phrase_text == "cant breathe"
    assert interception.care_team == team
    assert interception.author_role == AuthorRole.PATIENT
    assert interception.sent_anyway is False
    stored = " ".join(str(getattr(interception, f.attname)) for f in UrgentInterception._meta.concrete_fields)
    assert "night" not in stored and "properly" not in stored


def _send_anyway_data(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    html = response.content.decode()
    form = html[html.index('<form method="post" action="') :]
    form = form[: form.index("</form>")]
    return {
        unescape(name): unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form)
    }


def test_sending_anyway_sends_the_message_as_typed_and_marks_the_interception(patient_client, team):
    body = 'Chest pain when I climb stairs, "mild", <not urgent>\nSecond line'
    shown = start_thread(patient_client, team, body=body)
    data = _send_anyway_data(shown)
    assert data["body"] == body

    response = patient_client.post(WRITE, data)

    assert response.status_code == 302
    assert Message.objects.get().body == body
    assert UrgentInterception.objects.get().sent_anyway is True


def test_a_forged_interception_id_shows_the_urgent_page_again(patient_client, team):
    shown = start_thread(patient_client, team, body="chest pain")
    data = _send_anyway_data(shown)
    data["urgent_interception"] = str(int(data["urgent_interception"]) + 1000)

    response = patient_client.post(WRITE, data)

    assert "Do you need urgent help?" in page_text(response)
    assert not Thread.objects.exists()
    assert UrgentInterception.objects.filter(sent_anyway=True).count() == 0


def test_sending_anyway_works_once_per_interception(patient_client, team):
    shown = start_thread(patient_client, team, body="chest pain")
    data = _send_anyway_data(shown)
    patient_client.post(WRITE, data)

    again = patient_client.post(WRITE, data)

    assert "Do you need urgent help?" in page_text(again), "a resubmitted form does not skip the check"
    assert Thread.objects.count() == 1


def test_do_not_send_goes_back_to_messages_and_sends_nothing(patient_client, team):
    shown = start_thread(patient_client, team, body="I want to end my life")
    html = shown.content.decode()
    do_not_send = re.search(r'<a\s[^>]*href="([^"]+)"[^>]*>\s*Do not send', html)
    assert do_not_send is not None and do_not_send.group(1) == LIST

    listing = patient_client.get(do_not_send.group(1))

    assert "You have no messages" in page_text(listing)
    assert not Thread.objects.exists() and not Message.objects.exists()


def test_files_must_be_chosen_again_after_the_urgent_page(patient_client, team, django_capture_on_commit_callbacks):
    shown = start_thread(patient_client, team, body="chest pain", files=[upload("ecg.pdf", pdf())])
    text = page_text(shown)
    assert "Files are not kept until a message is sent" in text and "ecg.pdf" in text
    data = _send_anyway_data(shown)

    with django_capture_on_commit_callbacks(execute=True):
        patient_client.post(WRITE, {**data, "attachments": [upload("ecg.pdf", pdf())]})

    assert Attachment.objects.get().display_name == "ecg.pdf"


def test_a_refused_file_after_the_urgent_page_does_not_show_that_page_twice(patient_client, team):
    shown = start_thread(patient_client, team, body="chest pain", files=[upload("ecg.pdf", pdf())])
    data = _send_anyway_data(shown)

    refused = patient_client.post(WRITE, {**data, "attachments": [upload("ecg.pdf", windows_executable())]})

    assert "‘ecg.pdf’ is not a" in page_text(refused)
    assert not Thread.objects.exists()
    resent = patient_client.post(WRITE, _send_anyway_data(refused) | {"body": data["body"]})
    assert resent.status_code == 302
    assert UrgentInterception.objects.get().sent_anyway is True


# The thread ------------------------------------------------------------------------------------------------


def test_the_thread_shows_messages_oldest_first_and_never_internal_notes(patient, patient_client):
    thread = ThreadFactory(patient=patient, subject="Iron tablets", care_team=CareTeamFactory(name="Haematology"))
    MessageFactory(
        thread=thread, body="First, from me", author_display=patient.full_name, created_at=at(2026, 11, 2, 9)
    )
    MessageFactory(
        thread=thread,
        body="Internal: check ferritin first",
        author_role=AuthorRole.STAFF,
        is_internal_note=True,
        created_at=at(2026, 11, 2, 10),
    )
    team_replies(thread, body="Second, from the team", when=at(2026, 11, 3, 14, 5))

    response = patient_client.get(thread_url(thread))

    text = page_text(response)
    assert text.index("First, from me") < text.index("Second, from the team")
    assert "ferritin" not in text and "Internal" not in text
    assert "Dr C Okafor, Haematology" in text
    assert "3 November 2026 at 14:05" in text
    assert "Haematology aims to reply within 3 working days" in text
    assert "Do not use messages for urgent problems" in text


def test_the_thread_shows_held_and_blocked_files_without_a_link(patient, patient_client):
    thread = ThreadFactory(patient=patient)
    message = MessageFactory(thread=thread)
    held = attach(message, status=ScanStatus.PENDING, name="held.png")
    blocked = attach(message, status=ScanStatus.INFECTED, name="blocked.png")
    ready = attach(message, status=ScanStatus.CLEAN, name="ready.png")

    response = patient_client.get(thread_url(thread))

    html, text = response.content.decode(), page_text(response)
    assert "held.png" in text and "Waiting for a virus check" in text
    assert "blocked.png" in text and "This file was blocked" in text
    assert attachment_url(held) not in html and attachment_url(blocked) not in html
    assert attachment_url(ready) in html
    assert patient_client.get(attachment_url(held)).status_code == 404
    assert patient_client.get(attachment_url(blocked)).status_code == 404
    assert patient_client.get(attachment_url(ready)).status_code == 200


def test_a_file_on_an_internal_note_cannot_be_downloaded(patient, patient_client):
    thread = ThreadFactory(patient=patient)
    note = MessageFactory(thread=thread, author_role=AuthorRole.STAFF, is_internal_note=True)

    assert patient_client.get(attachment_url(attach(note))).status_code == 404


def test_an_attachment_id_with_another_thread_is_not_found(patient, patient_client):
    attachment = attach(MessageFactory(thread=ThreadFactory(patient=patient)))
    other_thread = ThreadFactory(patient=patient)
    url = reverse(
        "messaging:attachment", kwargs={"public_id": other_thread.public_id, "attachment_id": attachment.public_id}
    )

    assert patient_client.get(url).status_code == 404


def test_a_correction_request_shows_its_outcome_and_history(patient, patient_client):
    thread = ThreadFactory(patient=patient, topic="correction", subject="Wrong allergy")
    MessageFactory(thread=thread)
    request = CorrectionRequest.objects.create(
        thread=thread,
        status=CorrectionStatus.CORRECTED,
        outcome="We removed penicillin from your allergies.",
        created_at=at(2026, 11, 2, 9),
        updated_at=at(2026, 11, 4, 9),
    )
    for status, when, note in [
        (CorrectionStatus.RECEIVED, at(2026, 11, 2, 9), ""),
        (CorrectionStatus.UNDER_REVIEW, at(2026, 11, 3, 9), "Checking with your GP"),
        (CorrectionStatus.CORRECTED, at(2026, 11, 4, 9), "We removed penicillin from your allergies."),
    ]:
        CorrectionStatusChange.objects.create(
            request=request, status=status, note=note, changed_by_display="Dr C Okafor, Haematology", changed_at=when
        )

    text = page_text(patient_client.get(thread_url(thread)))

    assert "Status: Corrected" in text
    assert "The team has corrected your record" in text
    assert "We removed penicillin from your allergies." in text
    assert text.index("Received on 2 November 2026") < text.index("Under review on 3 November 2026")
    assert "Checking with your GP" in text


def test_the_thread_page_takes_the_same_number_of_queries_however_many_messages(
    patient, patient_client, django_assert_num_queries
):
    thread = ThreadFactory(patient=patient, topic="correction")
    now = timezone.now()
    request = CorrectionRequest.objects.create(thread=thread, created_at=now, updated_at=now)

    def add(count: int) -> None:
        for _ in range(count):
            attach(MessageFactory(thread=thread))
            team_replies(thread)
            CorrectionStatusChange.objects.create(request=request, status="received", changed_at=timezone.now())

    add(1)
    patient_client.get(thread_url(thread))  # the read marker exists from here on, as it will on the next visit
    with CaptureQueriesContext(connection) as small:
        patient_client.get(thread_url(thread))
    add(6)
    with django_assert_num_queries(len(small.captured_queries)):
        patient_client.get(thread_url(thread))


def test_a_reply_is_sent_and_acknowledged(patient, patient_client, team):
    thread = ThreadFactory(patient=patient, care_team=team)
    MessageFactory(thread=thread)
    team_replies(thread)

    response = patient_client.post(thread_url(thread), {"body": "Thank you, that helps."})

    assert response.status_code == 302
    assert response["Location"] == reverse("messaging:sent", kwargs={"public_id": thread.public_id})
    assert thread.messages.order_by("-created_at").first().body == "Thank you, that helps."
    thread.refresh_from_db()
    assert thread.status == ThreadStatus.NEW and thread.reply_due_on is not None
    assert "We have sent your message to Haematology. They aim to reply by" in page_text(
        patient_client.get(response["Location"])
    )


def test_an_empty_reply_is_an_error_on_the_thread_page(patient, patient_client, team):
    thread = ThreadFactory(patient=patient, care_team=team)
    MessageFactory(thread=thread)

    response = patient_client.post(thread_url(thread), {"body": " "})

    assert response.status_code == 200
    assert "Enter your reply" in page_text(response)
    assert thread.messages.count() == 1


def test_an_urgent_reply_shows_the_urgent_page_and_can_be_sent_anyway(patient, patient_client, team):
    thread = ThreadFactory(patient=patient, care_team=team)
    MessageFactory(thread=thread)

    shown = patient_client.post(thread_url(thread), {"body": "Now I have slurred speech"})

    assert "Do you need urgent help?" in page_text(shown)
    assert thread.messages.count() == 1
    data = _send_anyway_data(shown)
    assert patient_client.post(thread_url(thread), data).status_code == 302
    assert thread.messages.count() == 2
    assert UrgentInterception.objects.get().sent_anyway is True


def test_another_patients_thread_attachment_and_acknowledgement_are_not_found(patient_client, other_patient):
    thread = ThreadFactory(patient=other_patient)
    attachment = attach(MessageFactory(thread=thread))

    for url in (
        thread_url(thread),
        attachment_url(attachment),
        reverse("messaging:sent", kwargs={"public_id": thread.public_id}),
    ):
        assert patient_client.get(url).status_code == 404, url
    assert patient_client.post(thread_url(thread), {"body": "Hello"}).status_code == 404
    assert thread.messages.count() == 1
    assert AccessEvent.objects.filter(action=AccessAction.DENIED).count() == 4


def test_each_read_is_audited(patient, patient_client):
    thread = ThreadFactory(patient=patient)
    attachment = attach(MessageFactory(thread=thread))

    patient_client.get(LIST)
    patient_client.get(thread_url(thread))
    patient_client.get(attachment_url(attachment))

    events = AccessEvent.objects.filter(patient=patient, actor=patient.user)
    assert events.filter(action=AccessAction.VIEW, object_label="messages").count() == 1
    opened = events.filter(action=AccessAction.VIEW, object_label="message thread")
    assert opened.get().object_id == str(thread.public_id)
    download = events.get(action=AccessAction.DOWNLOAD)
    assert download.object_id == str(attachment.public_id)


# Proxies ------------------------------------------------------------------------------------------------------


def test_a_proxy_writes_on_behalf_of_the_child_and_it_says_so(proxy_relationship, proxy_client):
    child = proxy_relationship.patient
    team = CareTeamFactory(name="Paediatrics")
    CareRelationshipFactory(patient=child, care_team=team)
    proxy = proxy_relationship.proxy
    proxy.display_name = "Priya Patel"
    proxy.save()

    listing = page_text(proxy_client.get(LIST))
    response = start_thread(proxy_client, team, body="Her rash is back")

    assert child.full_name in listing
    assert response.status_code == 302
    message = Message.objects.get()
    assert message.author_role == AuthorRole.PROXY
    page = page_text(proxy_client.get(thread_url(message.thread)))
    assert f"(mother) on behalf of {child.full_name}" in page
    assert f"{child.full_name}" in page
    assert "A question about their care" in page


def test_a_proxy_chooses_the_topic_in_the_third_person(proxy_relationship, proxy_client):
    child = proxy_relationship.patient
    CareRelationshipFactory(patient=child, care_team=CareTeamFactory(name="Paediatrics"))

    page = page_text(proxy_client.get(reverse("messaging:compose")))

    assert "A question about their care" in page and "A correction to their record" in page
    assert "my care" not in page


def test_a_proxy_reads_the_topics_of_the_childs_threads_in_the_third_person(
    proxy_relationship, proxy_client, patient, patient_client
):
    ThreadFactory(patient=proxy_relationship.patient, topic="care")
    ThreadFactory(patient=patient, topic="care")

    proxy_list = page_text(proxy_client.get(LIST))
    assert "A question about their care" in proxy_list and "my care" not in proxy_list
    assert "A question about my care" in page_text(patient_client.get(LIST))


def test_a_proxy_urgent_interception_is_recorded_as_a_proxys(proxy_relationship, proxy_client):
    team = CareTeamFactory(name="Paediatrics")
    CareRelationshipFactory(patient=proxy_relationship.patient, care_team=team)

    start_thread(proxy_client, team, body="She had a seizure")

    assert UrgentInterception.objects.get().author_role == AuthorRole.PROXY


def test_a_proxy_without_the_messages_scope_gets_404_and_no_card_or_navigation(proxy_relationship, proxy_client):
    proxy_relationship.scopes = ["appointments", "results"]
    proxy_relationship.save()
    child = proxy_relationship.patient
    team = CareTeamFactory()
    CareRelationshipFactory(patient=child, care_team=team)
    thread = ThreadFactory(patient=child, care_team=team)
    attachment = attach(MessageFactory(thread=thread))

    for url in (LIST, COMPOSE, WRITE, thread_url(thread), attachment_url(attachment)):
        assert proxy_client.get(url).status_code == 404, url
    assert start_thread(proxy_client, team).status_code == 404
    assert Thread.objects.count() == 1
    home = proxy_client.get("/home/").content.decode()
    assert LIST not in home and ">Messages<" not in home


# Home -------------------------------------------------------------------------------------------------------


def test_home_links_to_messages_and_counts_unread_without_content(patient, patient_client):
    for subject in ("Iron tablets", "Scan results"):
        thread = ThreadFactory(patient=patient, subject=subject)
        team_replies(thread, body="Your ferritin is 12")

    response = patient_client.get("/home/")

    text, html = page_text(response), response.content.decode()
    assert "You have 2 unread messages" in text
    assert f'href="{LIST}"' in html
    assert "Iron tablets" not in text and "ferritin" not in text


def test_home_keeps_the_empty_state_without_messages(patient_client):
    text = page_text(patient_client.get("/home/"))

    assert "You have no messages" in text


def test_a_topic_reads_in_the_first_person_for_the_patient_and_the_third_for_anyone_else():
    from careportal.messaging.presenters import topic_label

    assert topic_label("care", first_person=True) == "A question about my care"
    assert topic_label("care", first_person=False) == "A question about their care"
    assert topic_label("correction", first_person=False) == "A correction to their record"
    assert topic_label("not-a-topic", first_person=False) == ""
