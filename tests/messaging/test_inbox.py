"""The care teams' message inbox (/staff/messages/): the list and its tabs, a thread's page and its actions,
starting a thread with a patient, and the urgent-phrase list. Who may not see it: another team's clinician, the
helpdesk, patients and proxies — all get 404, and every refusal is audited."""

import datetime
import io
import re
import zoneinfo
from html import unescape

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from careportal.audit.models import AccessAction, AccessEvent
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
    Topic,
    UrgentInterception,
    UrgentPhrase,
)
from careportal.notifications.models import Notification
from tests.accounts.factories import UserFactory
from tests.messaging.factories import MessageFactory, ThreadFactory
from tests.patients.factories import (
    CareRelationshipFactory,
    CareTeamFactory,
    CareTeamMembershipFactory,
    PatientFactory,
)

pytestmark = pytest.mark.django_db

LONDON = zoneinfo.ZoneInfo("Europe/London")
INBOX = reverse("messaging:inbox")
START = reverse("messaging:inbox-start")
PHRASES = reverse("messaging:urgent-phrases")
ACTIONS = [
    "messaging:inbox-thread-reply",
    "messaging:inbox-thread-note",
    "messaging:inbox-thread-assign",
    "messaging:inbox-thread-close",
    "messaging:inbox-thread-reopen",
    "messaging:inbox-thread-correction",
]
# A Wednesday in term time, with no bank holiday near it.
WEDNESDAY = datetime.datetime(2026, 11, 25, 10, 0, tzinfo=LONDON)


def thread_url(thread: Thread, name: str = "messaging:inbox-thread") -> str:
    return reverse(name, kwargs={"thread_id": thread.public_id})


def attachment_url(thread: Thread, attachment: Attachment) -> str:
    return reverse(
        "messaging:inbox-attachment", kwargs={"thread_id": thread.public_id, "attachment_id": attachment.public_id}
    )


@pytest.fixture
def team(clinician_membership):
    return clinician_membership.care_team


@pytest.fixture
def clinician(clinician_membership):
    return clinician_membership.user


@pytest.fixture(autouse=True)
def _private_attachments(settings, tmp_path):
    # Stored files go to a folder of this test's own, never the developer's var/private/.
    settings.MESSAGE_ATTACHMENT_ROOT = tmp_path / "attachments"


def _thread(team, *, body: str = "Should I keep taking my iron tablets?", **kwargs) -> Thread:  # type: ignore[no-untyped-def]
    thread = ThreadFactory(care_team=team, **kwargs)
    MessageFactory(thread=thread, body=body, created_at=thread.created_at)
    return thread


def _text(response) -> str:  # type: ignore[no-untyped-def]
    # What a reader sees: entities decoded ("&#39;" is an apostrophe), whitespace collapsed.
    return unescape(re.sub(r"\s+", " ", response.content.decode()))


def _without_per_request_tokens(text: str) -> str:
    # The CSP nonce and CSRF token differ on every response by design.
    text = re.sub(r'nonce="[^"]*"', 'nonce=""', text)
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', 'name="csrfmiddlewaretoken" value=""', text)


def _order(response, names: list[str]) -> list[str]:  # type: ignore[no-untyped-def]
    html = response.content.decode()
    return sorted(names, key=html.index)


def _png(name: str = "rash.png") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def _stored_attachment(message: Message, *, name: str = "letter.pdf", scan_status: str = ScanStatus.CLEAN):  # type: ignore[no-untyped-def]
    import uuid

    return Attachment.objects.create(
        message=message,
        stored_name=uuid.uuid4().hex,
        display_name=name,
        content_type="application/pdf",
        size=2048,
        sha256="0" * 64,
        scan_status=scan_status,
        created_at=timezone.now(),
    )


# The list ----------------------------------------------------------------------------------------------------


def test_the_inbox_lists_the_teams_threads_with_patient_name_and_hospital_number(clinician_client, team):
    patient = PatientFactory(given_name="Ada", family_name="Lovelace", hospital_number="40012345")
    _thread(team, patient=patient, subject="Iron tablets", topic=Topic.RESULTS)
    _thread(CareTeamFactory(name="Cardiology"), subject="Chest monitor", patient=PatientFactory(family_name="Zed"))

    response = clinician_client.get(INBOX)

    text = _text(response)
    assert response.status_code == 200
    assert "Ada Lovelace" in text
    assert "Hospital number 40012345" in text
    assert "Iron tablets" in text
    assert "Their test results" in text, "the team reads the topic in the third person"
    assert "Nobody yet" in text
    assert "Chest monitor" not in text
    assert "Zed" not in text


@time_machine.travel(WEDNESDAY, tick=False)
def test_new_threads_show_overdue_first_with_the_state_in_words(clinician_client, team):
    today = WEDNESDAY.date()
    _thread(team, subject="Due next week", reply_due_on=today + datetime.timedelta(days=7))
    _thread(team, subject="Due today", reply_due_on=today)
    _thread(team, subject="Two days late", reply_due_on=today - datetime.timedelta(days=2))
    _thread(team, subject="A week late", reply_due_on=today - datetime.timedelta(days=7))
    _thread(team, subject="Already answered", status=ThreadStatus.WAITING_ON_PATIENT, reply_due_on=None)

    response = clinician_client.get(INBOX)

    text = _text(response)
    names = ["Due next week", "Due today", "Two days late", "A week late"]
    assert _order(response, names) == ["A week late", "Two days late", "Due today", "Due next week"]
    assert "Already answered" not in text
    assert len(re.findall(r'nhsuk-tag--red"\s*>\s*Overdue\s*<', response.content.decode())) == 2
    assert len(re.findall(r'nhsuk-tag--orange"\s*>\s*Due today\s*<', response.content.decode())) == 1
    assert "Reply was due by 18 November 2026" in text
    assert "Reply due by 2 December 2026" in text


def test_overdue_counts_days_in_the_trust_time_zone(team, clinician):
    # 00:30 on 16 July in London (summer time) is still 15 July in UTC: a reply due on the 15th is overdue in London.
    with time_machine.travel(datetime.datetime(2026, 7, 16, 0, 30, tzinfo=LONDON), tick=False):
        client = Client()
        client.force_login(clinician)
        _thread(team, subject="Due yesterday", reply_due_on=datetime.date(2026, 7, 15))
        html = client.get(INBOX).content.decode()
    assert re.search(r">\s*Overdue\s*<", html)


@pytest.mark.parametrize(
    ("show", "expected"),
    [
        ("new", {"Mine", "Colleague's", "Nobody's"}),
        ("mine", {"Mine"}),
        ("waiting", {"Waiting"}),
        ("done", {"Finished"}),
        ("nonsense", {"Mine", "Colleague's", "Nobody's"}),
        ("", {"Mine", "Colleague's", "Nobody's"}),
    ],
)
def test_tabs(clinician_client, team, clinician, show, expected):
    colleague = CareTeamMembershipFactory(care_team=team, user__display_name="Nurse B Shah").user
    _thread(team, subject="Mine", assigned_to=clinician)
    _thread(team, subject="Colleague's", assigned_to=colleague)
    _thread(team, subject="Nobody's")
    _thread(team, subject="Waiting", status=ThreadStatus.WAITING_ON_PATIENT, assigned_to=clinician)
    _thread(team, subject="Finished", status=ThreadStatus.DONE, assigned_to=clinician)

    html = clinician_client.get(INBOX, {"show": show}).content.decode()

    shown = {
        s
        for s in ("Mine", "Colleague's", "Nobody's", "Waiting", "Finished")
        if f">{s}</a>" in html.replace("&#39;", "'")
    }
    assert shown == expected


def test_assignees_are_named(clinician_client, team):
    colleague = CareTeamMembershipFactory(care_team=team, user__display_name="Nurse B Shah").user
    _thread(team, assigned_to=colleague)
    assert "Nurse B Shah" in _text(clinician_client.get(INBOX))


def test_unread_threads_are_marked_in_words(clinician_client, team, clinician):
    unread = _thread(team, subject="Not opened")
    read = _thread(team, subject="Opened")
    ReadMarker.objects.create(thread=read, user=clinician, read_at=timezone.now())

    html = clinician_client.get(INBOX).content.decode()

    row_unread = html[html.index("Not opened") : html.index("Not opened") + 300]
    row_read = html[html.index("Opened<") : html.index("Opened<") + 300]
    assert "Unread" in row_unread
    assert "Unread" not in row_read
    assert unread.public_id != read.public_id


# The team picker and the audit of the rows listed are the same for every inbox: tests/staff/test_inbox.py.


def test_the_list_is_paged(clinician_client, team):
    for n in range(30):
        _thread(team, subject=f"Question number {n:02d}")
    first = _text(clinician_client.get(INBOX))
    second = _text(clinician_client.get(INBOX, {"page": 2}))
    assert first.count("Question number") == 25
    assert second.count("Question number") == 5
    assert "Page 2 of 2" in first


def test_the_number_of_queries_does_not_grow_with_the_list(
    clinician_client, team, clinician, django_assert_num_queries
):
    colleague = CareTeamMembershipFactory(care_team=team).user

    def make(n: int) -> None:
        for i in range(n):
            thread = _thread(team, assigned_to=colleague if i % 2 else clinician, reply_due_on=timezone.localdate())
            ReadMarker.objects.create(thread=thread, user=clinician, read_at=timezone.now())

    make(2)
    clinician_client.get(INBOX)  # warm the session and the user
    with CaptureQueriesContext(connection) as small:
        clinician_client.get(INBOX)
    make(18)
    with django_assert_num_queries(len(small.captured_queries)):
        response = clinician_client.get(INBOX)
    assert _text(response).count("Hospital number") == 20


# A thread's page ---------------------------------------------------------------------------------------------


def test_the_thread_page_shows_every_message_with_internal_notes_marked(clinician_client, team, clinician):
    thread = _thread(team, subject="Iron tablets", body="Should I stop?\nI feel dizzy.")
    MessageFactory(
        thread=thread,
        author_role=AuthorRole.STAFF,
        author_display="Nurse B Shah, Haematology",
        body="Checked the last ferritin: low.",
        is_internal_note=True,
    )
    MessageFactory(
        thread=thread, author_role=AuthorRole.STAFF, author_display="Dr A Okafor, Haematology", body="Keep going."
    )

    response = clinician_client.get(thread_url(thread))

    html = response.content.decode()
    text = _text(response)
    assert response.status_code == 200
    assert "Should I stop?<br>I feel dizzy." in html
    assert "Checked the last ferritin: low." in text
    assert text.count("Internal note – the patient cannot see this") == 1
    note_at = text.index("Internal note – the patient cannot see this")
    assert note_at < text.index("Checked the last ferritin") < text.index("Keep going.")
    assert 'dir="auto"' in html
    event = AccessEvent.objects.get(action=AccessAction.VIEW, object_label="message thread")
    assert (event.patient, event.care_team, event.object_id) == (thread.patient, team, str(thread.public_id))


def test_message_text_is_shown_as_text_not_html(clinician_client, team):
    thread = _thread(team, body='<script>alert("x")</script> <b>bold</b> مرحبا 👋')
    html = clinician_client.get(thread_url(thread)).content.decode()
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &lt;b&gt;bold&lt;/b&gt; مرحبا 👋" in html


def test_opening_a_thread_marks_it_read_for_this_person_only(clinician_client, team, clinician):
    colleague = CareTeamMembershipFactory(care_team=team).user
    thread = _thread(team)

    clinician_client.get(thread_url(thread))

    assert ReadMarker.objects.filter(thread=thread, user=clinician).exists()
    assert not ReadMarker.objects.filter(thread=thread, user=colleague).exists()
    assert "Unread" not in clinician_client.get(INBOX).content.decode()


def test_the_thread_page_links_available_files_only(clinician_client, team):
    thread = _thread(team)
    message = thread.messages.get()
    clean = _stored_attachment(message, name="letter.pdf")
    pending = _stored_attachment(message, name="scan.pdf", scan_status=ScanStatus.PENDING)

    html = clinician_client.get(thread_url(thread)).content.decode()

    assert attachment_url(thread, clean) in html
    assert attachment_url(thread, pending) not in html
    assert "scan.pdf" in html and "Waiting for the virus check" in html


def test_the_number_of_queries_does_not_grow_with_the_thread(clinician_client, team, django_assert_num_queries):
    thread = _thread(team, topic=Topic.CORRECTION)
    now = timezone.now()
    correction = CorrectionRequest.objects.create(thread=thread, created_at=now, updated_at=now)

    def grow(n: int) -> None:
        for _ in range(n):
            message = MessageFactory(thread=thread)
            _stored_attachment(message)
            MessageFactory(thread=thread, author_role=AuthorRole.STAFF, is_internal_note=True)
            CorrectionStatusChange.objects.create(request=correction, status="received", changed_at=timezone.now())

    grow(1)
    clinician_client.get(thread_url(thread))  # warm the session, the user and the read marker
    with CaptureQueriesContext(connection) as small:
        clinician_client.get(thread_url(thread))
    grow(10)
    with django_assert_num_queries(len(small.captured_queries)):
        response = clinician_client.get(thread_url(thread))
    assert _text(response).count("Internal note – the patient cannot see this") == 11


# Replying ----------------------------------------------------------------------------------------------------


def _post(client: Client, thread: Thread, name: str, data: dict | None = None):  # type: ignore[no-untyped-def]
    return client.post(thread_url(thread, name), data or {})


def test_a_reply_waits_on_the_patient_and_tells_them_without_content(clinician_client, team, patient):
    thread = _thread(team, patient=patient, reply_due_on=timezone.localdate())

    response = _post(clinician_client, thread, "messaging:inbox-thread-reply", {"reply-body": "Keep taking them."})

    assert response.status_code == 302
    assert response["Location"] == thread_url(thread)
    thread.refresh_from_db()
    assert thread.status == ThreadStatus.WAITING_ON_PATIENT
    assert thread.reply_due_on is None
    reply = thread.messages.get(author_role=AuthorRole.STAFF)
    assert (reply.body, reply.is_internal_note, reply.author_display) == (
        "Keep taking them.",
        False,
        "Dr A Okafor, Haematology",
    )
    notification = Notification.objects.get(user=patient.user)
    assert notification.kind == "new_message"
    assert set(notification.personalisation) == {"first_name"}
    follow = clinician_client.get(response["Location"])
    assert "nhsuk-notification-banner--success" in follow.content.decode()


def test_a_reply_can_carry_a_file_and_staff_download_it(
    clinician_client, team, patient, django_capture_on_commit_callbacks
):
    thread = _thread(team, patient=patient)

    with django_capture_on_commit_callbacks(execute=True):
        response = clinician_client.post(
            thread_url(thread, "messaging:inbox-thread-reply"),
            {"reply-body": "Here is the leaflet.", "reply-attachments": [_png("leaflet.png")]},
        )

    assert response.status_code == 302
    attachment = Attachment.objects.get(message__thread=thread)
    assert attachment.display_name == "leaflet.png"
    download = clinician_client.get(attachment_url(thread, attachment))
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")
    assert download["X-Content-Type-Options"] == "nosniff"
    assert b"".join(download.streaming_content).startswith(b"\x89PNG")
    event = AccessEvent.objects.get(action=AccessAction.DOWNLOAD)
    assert (event.patient, event.care_team, event.object_id) == (patient, team, str(attachment.public_id))


def test_attachments_work_on_another_storage_with_no_disk(
    settings, clinician_client, team, patient, patient_client, django_capture_on_commit_callbacks
):
    """Attachments go only through Django's storage API: the same journey on an in-memory storage, as it would on
    django-storages' S3 backend shared by several web servers."""
    from careportal.messaging.attachments import attachment_storage, attachments_sweep_incoming, stored_file_name

    settings.ATTACHMENT_STORAGE = {"BACKEND": "django.core.files.storage.InMemoryStorage", "OPTIONS": {}}
    storage = attachment_storage()
    assert type(storage).__name__ == "InMemoryStorage"
    thread = _thread(team, patient=patient)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        clinician_client.post(
            thread_url(thread, "messaging:inbox-thread-reply"),
            {"reply-body": "Here is the leaflet.", "reply-attachments": [_png("leaflet.png")]},
        )
        attachment = Attachment.objects.get(message__thread=thread)
        assert not storage.exists(stored_file_name(attachment))  # staged, not placed before the commit
    for callback in callbacks:
        callback()

    assert storage.exists(stored_file_name(attachment))
    assert storage.listdir("incoming") == ([], [])
    download = clinician_client.get(attachment_url(thread, attachment))
    assert b"".join(download.streaming_content).startswith(b"\x89PNG")
    own = patient_client.get(
        reverse("messaging:attachment", kwargs={"public_id": thread.public_id, "attachment_id": attachment.public_id})
    )
    assert own.status_code == 200 and b"".join(own.streaming_content).startswith(b"\x89PNG")
    assert attachments_sweep_incoming(older_than_seconds=-1) == {"placed": 0, "deleted": 0}


def test_a_file_still_waiting_for_its_virus_check_is_not_downloaded(clinician_client, team):
    thread = _thread(team)
    pending = _stored_attachment(thread.messages.get(), name="scan.pdf", scan_status=ScanStatus.PENDING)

    response = clinician_client.get(attachment_url(thread, pending))

    assert response.status_code == 409
    assert "waiting for a virus check" in _text(response)


def test_a_file_from_another_thread_is_not_found_under_this_one(clinician_client, team):
    mine = _thread(team)
    other = _thread(team)
    attachment = _stored_attachment(other.messages.get())
    assert clinician_client.get(attachment_url(mine, attachment)).status_code == 404
    assert AccessEvent.objects.filter(action=AccessAction.DENIED, object_id=str(attachment.public_id)).exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"reply-body": ""}, "Enter your reply"),
        ({"reply-body": " \n\t "}, "Enter your reply"),
        ({"reply-body": "x" * 5001}, "Message must be 5,000 characters or fewer"),
        ({"reply-body": "See attached", "reply-attachments": "exe"}, "PDF"),
        ({"reply-body": "See attached", "reply-attachments": "too-many"}, "You can attach up to 5 files"),
    ],
)
def test_bad_replies_are_refused_on_the_page_and_change_nothing(clinician_client, team, patient, data, message):
    thread = _thread(team, patient=patient)
    before = Thread.objects.filter(pk=thread.pk).values().get()
    if data.get("reply-attachments") == "exe":
        data = {**data, "reply-attachments": [SimpleUploadedFile("results.pdf", b"MZ\x90\x00" + b"\x00" * 200)]}
    elif data.get("reply-attachments") == "too-many":
        data = {**data, "reply-attachments": [_png(f"photo{n}.png") for n in range(6)]}

    response = clinician_client.post(thread_url(thread, "messaging:inbox-thread-reply"), data)

    text = _text(response)
    assert response.status_code == 400
    assert "There is a problem" in text
    assert message in text
    assert "<title>Error: " in text
    assert Thread.objects.filter(pk=thread.pk).values().get() == before
    assert thread.messages.count() == 1
    assert not Attachment.objects.exists()
    assert not Notification.objects.exists()


def test_a_too_long_reply_is_kept_in_the_box_for_correction(clinician_client, team):
    thread = _thread(team)
    response = _post(clinician_client, thread, "messaging:inbox-thread-reply", {"reply-body": "y" * 5001})
    html = response.content.decode()
    assert ("y" * 5001) in html
    assert 'href="#id_reply-body"' in html


# Internal notes ----------------------------------------------------------------------------------------------


def test_an_internal_note_is_kept_from_the_patient_side(clinician_client, patient_client, team, patient):
    thread = _thread(team, patient=patient, reply_due_on=timezone.localdate())

    response = _post(clinician_client, thread, "messaging:inbox-thread-note", {"note-body": "Ring her GP first."})
    _post(clinician_client, thread, "messaging:inbox-thread-reply", {"reply-body": "We will call you tomorrow."})

    assert response.status_code == 302
    note = thread.messages.get(is_internal_note=True)
    assert note.body == "Ring her GP first."
    assert Notification.objects.filter(user=patient.user).count() == 1, "the reply is notified, the note is not"
    # The patient's own thread page (the patient-side pages) shows the reply and never the note.
    page = _text(patient_client.get(reverse("messaging:thread", kwargs={"public_id": thread.public_id})))
    assert "We will call you tomorrow." in page
    assert "Should I keep taking my iron tablets?" in page
    assert "Ring her GP first." not in page
    assert "Internal note" not in page


def test_a_note_leaves_the_reply_owed(clinician_client, team):
    thread = _thread(team, reply_due_on=timezone.localdate())
    _post(clinician_client, thread, "messaging:inbox-thread-note", {"note-body": "Ring her GP first."})
    thread.refresh_from_db()
    assert (thread.status, thread.reply_due_on) == (ThreadStatus.NEW, timezone.localdate())


def test_an_empty_note_is_refused(clinician_client, team):
    thread = _thread(team)
    response = _post(clinician_client, thread, "messaging:inbox-thread-note", {"note-body": "  "})
    assert response.status_code == 400
    assert "Enter your note" in _text(response)
    assert re.search(r'id="thread-note"\s+open>', response.content.decode()), "the note form is shown open"
    assert thread.messages.count() == 1


# Assigning ---------------------------------------------------------------------------------------------------


def test_assign_to_a_team_member_then_unassign(clinician_client, team):
    colleague = CareTeamMembershipFactory(care_team=team, user__display_name="Nurse B Shah").user
    thread = _thread(team)

    page = clinician_client.get(thread_url(thread)).content.decode()
    assert f'value="{colleague.public_id}"' in page
    response = _post(
        clinician_client, thread, "messaging:inbox-thread-assign", {"assign-assignee": colleague.public_id}
    )

    assert response.status_code == 302
    thread.refresh_from_db()
    assert thread.assigned_to == colleague
    assert "Assigned to Nurse B Shah." in _text(clinician_client.get(response["Location"]))

    _post(clinician_client, thread, "messaging:inbox-thread-assign", {"assign-assignee": ""})
    thread.refresh_from_db()
    assert thread.assigned_to is None


@pytest.mark.parametrize("who", ["outsider", "former member", "nonsense"])
def test_assigning_to_someone_outside_the_team_is_refused(clinician_client, team, who):
    if who == "outsider":
        value = str(CareTeamMembershipFactory(care_team__name="Cardiology").user.public_id)
    elif who == "former member":
        value = str(CareTeamMembershipFactory(care_team=team, is_active=False).user.public_id)
    else:
        value = "not-an-id"
    thread = _thread(team)

    response = _post(clinician_client, thread, "messaging:inbox-thread-assign", {"assign-assignee": value})

    assert response.status_code == 400
    assert "Select a member of this care team" in _text(response)
    assert re.search(r'id="thread-assign"\s+open>', response.content.decode()), "the assign form is shown open"
    thread.refresh_from_db()
    assert thread.assigned_to is None


# Closing and reopening ---------------------------------------------------------------------------------------


def test_close_then_reopen(clinician_client, team):
    thread = _thread(team, reply_due_on=timezone.localdate())

    assert _post(clinician_client, thread, "messaging:inbox-thread-close").status_code == 302
    thread.refresh_from_db()
    assert thread.status == ThreadStatus.DONE
    assert "Subject" not in clinician_client.get(INBOX).content.decode()
    page = clinician_client.get(thread_url(thread)).content.decode()
    assert thread_url(thread, "messaging:inbox-thread-reopen") in page
    assert thread_url(thread, "messaging:inbox-thread-close") not in page
    assert thread.subject in _text(clinician_client.get(INBOX, {"show": "done"}))

    assert _post(clinician_client, thread, "messaging:inbox-thread-reopen").status_code == 302
    thread.refresh_from_db()
    assert thread.status == ThreadStatus.NEW
    assert thread.reply_due_on is not None, "the patient's message is still unanswered"


def test_closing_a_closed_thread_is_refused_in_words(clinician_client, team):
    thread = _thread(team, status=ThreadStatus.DONE)
    response = _post(clinician_client, thread, "messaging:inbox-thread-close")
    assert response.status_code == 400
    assert "This conversation is already closed." in _text(response)


# Record-correction requests ----------------------------------------------------------------------------------


def _correction_thread(team, patient):  # type: ignore[no-untyped-def]
    thread = _thread(team, patient=patient, topic=Topic.CORRECTION, subject="My date of birth is wrong")
    now = timezone.now()
    correction = CorrectionRequest.objects.create(thread=thread, created_at=now, updated_at=now)
    CorrectionStatusChange.objects.create(
        request=correction, status=CorrectionStatus.RECEIVED, changed_by_display=patient.full_name, changed_at=now
    )
    return thread, correction


def test_a_correction_request_is_followed_to_corrected_with_a_required_note(clinician_client, team, patient):
    thread, correction = _correction_thread(team, patient)

    page = _text(clinician_client.get(thread_url(thread)))
    assert "Record correction request" in page
    assert "Status: <strong>Received</strong>" in page

    response = _post(
        clinician_client, thread, "messaging:inbox-thread-correction", {"correction-status": "under_review"}
    )
    assert response.status_code == 302
    correction.refresh_from_db()
    assert correction.status == CorrectionStatus.UNDER_REVIEW

    refused = _post(clinician_client, thread, "messaging:inbox-thread-correction", {"correction-status": "corrected"})
    assert refused.status_code == 400
    assert "Enter what was corrected in the record" in _text(refused)
    assert 'href="#id_correction-note"' in refused.content.decode()
    correction.refresh_from_db()
    assert correction.status == CorrectionStatus.UNDER_REVIEW

    done = _post(
        clinician_client,
        thread,
        "messaging:inbox-thread-correction",
        {"correction-status": "corrected", "correction-note": "Date of birth changed to 17 May 1970."},
    )
    assert done.status_code == 302
    correction.refresh_from_db()
    assert (correction.status, correction.outcome) == (
        CorrectionStatus.CORRECTED,
        "Date of birth changed to 17 May 1970.",
    )
    page = _text(clinician_client.get(thread_url(thread)))
    assert "Received" in page and "Under review" in page and "Corrected" in page
    assert "which is final" in page or "is final" in page
    assert thread_url(thread, "messaging:inbox-thread-correction") not in page
    assert Notification.objects.filter(user=patient.user).count() == 2


def test_declining_needs_a_reason_and_an_outcome_is_final(clinician_client, team, patient):
    thread, correction = _correction_thread(team, patient)

    refused = _post(clinician_client, thread, "messaging:inbox-thread-correction", {"correction-status": "declined"})
    assert refused.status_code == 400
    assert "Enter the reason for declining this correction request" in _text(refused)

    _post(
        clinician_client,
        thread,
        "messaging:inbox-thread-correction",
        {"correction-status": "declined", "correction-note": "The record matches your passport."},
    )
    correction.refresh_from_db()
    assert correction.status == CorrectionStatus.DECLINED

    again = _post(clinician_client, thread, "messaging:inbox-thread-correction", {"correction-status": "under_review"})
    assert again.status_code == 400
    assert "This correction request is already declined, which is final." in _text(again)


@pytest.mark.parametrize("status", ["", "received", "nonsense"])
def test_a_correction_status_must_be_one_offered(clinician_client, team, patient, status):
    thread, correction = _correction_thread(team, patient)
    response = _post(clinician_client, thread, "messaging:inbox-thread-correction", {"correction-status": status})
    assert response.status_code == 400
    assert "Select the new status of this correction request" in _text(response)
    correction.refresh_from_db()
    assert correction.status == CorrectionStatus.RECEIVED
    assert correction.changes.count() == 1


def test_a_thread_without_a_correction_request_has_no_panel_and_refuses_a_status(clinician_client, team):
    thread = _thread(team)
    assert "Record correction request" not in _text(clinician_client.get(thread_url(thread)))
    response = _post(
        clinician_client, thread, "messaging:inbox-thread-correction", {"correction-status": "under_review"}
    )
    assert response.status_code == 400
    assert "not a request to correct the patient's record" in _text(response)


# Starting a thread -------------------------------------------------------------------------------------------


def test_find_a_patient_by_hospital_number_then_write(clinician_client, team, patient):
    patient.hospital_number = "40012345"
    patient.save()

    found = clinician_client.post(START, {"find-hospital_number": " 4001 2345 "})

    text = _text(found)
    assert found.status_code == 200
    assert patient.full_name in text
    assert "17 May 1970" in text
    assert f"{patient.nhs_number[:3]} {patient.nhs_number[3:6]} {patient.nhs_number[6:]}" in text
    assert AccessEvent.objects.filter(patient=patient, object_label="details to start a message").exists()

    sent = clinician_client.post(
        START,
        {
            "start-patient": str(patient.public_id),
            "start-care_team": str(team.public_id),
            "start-topic": Topic.APPOINTMENT,
            "start-subject": "Your clinic on Friday",
            "start-body": "Please bring your medicines.",
        },
    )

    thread = Thread.objects.get(patient=patient)
    assert sent.status_code == 302
    assert sent["Location"] == thread_url(thread)
    assert (thread.care_team, thread.started_by_staff, thread.status) == (team, True, ThreadStatus.WAITING_ON_PATIENT)
    assert Notification.objects.filter(user=patient.user, kind="new_message").count() == 1


def test_a_patient_the_teams_do_not_look_after_reads_like_a_number_nobody_has(clinician_client, team):
    stranger = PatientFactory(hospital_number="50000001")

    unseen = _text(clinician_client.post(START, {"find-hospital_number": "50000001"}))
    unknown = _text(clinician_client.post(START, {"find-hospital_number": "50000002"}))

    assert stranger.family_name not in unseen
    assert "is being looked after by your care teams" in unseen
    assert _without_per_request_tokens(unseen.replace("50000001", "N")) == _without_per_request_tokens(
        unknown.replace("50000002", "N")
    )
    assert not AccessEvent.objects.filter(patient=stranger).exists()


def test_the_hospital_number_never_reaches_the_address(clinician_client, team):
    patient = PatientFactory(hospital_number="73310042")
    CareRelationshipFactory(patient=patient, care_team=team)
    response = clinician_client.get(START, {"find-hospital_number": "73310042"})
    assert "73310042" not in response.content.decode(), "a GET search is ignored, not run"
    assert patient.family_name not in response.content.decode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"find-hospital_number": ""}, "Enter the patient's hospital number"),
        ({"find-hospital_number": "40-012"}, "letters and numbers only"),
        ({"find-hospital_number": "4" * 21}, "20 characters or fewer"),
    ],
)
def test_bad_hospital_numbers(clinician_client, team, data, message):
    response = clinician_client.post(START, data)
    assert response.status_code == 400
    assert message in _text(response)


def test_sending_needs_a_message(clinician_client, team, patient):
    response = clinician_client.post(
        START,
        {"start-patient": str(patient.public_id), "start-care_team": str(team.public_id), "start-topic": "care"},
    )
    assert response.status_code == 400
    assert "Enter your message" in _text(response)
    assert patient.full_name in _text(response), "the patient stays on the page"
    assert not Thread.objects.exists()


def test_a_correction_cannot_be_started_by_staff(clinician_client, team, patient):
    response = clinician_client.post(
        START,
        {
            "start-patient": str(patient.public_id),
            "start-care_team": str(team.public_id),
            "start-topic": Topic.CORRECTION,
            "start-body": "x",
        },
    )
    assert response.status_code == 400
    assert not Thread.objects.exists()


@pytest.mark.parametrize("patient_id", ["stranger", "not-a-uuid"])
def test_an_edited_patient_id_is_not_found(clinician_client, team, patient_id):
    value = str(PatientFactory().public_id) if patient_id == "stranger" else patient_id
    response = clinician_client.post(
        START,
        {"start-patient": value, "start-care_team": str(team.public_id), "start-topic": "care", "start-body": "Hello"},
    )
    assert response.status_code == 404
    assert not Thread.objects.exists()


def test_another_teams_id_is_not_a_choice(clinician_client, team, patient):
    other = CareTeamFactory(name="Cardiology")
    CareRelationshipFactory(patient=patient, care_team=other)
    response = clinician_client.post(
        START,
        {
            "start-patient": str(patient.public_id),
            "start-care_team": str(other.public_id),
            "start-topic": "care",
            "start-body": "Hello",
        },
    )
    assert response.status_code == 400
    assert "Select one of your care teams" in _text(response)
    assert not Thread.objects.exists()


# Who may not -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["messaging:inbox-thread", "attachment", *ACTIONS])
def test_a_clinician_of_another_team_gets_404_and_the_refusal_is_audited(clinician_client, team, name):
    cardiology = CareTeamFactory(name="Cardiology")
    thread = _thread(cardiology, subject="Chest monitor", status=ThreadStatus.DONE)
    attachment = _stored_attachment(thread.messages.get())
    before = Thread.objects.filter(pk=thread.pk).values().get()
    data = {
        "reply-body": "x",
        "note-body": "x",
        "assign-assignee": "",
        "correction-status": "under_review",
    }

    if name == "messaging:inbox-thread":
        response = clinician_client.get(thread_url(thread))
    elif name == "attachment":
        response = clinician_client.get(attachment_url(thread, attachment))
    else:
        response = clinician_client.post(thread_url(thread, name), data)

    assert response.status_code == 404
    assert "Chest monitor" not in response.content.decode()
    assert Thread.objects.filter(pk=thread.pk).values().get() == before
    assert thread.messages.count() == 1
    denied = AccessEvent.objects.get(action=AccessAction.DENIED)
    assert denied.patient is None
    assert denied.object_id in {str(thread.public_id), str(attachment.public_id)}
    assert not AccessEvent.objects.filter(patient=thread.patient).exists()


def test_a_former_team_member_gets_404(clinician_client, team, clinician_membership):
    thread = _thread(team)
    CareTeamMembershipFactory(user=clinician_membership.user, care_team__name="Cardiology")
    clinician_membership.is_active = False
    clinician_membership.save()
    assert clinician_client.get(thread_url(thread)).status_code == 404


@pytest.mark.parametrize("who", ["helpdesk_client", "patient_client", "proxy_client"])
def test_helpdesk_patients_and_proxies_get_404(request, team, who):
    client = request.getfixturevalue(who)
    thread = _thread(team, patient=request.getfixturevalue("patient"))

    for response in (
        client.get(INBOX),
        client.get(START),
        client.post(START, {"find-hospital_number": thread.patient.hospital_number}),
        client.get(thread_url(thread)),
        client.post(thread_url(thread, "messaging:inbox-thread-close")),
    ):
        assert response.status_code == 404
    thread.refresh_from_db()
    assert thread.status == ThreadStatus.NEW
    assert AccessEvent.objects.filter(action=AccessAction.DENIED).count() == 5


def test_actions_need_a_csrf_token(team, clinician):
    thread = _thread(team)
    client = Client(enforce_csrf_checks=True)
    client.force_login(clinician)
    assert client.post(thread_url(thread, "messaging:inbox-thread-close")).status_code == 403
    thread.refresh_from_db()
    assert thread.status == ThreadStatus.NEW


@pytest.mark.parametrize("name", ACTIONS)
def test_actions_are_post_only(clinician_client, team, name):
    thread = _thread(team)
    assert clinician_client.get(thread_url(thread, name)).status_code == 405


def test_signed_out_visitors_are_sent_to_sign_in(client, team):
    thread = _thread(team)
    for url in (INBOX, START, PHRASES, thread_url(thread)):
        response = client.get(url)
        assert response.status_code == 302
        assert "/sign-in/" in response["Location"]


# The staff console -------------------------------------------------------------------------------------------


@time_machine.travel(WEDNESDAY, tick=False)
def test_the_staff_console_counts_new_and_overdue_threads(clinician_client, team):
    today = WEDNESDAY.date()
    _thread(team, reply_due_on=today - datetime.timedelta(days=1))
    _thread(team, reply_due_on=today)
    _thread(team, reply_due_on=today + datetime.timedelta(days=2))
    _thread(team, status=ThreadStatus.WAITING_ON_PATIENT)
    _thread(CareTeamFactory(name="Cardiology"), reply_due_on=today - datetime.timedelta(days=3))

    text = _text(clinician_client.get(reverse("staff:home")))

    assert "3 new conversations in your teams' inboxes are waiting for a reply; 1 is overdue." in text
    assert INBOX in text


def test_the_helpdesk_console_has_no_message_counts_but_links_the_phrases(helpdesk_client):
    page = helpdesk_client.get(reverse("staff:home")).content.decode()
    assert f'href="{INBOX}"' not in page
    assert f'href="{PHRASES}"' in page


# Urgent phrases ----------------------------------------------------------------------------------------------


@pytest.fixture
def superuser_client(db) -> Client:
    client = Client()
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    return client


@pytest.mark.parametrize("who", ["helpdesk_client", "superuser_client"])
def test_the_phrase_list_shows_counts_by_category(request, who):
    client = request.getfixturevalue(who)
    UrgentPhrase.objects.all().delete()
    chest = UrgentPhrase.objects.create(phrase="crushing chest pain", category="chest pain")
    UrgentPhrase.objects.create(phrase="cant breathe", category="breathing", is_active=False)
    now = timezone.now()
    for days_ago, sent in ((1, True), (2, False), (40, True)):
        UrgentInterception.objects.create(
            occurred_at=now - datetime.timedelta(days=days_ago),
            phrase=chest,
            phrase_text=chest.phrase,
            author_role="patient",
            sent_anyway=sent,
        )

    response = client.get(PHRASES)

    text = _text(response)
    assert response.status_code == 200
    assert _order(response, ["Breathing", "Chest pain"]) == ["Breathing", "Chest pain"]
    assert "2 times (1 sent anyway)" in text
    assert "3 times (2 sent anyway)" in text
    assert "Not active" in text
    assert "Reactivate" in text and "Deactivate" in text


def test_a_phrase_is_added_normalised_and_a_duplicate_is_refused(helpdesk_client):
    response = helpdesk_client.post(PHRASES, {"add-phrase": "  Can't   SWALLOW! ", "add-category": "breathing"})
    assert response.status_code == 302
    assert UrgentPhrase.objects.filter(phrase="cant swallow", category="breathing", is_active=True).exists()

    duplicate = helpdesk_client.post(PHRASES, {"add-phrase": "cant swallow", "add-category": "other"})

    text = _text(duplicate)
    assert duplicate.status_code == 400
    assert "There is a problem" in text
    assert '"cant swallow" is already on the list' in text
    assert UrgentPhrase.objects.filter(phrase="cant swallow").count() == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"add-phrase": "", "add-category": "x"}, "Enter a phrase"),
        # Too short to be a phrase: each would match ordinary messages ("1 tablet", "plan b", "x-ray").
        ({"add-phrase": "!!!", "add-category": "x"}, "Enter a phrase with at least 4 letters"),
        ({"add-phrase": "1", "add-category": "x"}, "Enter a phrase with at least 4 letters"),
        ({"add-phrase": "b", "add-category": "x"}, "Enter a phrase with at least 4 letters"),
        ({"add-phrase": "x", "add-category": "x"}, "Enter a phrase with at least 4 letters"),
        ({"add-phrase": "999 111", "add-category": "x"}, "Enter a phrase with at least 4 letters"),
        ({"add-phrase": "fit", "add-category": "x"}, "Enter a phrase with at least 4 letters"),
        ({"add-phrase": "chest", "add-category": "\u202e\u2066"}, "Enter a category"),
        ({"add-phrase": "chest", "add-category": " "}, "Enter a category"),
        ({"add-phrase": "a" * 101, "add-category": "x"}, "Phrase must be 100 characters or fewer"),
    ],
)
def test_bad_phrases_are_refused(helpdesk_client, data, message):
    before = UrgentPhrase.objects.count()
    response = helpdesk_client.post(PHRASES, data)
    assert response.status_code == 400
    assert message in _text(response)
    assert UrgentPhrase.objects.count() == before


def test_a_phrase_can_be_deactivated_and_reactivated(helpdesk_client):
    phrase = UrgentPhrase.objects.create(phrase="blue lips", category="breathing")

    helpdesk_client.post(PHRASES, {"phrase-phrase": phrase.pk})
    phrase.refresh_from_db()
    assert phrase.is_active is False

    helpdesk_client.post(PHRASES, {"phrase-phrase": phrase.pk, "phrase-active": "on"})
    phrase.refresh_from_db()
    assert phrase.is_active is True


@pytest.mark.parametrize("who", ["clinician_client", "patient_client", "proxy_client"])
def test_only_the_helpdesk_and_superusers_keep_the_phrases(request, who):
    client = request.getfixturevalue(who)
    phrase = UrgentPhrase.objects.create(phrase="blue lips", category="breathing")

    assert client.get(PHRASES).status_code == 404
    assert client.post(PHRASES, {"phrase-phrase": phrase.pk}).status_code == 404
    assert client.post(PHRASES, {"add-phrase": "new one", "add-category": "x"}).status_code == 404
    phrase.refresh_from_db()
    assert phrase.is_active is True
    assert not UrgentPhrase.objects.filter(phrase="new one").exists()
    assert AccessEvent.objects.filter(action=AccessAction.DENIED).count() == 3
