"""Messages between patients and their care teams, through the real pages: a patient writes with a photo and reads
the team's reply (but never the team's internal note); an urgent phrase shows the urgent-care page first; a request
to correct the record is followed to "Corrected"; a parent writes for their child and is named as such.

Every page opened here is checked with axe-core (WCAG 2.2 A and AA) by `portal` (see portal.py).
"""

from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from careportal.messaging.models import Thread, UrgentInterception
from careportal.messaging.presenters import long_date
from careportal.messaging.services import reply_due_on_for
from careportal.patients.models import CareTeam
from tests.browser.steps import (
    given_the_demo_trust_is_loaded,
    given_the_installed_release_rules_and_bank_holidays,
    given_the_installed_urgent_phrases,
    when_staff_open_the_messages_inbox,
    when_staff_sign_in,
    when_they_choose_who_to_write_to,
    when_they_open_messages,
    when_they_sign_in,
    when_they_sign_out,
    when_they_write_and_send,
)
from tests.messaging.files import png

pytestmark = pytest.mark.browser

URGENT_TEXT = "I have had chest pain since this morning"


@pytest.fixture(autouse=True)
def attachment_root(settings, tmp_path) -> Path:
    """Files go to this test's own folder, with no virus scanner, whatever the developer's environment says (the
    live server runs in this process, so it sees these settings)."""
    root = tmp_path / "private" / "attachments"
    settings.MESSAGE_ATTACHMENT_ROOT = root
    settings.CLAMAV_SOCKET = ""
    settings.CLAMAV_HOST = ""
    return root


def test_patient_writes_with_a_photo_the_team_replies_and_the_patient_reads_the_reply(portal):
    page = portal.page
    main = page.get_by_role("main")

    # Given the demo trust, with the bank holidays the reply date is counted around
    given_the_demo_trust_is_loaded()
    given_the_installed_release_rules_and_bank_holidays()
    haematology = CareTeam.objects.get(name="Haematology")

    # When Eleanor signs in, opens her messages and chooses to write to Haematology with a question about her care
    when_they_sign_in(portal, username="demo.patient")
    when_they_open_messages(portal)
    expect(main).to_contain_text("No messages yet")
    portal.click_and_wait(main.get_by_role("button", name="Write a message"))

    # Then, before anything can be typed, she is told messages are not for emergencies, and how long a reply takes
    warning = main.get_by_text("Do not use messages for urgent problems.")
    expect(warning).to_contain_text("In an emergency, call 999.")
    expect(warning).to_contain_text("For urgent advice, call 111")
    expect(page.get_by_role("radio", name="Haematology")).to_be_visible()
    expect(main).to_contain_text("They aim to reply within 3 working days.")
    expect(page.get_by_role("textbox")).to_have_count(0)
    page.get_by_role("radio", name="Haematology").check()
    page.get_by_role("radio", name="A question about my care").check()
    portal.click_and_wait(page.get_by_role("button", name="Continue"))

    # And the writing page repeats the warning and the reply time above the text box
    expect(page.get_by_role("heading", level=1)).to_have_text("Write your message")
    expect(main).to_contain_text("They aim to reply within 3 working days.")
    warning_box = main.get_by_text("Do not use messages for urgent problems.").bounding_box()
    text_box = page.get_by_label("Your message").bounding_box()
    assert warning_box is not None and text_box is not None
    assert warning_box["y"] + warning_box["height"] <= text_box["y"], "the warning must come before the text box"

    # When she writes a subject and her question, attaches a photo of her rash and sends it
    expected_due = long_date(reply_due_on_for(care_team=haematology, sent_at=timezone.now()))
    when_they_write_and_send(
        portal,
        subject="Rash on my arms",
        body="Since I started the new tablets I have a rash on both arms.\nShould I keep taking them?",
        files=[{"name": "rash photo.png", "mimeType": "image/png", "buffer": png()}],
    )

    # Then she sees that it was sent, and the date by which Haematology aims to reply
    expect(page.get_by_role("heading", level=1)).to_have_text("Message sent")
    expect(main).to_contain_text("We have sent your message to Haematology.")
    expect(main).to_contain_text(f"They aim to reply by {expected_due}.")
    thread = Thread.objects.get(subject="Rash on my arms")
    assert thread.messages.get().attachments.count() == 1

    # When Dr Okafor signs in with the emailed code and opens the messages inbox from the staff console
    when_they_sign_out(portal)
    when_staff_sign_in(portal, username="demo.clinician")
    expect(main).to_contain_text("1 new conversation in your teams' inboxes is waiting for a reply")
    portal.click_and_wait(main.get_by_role("link", name="Open the messages inbox"))

    # Then the new conversation is listed, unread, with the patient's name and hospital number
    expect(page.get_by_role("heading", level=1)).to_have_text("Messages")
    row = main.locator("tbody tr").filter(has_text="Rash on my arms")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Eleanor Hargreaves")
    expect(row).to_contain_text("40012345")
    expect(row).to_contain_text("Unread")

    # When they open it
    portal.click_and_wait(row.get_by_role("link", name="Rash on my arms"))

    # Then they see Eleanor's message and her photo
    expect(page.get_by_role("heading", level=1)).to_have_text("Rash on my arms")
    expect(main).to_contain_text("Should I keep taking them?")
    expect(main.get_by_role("link", name="rash photo.png")).to_be_visible()

    # When they add an internal note, then reply
    note = "Checked the drug chart: started allopurinol 2 weeks ago. Discuss with pharmacy."
    main.get_by_text("Add an internal note").click()  # the note form is folded away under the reply
    page.get_by_label("Internal note").fill(note)
    portal.click_and_wait(page.get_by_role("button", name="Add the note"))
    expect(main).to_contain_text("Internal note added. Only your care team can see it.")
    expect(main).to_contain_text(note)
    reply = "Thank you for the photo. Please stop the new tablets and we will call you tomorrow to talk it through."
    page.get_by_label("Your reply").fill(reply)
    portal.click_and_wait(page.get_by_role("button", name="Send the reply"))
    expect(main).to_contain_text("Reply sent.")

    # And the conversation waits on the patient
    when_staff_open_the_messages_inbox(portal)
    expect(main.locator("tbody tr").filter(has_text="Rash on my arms")).to_have_count(0)
    portal.click_and_wait(main.get_by_role("link", name="Waiting on patient"))
    expect(main.locator("tbody tr").filter(has_text="Rash on my arms")).to_have_count(1)

    # When Eleanor signs in again and opens her messages
    when_they_sign_out(portal)
    when_they_sign_in(portal, username="demo.patient")
    expect(main).to_contain_text("You have 1 unread message.")
    when_they_open_messages(portal)

    # Then the conversation is marked "Unread"
    conversations = page.get_by_role("list", name="Conversations, latest first")
    item = conversations.get_by_role("listitem").filter(has_text="Rash on my arms")
    expect(item).to_contain_text("Unread")

    # When she opens it
    portal.click_and_wait(item.get_by_role("link", name="Rash on my arms"))

    # Then she reads the reply, signed by the clinician and the team, and never sees the internal note
    messages = page.get_by_role("list", name="Messages, oldest first")
    sent = messages.locator(":scope > li")
    expect(sent).to_have_count(2)
    expect(sent.last.get_by_role("heading")).to_have_text("Dr C Okafor, Haematology")
    expect(messages).to_contain_text(reply)
    expect(main).not_to_contain_text("allopurinol")
    expect(main).not_to_contain_text("Internal note")

    # And her photo downloads as a file, never shown as a page
    link = messages.get_by_role("link", name="rash photo.png")
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    assert download.suggested_filename == "rash photo.png"
    assert Path(download.path()).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    response = page.request.get(link.get_attribute("href"))
    assert response.status == 200
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-type"] == "image/png"

    # And back in the list, the conversation is no longer unread
    portal.click_and_wait(main.get_by_role("link", name="Back to messages"))
    item = page.get_by_role("list", name="Conversations, latest first").get_by_role("listitem")
    expect(item).not_to_contain_text("Unread")


def test_an_urgent_phrase_shows_the_urgent_care_page_and_the_patient_may_still_send(portal):
    page = portal.page
    main = page.get_by_role("main")

    # Given the demo trust, with the urgent phrases CarePortal installs
    given_the_demo_trust_is_loaded()
    given_the_installed_release_rules_and_bank_holidays()
    given_the_installed_urgent_phrases()

    # When Eleanor writes to Haematology that she has had chest pain
    when_they_sign_in(portal, username="demo.patient")
    when_they_open_messages(portal)
    when_they_choose_who_to_write_to(portal, team="Haematology", topic="A question about my care")
    when_they_write_and_send(portal, subject="Feeling unwell", body=URGENT_TEXT)

    # Then, instead of sending it, CarePortal shows her where to get urgent help
    expect(page.get_by_role("heading", level=1)).to_have_text("Do you need urgent help?")
    expect(main).to_contain_text("Your message has not been sent yet.")
    expect(main).to_contain_text("Call 999")
    expect(main).to_contain_text("Call 111")
    expect(main.get_by_role("link", name="Go to NHS 111 online")).to_be_visible()
    expect(main).to_contain_text("Samaritans")
    expect(main.get_by_role("link", name="116 123")).to_be_visible()

    # When she chooses not to send it
    portal.click_and_wait(main.get_by_role("button", name="Do not send"))

    # Then nothing was sent, and the interception was recorded without her words
    expect(page.get_by_role("heading", level=1)).to_have_text("Messages")
    expect(main).to_contain_text("No messages yet")
    assert not Thread.objects.exists()
    interception = UrgentInterception.objects.get()
    assert (interception.phrase_text, interception.sent_anyway) == ("chest pain", False)

    # When she writes it again, and this time says she does not need urgent help
    when_they_choose_who_to_write_to(portal, team="Haematology", topic="A question about my care")
    when_they_write_and_send(portal, subject="Feeling unwell", body=URGENT_TEXT)
    expect(page.get_by_role("heading", level=1)).to_have_text("Do you need urgent help?")
    portal.click_and_wait(main.get_by_role("button", name="I do not need urgent help: send my message"))

    # Then the message is sent, as she wrote it
    expect(page.get_by_role("heading", level=1)).to_have_text("Message sent")
    thread = Thread.objects.get()
    assert (thread.subject, thread.messages.get().body) == ("Feeling unwell", URGENT_TEXT)
    assert sorted(UrgentInterception.objects.values_list("sent_anyway", flat=True)) == [False, True]
    portal.click_and_wait(main.get_by_role("link", name="See your message"))
    expect(page.get_by_role("list", name="Messages, oldest first")).to_contain_text(URGENT_TEXT)


def test_a_request_to_correct_the_record_is_followed_to_corrected(portal):
    page = portal.page
    main = page.get_by_role("main")

    # Given the demo trust
    given_the_demo_trust_is_loaded()
    given_the_installed_release_rules_and_bank_holidays()

    # When Eleanor asks Haematology to correct her record
    when_they_sign_in(portal, username="demo.patient")
    when_they_open_messages(portal)
    when_they_choose_who_to_write_to(portal, team="Haematology", topic="A correction to my record")
    when_they_write_and_send(
        portal,
        subject="Penicillin allergy",
        body="My record says I am allergic to penicillin. I am not: it was my late husband who was.",
    )
    expect(page.get_by_role("heading", level=1)).to_have_text("Message sent")

    # Then her request is received
    portal.click_and_wait(main.get_by_role("link", name="See your message"))
    expect(main.locator(".nhsuk-card").filter(has_text="Your request to correct your record")).to_contain_text(
        "Received"
    )

    # When Dr Okafor opens it, and sets it to under review
    when_they_sign_out(portal)
    when_staff_sign_in(portal, username="demo.clinician")
    when_staff_open_the_messages_inbox(portal)
    portal.click_and_wait(main.get_by_role("link", name="Penicillin allergy"))
    correction = main.locator(".nhsuk-grid-row").filter(
        has=page.get_by_role("heading", name="Record correction request")
    )
    expect(correction).to_contain_text("Status: Received")
    page.get_by_role("radio", name="Under review").check()
    portal.click_and_wait(page.get_by_role("button", name="Save the status"))
    expect(main).to_contain_text("The correction request is now under review.")

    # And then to corrected, with a note saying what changed
    page.get_by_role("radio", name="Corrected").check()
    fixed = "We have removed the penicillin allergy from your record. Thank you for telling us."
    page.get_by_label("Note for the patient").fill(fixed)
    portal.click_and_wait(page.get_by_role("button", name="Save the status"))
    expect(main).to_contain_text("The correction request is now corrected.")
    expect(correction).to_contain_text("Status: Corrected")
    expect(page.get_by_role("button", name="Save the status")).to_have_count(0)

    # When Eleanor signs in again
    when_they_sign_out(portal)
    when_they_sign_in(portal, username="demo.patient")
    when_they_open_messages(portal)

    # Then her list shows the request as corrected
    item = page.get_by_role("list", name="Conversations, latest first").get_by_role("listitem")
    expect(item).to_contain_text("Correction: corrected")

    # And the request shows the status "Corrected", what the team did, and its history
    portal.click_and_wait(item.get_by_role("link", name="Penicillin allergy"))
    card = main.locator(".nhsuk-card").filter(has_text="Your request to correct your record")
    expect(card.locator(".nhsuk-tag")).to_have_text("Corrected")
    expect(card).to_contain_text("The team has corrected your record.")
    card.get_by_text("See the history of this request").click()
    history = card.locator("ol")
    expect(history.get_by_role("listitem")).to_have_count(3)
    expect(history.get_by_role("listitem").nth(0)).to_contain_text("Received")
    expect(history.get_by_role("listitem").nth(1)).to_contain_text("Under review")
    expect(history.get_by_role("listitem").nth(1)).to_contain_text("Dr C Okafor")
    expect(history.get_by_role("listitem").nth(2)).to_contain_text("Corrected")
    expect(history.get_by_role("listitem").nth(2)).to_contain_text(fixed)


def test_a_parent_writes_for_their_child_and_is_named_as_writing_on_their_behalf(portal):
    page = portal.page
    main = page.get_by_role("main")

    # Given the demo trust: Priya Patel is Arjun Patel's mother, and Children's Urology looks after Arjun
    given_the_demo_trust_is_loaded()
    given_the_installed_release_rules_and_bank_holidays()

    # When Priya signs in and writes to Children's Urology for Arjun
    when_they_sign_in(portal, username="demo.parent")
    when_they_open_messages(portal)
    expect(main).to_contain_text("Arjun Patel")
    when_they_choose_who_to_write_to(portal, team="Children's Urology", topic="A question about their care")
    expect(main).to_contain_text("Arjun Patel")
    when_they_write_and_send(
        portal, subject="Night-time wetting", body="Arjun has been wetting the bed again this week. Is that expected?"
    )

    # Then the message is sent to Children's Urology
    expect(page.get_by_role("heading", level=1)).to_have_text("Message sent")
    expect(main).to_contain_text("We have sent your message to Children's Urology.")
    expect(main).to_contain_text("If their symptoms get worse or they need help sooner, do not wait for a reply.")

    # And the message says who wrote it, for whom
    portal.click_and_wait(main.get_by_role("link", name="See your message"))
    messages = page.get_by_role("list", name="Messages, oldest first")
    expect(messages.get_by_role("heading", level=3)).to_have_text("Priya Patel (mother) on behalf of Arjun Patel")
    thread = Thread.objects.get()
    assert thread.patient.full_name == "Arjun Patel"
    assert thread.messages.get().author_display == "Priya Patel (mother) on behalf of Arjun Patel"
