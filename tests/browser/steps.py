"""Steps shared by the journeys, written as a person would do them: through the real pages and forms."""

from __future__ import annotations

import datetime
import importlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.core import mail
from playwright.sync_api import expect

from careportal.demo.data import DEMO_PASSWORD
from careportal.demo.services import demo_trust_load
from tests.browser.portal import PortalPage
from tests.hl7.mllp_client import ListenerThread, ack_code, control_id


def given_the_demo_trust_is_loaded() -> None:
    demo_trust_load()


def given_the_installed_release_rules_and_bank_holidays() -> None:
    """The release rules that CarePortal's data migration installs (bank holidays are computed, never stored). A
    browser test's database is emptied after each test (`transactional_db`), data migrations' rows included, so a
    journey that depends on them puts them back, exactly as the migration writes them (it is idempotent)."""
    from django.apps import apps

    importlib.import_module("careportal.results.migrations.0002_default_release_rules").load(apps, None)


def given_the_installed_urgent_phrases() -> None:
    """The urgent phrases CarePortal's data migration installs (emptied after each browser test like any row)."""
    from django.apps import apps

    importlib.import_module("careportal.messaging.migrations.0002_default_urgent_phrases").load(apps, None)


def when_they_sign_in(portal: PortalPage, *, username: str, password: str = DEMO_PASSWORD) -> None:
    """From the start page, follow "Sign in", fill in the form and press the button."""
    portal.goto("/")
    page = portal.page
    portal.click_and_wait(page.get_by_role("main").get_by_role("button", name="Sign in"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    portal.click_and_wait(page.get_by_role("main").get_by_role("button", name="Sign in"))


# --- Staff sign in ----------------------------------------------------------------------------------------------


def when_staff_sign_in(portal: PortalPage, *, username: str, password: str = DEMO_PASSWORD) -> None:
    """Sign in, enter the six-digit code emailed to them (staff always have a second step), and do not trust this
    shared computer."""
    page = portal.page
    mail.outbox.clear()
    when_they_sign_in(portal, username=username, password=password)
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    code = re.search(r"\b(\d{6})\b", mail.outbox[-1].body)
    assert code is not None, "no sign-in code in the email"
    page.get_by_label("Sign-in code").fill(code.group(1))
    portal.click_and_wait(page.get_by_role("button", name="Continue"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Do you want to trust this device?")
    portal.click_and_wait(page.get_by_role("button", name="Do not trust this device"))


# --- HL7 messages and the release job ---------------------------------------------------------------------------

HL7_SAMPLES = Path(__file__).resolve().parents[1] / "hl7" / "samples"
# Registration and demographics first, then results in the order a lab sends them (each preliminary before its
# final, each report before its correction), then appointments (kept but not applied) and the letter.
HL7_SAMPLE_ORDER = [
    "adt_a31_address.hl7",
    "oru_r01_fbc_final.hl7",
    "oru_r01_ue_final.hl7",
    "oru_r01_ue_corrected.hl7",
    "oru_r01_histology.hl7",
    "oru_r01_micro_prelim.hl7",
    "oru_r01_micro_final.hl7",
    "siu_s12_video.hl7",
    "siu_s15_cancel.hl7",
    "mdm_t02_letter.hl7",
]


def hl7_sample(name: str) -> bytes:
    """A sample message as on the wire (segments end with a carriage return); `bad/…` for the rejected ones."""
    return (HL7_SAMPLES / name).read_bytes()


@contextmanager
def given_a_running_hl7_listener() -> Iterator[ListenerThread]:
    running = ListenerThread().start()
    try:
        yield running
    finally:
        running.stop()


def given_these_messages_arrived(*names: str) -> None:
    """Sample messages applied through the HL7 interface's own entry point (no socket), each acknowledged AA."""
    from careportal.hl7.models import MessageSource
    from careportal.hl7.services import message_receive

    for name in names:
        raw = hl7_sample(name)
        ack = message_receive(raw, peer="browser test", source=MessageSource.IMPORT)
        assert ack_code(ack) == ("AA", control_id(raw)), (name, ack)


def when_the_release_job_runs(*, now: datetime.datetime) -> int:
    from careportal.results.release_job import results_release_due

    return results_release_due(now=now)


# --- Messages ---------------------------------------------------------------------------------------------------


def when_they_sign_out(portal: PortalPage) -> None:
    """With the header's Sign out button, from whatever page they are on."""
    portal.click_and_wait(portal.page.get_by_role("banner").get_by_role("button", name="Sign out"))


def when_they_open_messages(portal: PortalPage) -> None:
    """From their home page, follow the Messages card."""
    page = portal.page
    portal.goto("/home/")
    portal.click_and_wait(page.get_by_role("main").get_by_role("link", name="Messages"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Messages")


def when_they_choose_who_to_write_to(portal: PortalPage, *, team: str, topic: str) -> None:
    """From the messages list: "Write a message", then the care team and what the message is about."""
    page = portal.page
    portal.click_and_wait(page.get_by_role("main").get_by_role("button", name="Write a message"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Write a message")
    page.get_by_role("radio", name=team).check()
    page.get_by_role("radio", name=topic).check()
    portal.click_and_wait(page.get_by_role("button", name="Continue"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Write your message")


def when_they_write_and_send(
    portal: PortalPage, *, subject: str, body: str, files: list[dict[str, object]] | None = None
) -> None:
    """On "Write your message": the subject, the text and any files ({"name", "mimeType", "buffer"}), then Send."""
    page = portal.page
    page.get_by_label("Subject (optional)").fill(subject)
    page.get_by_label("Your message").fill(body)
    if files:
        # NHS.UK's file upload replaces the input with a button that opens the file chooser, as a person sees it.
        with page.expect_file_chooser() as chooser:
            page.get_by_label("Attach files (optional)").click()
        chooser.value.set_files(files)  # type: ignore[arg-type]
    portal.click_and_wait(page.get_by_role("button", name="Send message"))


def when_staff_open_the_messages_inbox(portal: PortalPage) -> None:
    """From the staff console, follow "Open the messages inbox"."""
    page = portal.page
    portal.goto("/staff/")
    portal.click_and_wait(page.get_by_role("link", name="Open the messages inbox"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Messages")
