"""Browser journey: the demo integration administrator signs in with the emailed code, finds the inbound interfaces
from the staff console, is told what is wrong with a bad address, adds a sender, and the attack's sender stays
refused; and pages through every message received. Every page opened is checked with axe-core by `portal`
(tests/browser/portal.py)."""

import datetime
import os

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from careportal.hl7.models import (
    InboundArrival,
    InboundInterface,
    InboundInterfaceChange,
    InboundMessage,
    MessageStatus,
)
from tests.browser.steps import given_a_running_hl7_listener, given_the_demo_trust_is_loaded, when_staff_sign_in
from tests.hl7.mllp_client import ack_code
from tests.hl7.test_interfaces import ATTACK

pytestmark = pytest.mark.browser


def test_an_integration_administrator_adds_a_sender_and_an_unconfigured_one_stays_refused(portal):
    page = portal.page

    # Given the demo trust, whose interfaces allow the sample senders from this machine only
    given_the_demo_trust_is_loaded()

    # When the demo integration administrator signs in and opens the interfaces from the staff console
    when_staff_sign_in(portal, username="demo.integration")
    expect(page.get_by_role("heading", level=1)).to_have_text("Staff console")
    portal.click_and_wait(page.get_by_role("link", name="Inbound interfaces"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Inbound interfaces")
    expect(page.get_by_role("main")).to_contain_text("WINPATH at RRV_LAB")

    # And adds one with an address that is not an address
    portal.click_and_wait(page.get_by_role("button", name="Add an interface"))
    page.get_by_label("Name").fill("Radiology (CRIS)")
    page.get_by_label("Sending application (MSH-3)").fill("CRIS")
    page.get_by_label("Sending facility (MSH-4)").fill("RRV_RAD")
    page.get_by_label("Message types it may send").fill("ORU^R01")
    page.get_by_label("Addresses it sends from").fill("10.20.30.300")
    portal.click_and_wait(page.get_by_role("button", name="Save interface"), status=400)

    # Then the page says what is wrong, and nothing is saved
    expect(page.get_by_role("alert")).to_contain_text("10.20.30.300 is not an IP address or network")
    assert not InboundInterface.objects.filter(sending_application="CRIS").exists()

    # When they correct it
    page.get_by_label("Addresses it sends from").fill("10.20.30.0/24")
    portal.click_and_wait(page.get_by_role("button", name="Save interface"))

    # Then it is listed and the change recorded with who made it
    expect(page.get_by_role("main")).to_contain_text("CRIS at RRV_RAD")
    change = InboundInterfaceChange.objects.get(interface__sending_application="CRIS")
    assert change.changed_by is not None and change.changed_by.username == "demo.integration"

    # And the black-box test's sender is still refused over MLLP
    with given_a_running_hl7_listener() as listener, listener.client() as client:
        assert ack_code(client.request(ATTACK)) == ("AR", "ATTACK1")


def test_an_integration_administrator_pages_through_every_message_received(portal):
    page = portal.page

    # Given the demo trust and a journal longer than one page
    given_the_demo_trust_is_loaded()
    moment = timezone.now()
    InboundMessage.objects.bulk_create(
        InboundMessage(
            received_at=moment - datetime.timedelta(minutes=60 - n),  # stored in the order received
            raw=b"MSH|^~\\&|WINPATH|RRV_LAB|CAREPORTAL|RRV|20261102093015||ORU^R01|X|P|2.4",
            message_type="ORU^R01",
            sending_application="WINPATH",
            sending_facility="RRV_LAB",
            control_id=f"JOURNEY{n}",
            status=MessageStatus.APPLIED,
            ack_code="AA",
        )
        for n in range(60)
    )
    # and two messages acknowledged after store that no worker has moved into the journal yet
    InboundArrival.objects.bulk_create(
        InboundArrival(received_at=moment, raw=b"MSH|^~\\&|WINPATH|RRV_LAB", ack_code="CA") for _ in range(2)
    )

    # When the integration administrator opens every message received from the staff console
    when_staff_sign_in(portal, username="demo.integration")
    portal.click_and_wait(page.get_by_role("link", name="Every message received"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Messages received")
    expect(page.get_by_role("table")).to_contain_text("Messages, newest first")
    expect(page.get_by_role("link", name="Newer messages")).to_have_count(0)
    expect(page.get_by_text("2 messages received and acknowledged are not in this list yet.")).to_be_visible()
    if folder := os.environ.get("CAREPORTAL_SCREENSHOTS"):
        page.screenshot(path=f"{folder}/hl7-messages-received.png", full_page=True)
        page.set_viewport_size({"width": 320, "height": 900})
        page.screenshot(path=f"{folder}/hl7-messages-received-320.png", full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})

    # Then older messages are one link away, and newer ones one link back
    portal.click_and_wait(page.get_by_role("link", name="Older messages"))
    expect(page.get_by_role("table")).to_contain_text("Messages received from")
    portal.click_and_wait(page.get_by_role("link", name="Newer messages"))
    expect(page.get_by_role("table")).to_contain_text("Messages, newest first")
