"""A parent connects a health app to their child's record on the consent page, sees it on Connected apps, and
disconnects it. Every page is checked with axe."""

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from careportal.fhir.models import AppConnection
from careportal.fhir.registration import smart_app_register
from tests.browser.steps import given_the_demo_trust_is_loaded, when_they_sign_in
from tests.fhir.smart_client import pkce_pair

pytestmark = pytest.mark.browser


class _AppPage(BaseHTTPRequestHandler):
    """The app's own page, where the browser lands with the code."""

    def do_GET(self) -> None:
        body = b"<!doctype html><html lang='en'><title>App</title><h1>App</h1></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def app_callback() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _AppPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/callback"
    server.shutdown()


def test_parent_connects_an_app_to_their_childs_record_then_disconnects_it(portal, live_server, app_callback):
    page = portal.page

    # Given the demo trust is loaded and an app is registered
    given_the_demo_trust_is_loaded()
    app = smart_app_register(name="Family Health Diary", redirect_uris=[app_callback], confidential=False).application
    # When the demo parent signs in and the app sends them to the consent page
    when_they_sign_in(portal, username="demo.parent")
    _verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": app_callback,
        "scope": "launch/patient openid fhirUser patient/*.read",
        "state": "journey",
        "aud": f"{live_server.url}/fhir/r4",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    portal.goto(f"/fhir/r4/auth/authorize/?{urlencode(params)}")

    # Then it says, in plain words, what the app will see of their child's record
    expect(page.get_by_role("heading", level=1)).to_have_text("Allow Family Health Diary to see your information?")
    main = page.get_by_role("main")
    expect(main).to_contain_text("Arjun Patel")
    expect(main).to_contain_text("Appointments")

    # When they allow it
    with page.expect_navigation(url=re.compile("^" + re.escape(app_callback) + r"\?")):
        main.get_by_role("button", name="Allow", exact=True).click()

    # Then the app gets a code for Arjun's record
    assert "code=" in page.url and "state=journey" in page.url
    connection = AppConnection.objects.get()
    assert connection.patient.given_name == "Arjun"

    # When they open Connected apps
    portal.goto("/your-apps/")

    # Then the app is listed, with whose record it reads
    expect(page.get_by_role("heading", level=1)).to_have_text("Connected apps")
    expect(page.get_by_role("main")).to_contain_text("Family Health Diary")
    expect(page.get_by_role("main")).to_contain_text("Arjun Patel's record")

    # When they disconnect it, confirming first
    portal.click_and_wait(page.get_by_role("main").get_by_role("link", name=re.compile("^Disconnect")))
    expect(page.get_by_role("heading", level=1)).to_have_text("Disconnect Family Health Diary?")
    portal.click_and_wait(page.get_by_role("main").get_by_role("button", name="Disconnect"))

    # Then it is gone
    expect(page.get_by_role("main")).to_contain_text("No apps are connected.")
    connection.refresh_from_db()
    assert connection.revoked_at is not None


def test_patient_sees_and_disconnects_an_app_connected_on_their_behalf(portal):
    from careportal.patients.models import Patient
    from tests.accounts.factories import UserFactory
    from tests.fhir.factories import AppConnectionFactory
    from tests.proxy.factories import ProxyRelationshipFactory

    page = portal.page

    # Given someone acting for the demo patient connected an app to their record, and a second one whose access
    # (that person's) has since been taken away
    given_the_demo_trust_is_loaded()
    patient = Patient.objects.get(user__username="demo.patient")
    helper = UserFactory(first_name="Priya", last_name="Shah")
    ProxyRelationshipFactory(proxy=helper, patient=patient, basis="granted", relationship="daughter")
    appointments = "launch/patient patient/Appointment.read"
    AppConnectionFactory(user=helper, patient=patient, application__name="Care Planner", scopes=appointments)
    former = UserFactory(first_name="Sam", last_name="Jones")
    ProxyRelationshipFactory(proxy=former, patient=patient, basis="granted", status="revoked")
    stopped = AppConnectionFactory(user=former, patient=patient, application__name="Old Organiser", scopes=appointments)

    # When the patient opens Connected apps
    when_they_sign_in(portal, username="demo.patient")
    portal.goto("/your-apps/")

    # Then both apps are listed, each saying who connected it, and the one that stopped says so
    main = page.get_by_role("main")
    expect(main).to_contain_text("Priya Shah, on your behalf")
    expect(main).to_contain_text("Sam Jones, on your behalf")
    expect(main).to_contain_text("This app has stopped")

    # When they disconnect the stopped one
    portal.click_and_wait(main.get_by_role("link", name="Disconnect Old Organiser from your record"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Disconnect Old Organiser?")
    portal.click_and_wait(page.get_by_role("main").get_by_role("button", name="Disconnect"))

    # Then it is gone and the other stays
    expect(page.get_by_role("main")).to_contain_text("Old Organiser is disconnected")
    expect(page.get_by_role("main").get_by_role("heading", name="Care Planner")).to_be_visible()
    expect(page.get_by_role("main").get_by_role("heading", name="Old Organiser")).to_have_count(0)
    stopped.refresh_from_db()
    assert stopped.revoked_at is not None
