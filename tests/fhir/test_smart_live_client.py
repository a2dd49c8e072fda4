"""A real third-party client against a live server: requests-oauthlib (OAuth2Session with PKCE S256) discovers the
server, sends the person's browser to the consent page, exchanges the code and checks the token by introspection.
The person's browser is a requests session carrying a signed-in session cookie (as after signing in with two-step
verification)."""

import re

import pytest
import requests
from django.conf import settings
from django.test import Client, RequestFactory
from requests_oauthlib import OAuth2Session

from careportal.fhir.authentication import FhirUnauthorized, caller_for_request
from careportal.fhir.registration import smart_app_register
from tests.patients.factories import PatientWithAccountFactory
from tests.results.factories import DiagnosticReportFactory, ObservationFactory

REDIRECT_URI = "http://127.0.0.1:8765/callback"


@pytest.fixture
def insecure_transport_allowed(monkeypatch) -> None:
    # The live server speaks plain http on 127.0.0.1; oauthlib refuses http otherwise.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def browser_signed_in_as(user, live_server) -> requests.Session:
    client = Client()
    client.force_login(user)
    browser = requests.Session()
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    browser.cookies.set(settings.SESSION_COOKIE_NAME, cookie)
    return browser


@pytest.mark.django_db(transaction=True)
def test_requests_oauthlib_completes_a_standalone_launch(live_server, insecure_transport_allowed) -> None:
    patient = PatientWithAccountFactory()
    own_report = DiagnosticReportFactory(patient=patient, released=True)
    ObservationFactory(report=own_report, code="HB", name="Haemoglobin", value_numeric=131, unit="g/L")
    someone_else = DiagnosticReportFactory(patient=PatientWithAccountFactory(), released=True)
    ObservationFactory(report=someone_else, code="HB", name="Haemoglobin", value_numeric=99, unit="g/L")
    registered = smart_app_register(name="Health Diary", redirect_uris=[REDIRECT_URI], confidential=True)
    client_id, secret = registered.application.client_id, registered.client_secret
    config = requests.get(f"{live_server.url}/fhir/r4/.well-known/smart-configuration", timeout=10).json()
    app = OAuth2Session(
        client_id,
        redirect_uri=REDIRECT_URI,
        scope=["launch/patient", "openid", "fhirUser", "offline_access", "patient/Observation.rs"],
        pkce="S256",
    )
    authorize_url, state = app.authorization_url(config["authorization_endpoint"], aud=f"{live_server.url}/fhir/r4")

    browser = browser_signed_in_as(patient.user, live_server)
    page = browser.get(authorize_url, timeout=10)
    assert page.status_code == 200
    assert "Allow Health Diary to see your information?" in page.text
    form = {
        "csrfmiddlewaretoken": re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[1],
        "request_id": re.search(r'name="request_id" value="([^"]+)"', page.text)[1],
        "record": str(patient.public_id),
        "decision": "allow",
    }
    consent = browser.post(config["authorization_endpoint"], data=form, allow_redirects=False, timeout=10)
    assert consent.status_code == 302
    callback = consent.headers["Location"]
    assert callback.startswith(REDIRECT_URI)
    assert f"state={state}" in callback

    token = app.fetch_token(config["token_endpoint"], authorization_response=callback, client_secret=secret)

    assert token["patient"] == str(patient.public_id)
    assert "patient/Observation.rs" in token["scope"]
    assert token["id_token"] and token["refresh_token"]
    introspection = requests.post(
        config["introspection_endpoint"], data={"token": token["access_token"]}, auth=(client_id, secret), timeout=10
    ).json()
    assert introspection["active"] is True
    assert introspection["patient"] == str(patient.public_id)
    request = RequestFactory().get("/fhir/r4/Observation", HTTP_AUTHORIZATION=f"Bearer {token['access_token']}")
    caller = caller_for_request(request)
    assert caller.viewer.patient == patient and caller.app_name == "Health Diary"
    assert caller.may("Observation", "search") and not caller.may("Appointment", "read")

    # The app reads the patient's Observations from the live FHIR API with its token
    fhir = f"{live_server.url}/fhir/r4"
    found = app.get(f"{fhir}/Observation", params={"patient": str(patient.public_id)}, timeout=10)
    assert found.status_code == 200 and found.headers["Content-Type"].startswith("application/fhir+json")
    observations = [entry["resource"] for entry in found.json()["entry"]]
    assert [o["valueQuantity"]["value"] for o in observations] == [131]
    # And never another patient's: their observation is "not found", and a search for them finds nothing of theirs
    assert app.get(f"{fhir}/Observation/{someone_else.public_id}-1", timeout=10).status_code == 404
    assert app.get(f"{fhir}/Appointment", timeout=10).status_code == 403  # a scope the app was not given

    refreshed = app.refresh_token(config["token_endpoint"], auth=(client_id, secret))
    assert refreshed["patient"] == str(patient.public_id)

    revoked = requests.post(
        config["revocation_endpoint"], data={"token": refreshed["access_token"]}, auth=(client_id, secret), timeout=10
    )
    assert revoked.status_code == 200
    again = requests.post(
        config["introspection_endpoint"],
        data={"token": refreshed["access_token"]},
        auth=(client_id, secret),
        timeout=10,
    ).json()
    assert again == {"active": False}
    request = RequestFactory().get("/fhir/r4/Observation", HTTP_AUTHORIZATION=f"Bearer {refreshed['access_token']}")
    with pytest.raises(FhirUnauthorized):
        caller_for_request(request)
    refused = requests.get(
        f"{fhir}/Observation", headers={"Authorization": f"Bearer {refreshed['access_token']}"}, timeout=10
    )
    assert refused.status_code == 401 and refused.json()["resourceType"] == "OperationOutcome"


@pytest.mark.django_db(transaction=True)
def test_introspection_shows_a_client_only_its_own_tokens(live_server) -> None:
    first = smart_app_register(name="First", redirect_uris=[REDIRECT_URI], confidential=True)
    second = smart_app_register(name="Second", redirect_uris=[REDIRECT_URI], confidential=True)
    from tests.fhir.factories import AppConnectionFactory, bearer_token

    patient = PatientWithAccountFactory()
    token = bearer_token(AppConnectionFactory(user=patient.user, patient=patient, application=first.application))
    url = f"{live_server.url}/fhir/r4/auth/introspect/"

    own = requests.post(url, data={"token": token}, auth=(first.application.client_id, first.client_secret), timeout=10)
    other = requests.post(
        url, data={"token": token}, auth=(second.application.client_id, second.client_secret), timeout=10
    )
    nobody = requests.post(url, data={"token": token}, timeout=10)

    assert own.json()["active"] is True
    assert other.json() == {"active": False}
    assert nobody.status_code in (401, 403)
