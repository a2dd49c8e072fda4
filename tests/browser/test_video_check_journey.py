"""A patient tests their camera and microphone before a video appointment, in a real Chromium.

This journey needs a camera and a microphone: it launches its own Chromium with Chromium's fake devices (a moving
test picture and a beeping microphone); the other journeys' browser is left as it is. The patient's answer to the
browser's "allow camera and microphone?" question is Playwright's: granted for the happy path, and not granted
(headless Chromium then refuses) to check what a patient sees when the browser refuses. It also checks the page
without JavaScript. Every page state is checked with axe-core (WCAG 2.2 A and AA) through `PortalPage`.

Screenshots (desktop and 320 px wide) go to $CAREPORTAL_SCREENSHOTS when it is set.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.chromium import CHROMIUM_ARGS, chromium_path
from tests.browser.portal import PortalPage
from tests.browser.steps import given_the_demo_trust_is_loaded, when_they_sign_in

pytestmark = pytest.mark.browser

URL = "/appointments/test-camera-and-microphone/"
FAKE_MEDIA_ARGS = ["--use-fake-device-for-media-stream"]


@pytest.fixture
def browser_with_a_camera(playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=chromium_path(), args=[*CHROMIUM_ARGS, *FAKE_MEDIA_ARGS])
    yield browser
    browser.close()


@pytest.fixture
def camera_portal(browser_with_a_camera, browser_context_args, live_server, transactional_db) -> Iterator[PortalPage]:
    context = browser_with_a_camera.new_context(**{**browser_context_args, "base_url": live_server.url})
    page = context.new_page()
    page.set_default_timeout(10_000)
    portal = PortalPage(page)
    yield portal
    context.close()
    assert portal.pages_checked, "a browser test must open at least one page through `portal`"


def screenshot(portal: PortalPage, name: str) -> None:
    directory = os.environ.get("CAREPORTAL_SCREENSHOTS")
    if not directory:
        return
    Path(directory).mkdir(parents=True, exist_ok=True)
    page = portal.page
    size = page.viewport_size
    page.screenshot(path=str(Path(directory) / f"{name}-desktop.png"), full_page=True)
    page.set_viewport_size({"width": 320, "height": 800})
    page.screenshot(path=str(Path(directory) / f"{name}-320.png"), full_page=True)
    if size:
        page.set_viewport_size(size)


def test_patient_sees_their_camera_and_hears_their_microphone_then_stops_the_test(camera_portal, live_server):
    portal, page = camera_portal, camera_portal.page

    # Given the demo patient is signed in
    given_the_demo_trust_is_loaded()
    when_they_sign_in(portal, username="demo.patient")

    # When they open the camera and microphone test
    portal.goto(URL)

    # Then the test is offered (the no-JavaScript text is gone) with what to do when the browser asks
    main = page.get_by_role("main")
    expect(page.get_by_role("heading", level=1)).to_have_text("Test your camera and microphone")
    expect(main.get_by_text("This test needs JavaScript")).to_be_hidden()
    expect(main).to_contain_text("your browser will ask whether this page may use your camera and microphone")

    # When they start the test and allow the page to use the camera and microphone
    page.context.grant_permissions(["camera", "microphone"], origin=live_server.url)
    page.get_by_role("button", name="Start the test").click()

    # Then their camera's picture plays, the microphone meter moves, and the page says it can hear them
    video = page.locator("[data-camera-video]")
    expect(video).to_be_visible()
    page.wait_for_function("v => v.videoWidth > 0 && !v.paused", arg=video.element_handle())
    page.wait_for_function("() => document.querySelector('#microphone-level').value > 0")
    expect(page.get_by_role("status")).to_have_text("We can hear you: your microphone is working.", timeout=15_000)
    expect(page.get_by_label("Microphone level")).to_be_visible()
    expect(page.get_by_role("button", name="Stop the test")).to_be_focused()
    expect(page.get_by_role("button", name="Start the test")).to_be_hidden()
    portal.check()
    screenshot(portal, "camera-check-running")

    # When they stop the test
    page.get_by_role("button", name="Stop the test").click()

    # Then the camera and microphone are released and the page says so
    expect(page.get_by_role("status")).to_have_text("The test has stopped. Your camera and microphone are off.")
    expect(video).to_be_hidden()
    assert page.evaluate("() => document.querySelector('[data-camera-video]').srcObject === null")
    expect(page.get_by_role("button", name="Start the test")).to_be_focused()
    portal.check()


def test_when_the_browser_refuses_the_camera_the_page_says_how_to_allow_it(camera_portal):
    portal, page = camera_portal, camera_portal.page
    given_the_demo_trust_is_loaded()
    when_they_sign_in(portal, username="demo.patient")

    # Given the browser will not let this site use the camera or microphone (nothing granted: headless Chromium
    # refuses, as a browser does after the patient chose "Block")
    portal.goto(URL)

    # When they start the test
    page.get_by_role("button", name="Start the test").click()

    # Then the page explains, in words, how to allow it, and moves focus there for screen readers
    refused = page.locator("[data-camera-state='denied']")
    expect(refused).to_be_visible()
    expect(refused).to_be_focused()
    expect(refused).to_contain_text("Your browser is not allowing this page to use your camera or microphone")
    expect(refused).to_contain_text("Reload this page")
    expect(page.locator("[data-camera-video]")).to_be_hidden()
    portal.check()
    screenshot(portal, "camera-check-refused")


def test_when_the_script_does_not_run_the_page_says_how_to_check_when_joining(camera_portal):
    portal, page = camera_portal, camera_portal.page
    given_the_demo_trust_is_loaded()
    when_they_sign_in(portal, username="demo.patient")

    # Given the test's script does not run (served empty here; the same as JavaScript being off, which the page's
    # HTML alone shows: tests/video/test_views.py)
    page.route("**/camera-check.mjs", lambda route: route.fulfill(body="", content_type="text/javascript"))

    portal.goto(URL)

    # Then the page says what to do instead, and offers no button that would do nothing
    main = page.get_by_role("main")
    expect(main.get_by_text("This test needs JavaScript")).to_be_visible()
    expect(main).to_contain_text("before you go in, the video call shows your camera")
    expect(page.get_by_role("button", name="Start the test")).to_be_hidden()
    screenshot(portal, "camera-check-no-javascript")
