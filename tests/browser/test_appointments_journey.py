"""Appointments end to end: SIU messages sent over a real socket to a running MLLP listener, each ACK checked, then
the appointment read, added to a calendar and asked about in the browser; and a video appointment's join button,
which appears only in its window (the clock frozen at chosen moments).

Every page opened here is checked with axe-core (WCAG 2.2 A and AA) by `portal` (see portal.py). With
CAREPORTAL_SCREENSHOTS=<folder> set, each page is also saved at desktop width and at 320 pixels.
"""

import datetime
import os
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from icalendar import Calendar
from playwright.sync_api import expect

from careportal.appointments.models import Appointment, AppointmentStatus, MeetingStatus
from careportal.demo.appointments import demo_clinics_load
from careportal.messaging.models import Thread
from tests.appointments.messages import siu
from tests.appointments.video import FakeVideoProvider
from tests.browser.portal import PortalPage
from tests.browser.steps import (
    given_a_running_hl7_listener,
    given_the_demo_trust_is_loaded,
    given_these_messages_arrived,
    when_they_sign_in,
)
from tests.hl7.mllp_client import ack_code, control_id

pytestmark = pytest.mark.browser

LONDON = ZoneInfo("Europe/London")
# Monday 2 November 2026, 9am: the booking is for Thursday 19 November at 10:30am.
BOOKED_ON = datetime.datetime(2026, 11, 2, 9, 0, tzinfo=LONDON)
APPOINTMENT_START = datetime.datetime(2026, 11, 19, 10, 30, tzinfo=LONDON)


def screenshot(portal: PortalPage, name: str) -> None:
    folder = os.environ.get("CAREPORTAL_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    page = portal.page
    page.screenshot(path=f"{folder}/{name}-desktop.png", full_page=True)
    page.set_viewport_size({"width": 320, "height": 900})
    page.screenshot(path=f"{folder}/{name}-320.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


@pytest.fixture
def video(monkeypatch):
    provider = FakeVideoProvider()
    monkeypatch.setattr("careportal.appointments.services.video_provider", lambda: provider)
    return provider


def given_the_pas_sent_a_booking_over_mllp() -> bytes:
    raw = siu(
        "S12",
        appointment_id="APT-7001",
        start=APPOINTMENT_START,
        sent_at=BOOKED_ON - datetime.timedelta(minutes=5),
        minutes=20,
    )
    with given_a_running_hl7_listener() as listener, listener.client() as client:
        assert ack_code(client.request(raw)) == ("AA", control_id(raw))
    return raw


def test_an_appointment_sent_over_mllp_appears(portal, video) -> None:
    page = portal.page
    with time_machine.travel(BOOKED_ON, tick=False):
        # Given the demo trust, whose administrators have described the haematology clinic
        given_the_demo_trust_is_loaded()
        demo_clinics_load()
        # When the PAS books Eleanor an appointment over MLLP
        given_the_pas_sent_a_booking_over_mllp()

        # And she signs in and opens her appointments from the home page
        when_they_sign_in(portal, username="demo.patient")
        home = page.get_by_role("main")
        expect(home).to_contain_text("You have 1 upcoming appointment.")
        portal.click_and_wait(home.get_by_role("link", name="Appointments"))

        # Then she sees it in her upcoming appointments
        expect(page.get_by_role("heading", level=1)).to_have_text("Appointments")
        upcoming = page.get_by_role("list", name="Upcoming appointments, soonest first")
        expect(upcoming).to_contain_text("Thursday 19 November 2026")
        expect(upcoming).to_contain_text("10:30am to 10:50am")
        expect(upcoming).to_contain_text("In person: Haematology follow-up")
        expect(page.get_by_role("main")).to_contain_text("You have no past appointments in CarePortal.")
        screenshot(portal, "appointments-list")

        # When she opens it
        portal.click_and_wait(upcoming.get_by_role("link", name="Thursday 19 November 2026"))

        # Then she reads when, where, how to find it and what to bring
        expect(page.get_by_role("heading", level=1)).to_have_text("Appointment on Thursday 19 November")
        main = page.get_by_role("main")
        expect(main).to_contain_text("Royal Riverside Hospital")
        expect(main).to_contain_text("Follow the signs to Outpatients B")
        expect(main).to_contain_text("A list of the medicines you take")
        expect(main).to_contain_text("Dr Chidi Okafor")
        screenshot(portal, "appointment-detail")

        # When she downloads it for her calendar
        with page.expect_download() as download_info:
            main.get_by_role("link", name="Download this appointment for your calendar").click()
        download = download_info.value
        assert download.suggested_filename == "hospital-appointment-2026-11-19.ics"
        calendar = Calendar.from_ical(Path(download.path()).read_bytes())
        (event,) = calendar.walk("VEVENT")
        assert event["DTSTART"].dt == APPOINTMENT_START
        assert event["DTSTART"].params["TZID"] == "Europe/London"
        assert str(event["SUMMARY"]) == "Hospital appointment"

        # When she asks to rebook it, first forgetting to say when would suit
        portal.click_and_wait(main.get_by_role("link", name="Ask to cancel or rebook this appointment"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Ask to cancel or rebook an appointment")
        page.get_by_label("Rebook it for another day or time").check()
        page.get_by_label("Why do you want to change it?").fill("I will be away visiting my sister that week.")
        portal.click_and_wait(page.get_by_role("button", name="Send request"), status=400)

        # Then she is told what is missing
        expect(page.get_by_role("alert")).to_contain_text(
            "Enter the days and times that would suit for the new appointment"
        )
        screenshot(portal, "appointment-change-error")

        # When she says which days suit and sends it
        page.get_by_label("If you are rebooking, which days and times would suit you?").fill("Any Tuesday morning")
        portal.click_and_wait(page.get_by_role("button", name="Send request"))

        # Then the request is in Haematology's messages inbox, and the appointment has not changed
        expect(page.get_by_role("heading", level=1)).to_have_text("Request sent")
        screenshot(portal, "appointment-change-sent")
        thread = Thread.objects.get()
        assert (thread.care_team.name, thread.subject) == ("Haematology", "Request to rebook an appointment")
        appointment = Appointment.objects.get(external_id="APT-7001")
        assert (appointment.status, appointment.start) == (AppointmentStatus.BOOKED, APPOINTMENT_START)


def test_the_video_join_button_appears_only_in_its_window(portal, video) -> None:
    page = portal.page
    # The sample video appointment: Thursday 19 November 2026, 2pm to 2:30pm
    with time_machine.travel(datetime.datetime(2026, 11, 19, 13, 0, tzinfo=LONDON), tick=False) as clock:
        given_the_demo_trust_is_loaded()
        given_these_messages_arrived("siu_s12_video.hl7")
        appointment = Appointment.objects.get(external_id="APT-5531")
        assert appointment.video_meeting_status == MeetingStatus.READY
        detail = f"/appointments/{appointment.public_id}/"

        # At 1pm, the page says when the button will appear
        when_they_sign_in(portal, username="demo.patient")
        portal.goto(detail)
        expect(page.get_by_role("heading", level=1)).to_have_text("Video appointment on Thursday 19 November")
        main = page.get_by_role("main")
        expect(main).to_contain_text("The button to join will appear here from 1:30pm on Thursday 19 November.")
        expect(main.get_by_role("button", name="Join video appointment")).to_have_count(0)
        expect(main.get_by_role("link", name="Test your camera and microphone")).to_have_attribute(
            "href", "/appointments/test-camera-and-microphone/"
        )
        screenshot(portal, "video-before")
        # And going to the join address early says the same, without the link
        portal.goto(f"{detail}join/")
        expect(page.get_by_role("heading", level=1)).to_have_text("You cannot join this video appointment now")
        assert "video.example.nhs.uk" not in page.content()

        # At 1:30pm the button is there, and leads to the meeting through CarePortal
        # (half an hour without a click signs anyone out: she signs in again)
        clock.move_to(datetime.datetime(2026, 11, 19, 13, 30, tzinfo=LONDON))
        when_they_sign_in(portal, username="demo.patient")
        portal.goto(detail)
        join = page.get_by_role("main").get_by_role("button", name="Join video appointment")
        expect(join).to_have_attribute("href", f"{detail}join/")
        assert "video.example.nhs.uk" not in page.content()
        screenshot(portal, "video-open")
        redirect = page.request.get(f"{detail}join/", max_redirects=0)
        assert redirect.status == 302
        assert redirect.headers["location"].startswith("https://video.example.nhs.uk/join/")

        # At 2:30pm it has ended
        clock.move_to(datetime.datetime(2026, 11, 19, 14, 30, tzinfo=LONDON))
        when_they_sign_in(portal, username="demo.patient")
        portal.goto(detail)
        expect(page.get_by_role("main")).to_contain_text("This video appointment has ended.")
        expect(page.get_by_role("main").get_by_role("button", name="Join video appointment")).to_have_count(0)
