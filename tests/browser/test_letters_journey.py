"""Letters end to end: clinic letters sent by the document system over a real socket to a running MLLP listener, the
ACKs checked; the paperless patient reads hers in the browser and downloads exactly the stored PDF; the print room
exports the letter to post and marks it printed. Every page opened is checked with axe-core by `portal`.
"""

import csv
import hashlib
import io
import re
import tempfile
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from careportal.letters.models import Letter
from careportal.letters.services import print_list_freeze
from tests.browser.steps import (
    given_a_running_hl7_listener,
    given_the_demo_trust_is_loaded,
    hl7_sample,
    when_staff_sign_in,
    when_they_sign_in,
    when_they_sign_out,
)
from tests.hl7.mllp_client import ack_code, control_id

pytestmark = pytest.mark.browser

DEMO_HL7 = Path(__file__).resolve().parents[2] / "careportal" / "demo" / "hl7"
# What the pages look like, for a person to check (desktop and 320 px wide).
SCREENSHOTS = Path(tempfile.gettempdir()) / "careportal-letters-journey"


@pytest.fixture(autouse=True)
def letter_root(settings, tmp_path):
    settings.LETTER_ROOT = tmp_path / "letters"


def given_the_document_system_sent_two_letters_over_mllp() -> None:
    letters = [hl7_sample("mdm_t02_letter.hl7"), (DEMO_HL7 / "mdm_t02_dermatology_letter.hl7").read_bytes()]
    with given_a_running_hl7_listener() as listener, listener.client() as client:
        for raw in letters:
            assert ack_code(client.request(raw)) == ("AA", control_id(raw))


def screenshot(portal, name: str) -> None:  # type: ignore[no-untyped-def]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    portal.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_a_letter_sent_over_mllp_is_read_and_downloaded_and_the_print_room_posts_the_other(portal):
    page = portal.page

    # Given the demo trust, and the document system has sent two clinic letters over MLLP: one for Eleanor
    # (paperless), one for Siobhán (no account: by post); and the morning's list for the print room is made
    given_the_demo_trust_is_loaded()
    given_the_document_system_sent_two_letters_over_mllp()
    assert print_list_freeze() == 1
    eleanors = Letter.objects.get(patient__hospital_number="40012345")

    # When Eleanor signs in and opens her letters from the home page
    when_they_sign_in(portal, username="demo.patient")
    expect(page.get_by_role("main")).to_contain_text("You have 1 letter from your clinics.")
    portal.click_and_wait(page.get_by_role("main").get_by_role("link", name="Letters"))

    # Then she sees the letter with its date, team and type
    expect(page.get_by_role("heading", level=1)).to_have_text("Letters")
    letters = page.get_by_role("list", name="Letters, newest first")
    expect(letters.get_by_role("listitem")).to_have_count(1)
    expect(letters).to_contain_text("Clinic letter")
    expect(letters).to_contain_text("6 November 2026 · Haematology")
    expect(page.get_by_role("main")).to_contain_text("Your letters are paperless")
    screenshot(portal, "letters-list")

    # When she opens it
    portal.click_and_wait(letters.get_by_role("link", name="Clinic letter"))

    # Then the letter's page says who wrote it and offers to open or download the PDF, with its size
    expect(page.get_by_role("heading", level=1)).to_have_text("Clinic letter")
    main = page.get_by_role("main")
    expect(main).to_contain_text("Dr Chidi Okafor")
    expect(main).to_contain_text("This letter was not sent by post.")
    screenshot(portal, "letter-page")
    page.set_viewport_size({"width": 320, "height": 900})
    screenshot(portal, "letter-page-320")
    page.set_viewport_size({"width": 1280, "height": 900})

    # And the download is exactly the stored PDF
    with page.expect_download() as download_info:
        main.get_by_role("link", name=re.compile(r"^Download the letter \(PDF, \d+ bytes\)$")).click()
    download = download_info.value
    downloaded = Path(download.path()).read_bytes()
    assert hashlib.sha256(downloaded).hexdigest() == eleanors.sha256
    assert download.suggested_filename == "letter-2026-11-06.pdf"
    # And "Open the letter" gives the same bytes, for the browser to show
    opened = page.request.get(reverse("letters:view", kwargs={"public_id": eleanors.public_id}))
    assert opened.headers["content-disposition"].startswith("inline")
    assert hashlib.sha256(opened.body()).hexdigest() == eleanors.sha256

    when_they_sign_out(portal)

    # When the print room (the demo helpdesk) signs in and opens the letters to post from the staff console
    when_staff_sign_in(portal, username="demo.helpdesk")
    portal.goto("/staff/")
    portal.click_and_wait(page.get_by_role("link", name="Open the letters to post"))

    # Then Siobhán's letter is on the list with her address, and Eleanor's (paperless) is not
    expect(page.get_by_role("heading", level=1)).to_have_text("Letters to post")
    table = page.get_by_role("table", name="1 letter to post, oldest list first")
    expect(table).to_contain_text("Siobhán O'Sullivan")
    expect(table).to_contain_text("4 Mill Lane")
    expect(table).to_contain_text("Clinic letter, Dermatology")
    expect(table).not_to_contain_text("Hargreaves")
    screenshot(portal, "print-room")

    # When they export the list for printing
    portal.click_and_wait(page.get_by_role("button", name="Export the list for printing (CSV, 1 letter)"))

    # Then the export is ready (a small run is made at once) and its CSV holds the posting details
    expect(page.get_by_role("heading", level=1)).to_have_text("Export of letters to post")
    with page.expect_download() as csv_info:
        page.get_by_role("link", name="Download the list (CSV, 1 letter)").click()
    rows = list(csv.reader(io.StringIO(Path(csv_info.value.path()).read_text(encoding="utf-8-sig"))))
    assert rows[1][:5] == ["Siobhán O'Sullivan", "4 Mill Lane", "", "London", "N8 7QE"]
    screenshot(portal, "print-room-export")

    # When they confirm the letters are in the post
    page.get_by_label("I have printed every letter in this list and put it in the post").check()
    portal.click_and_wait(page.get_by_role("button", name="Mark these letters as printed"))

    # Then the list is empty
    expect(page.get_by_role("heading", level=1)).to_have_text("Letters to post")
    expect(page.get_by_role("main")).to_contain_text("1 letter marked as printed.")
    expect(page.get_by_role("main")).to_contain_text("Nothing to post")
    assert Letter.objects.get(patient__hospital_number="40077801").printed_at is not None
