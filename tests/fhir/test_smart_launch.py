"""The SMART standalone patient launch end to end with Django's test client: consent, code, token with PKCE, the
token's record, refresh, revocation, and every way a request is refused."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client, RequestFactory
from jwcrypto import jwk, jwt
from oauth2_provider.models import AccessToken, Application, RefreshToken

from careportal.audit.models import AccessEvent
from careportal.audit.presenters import access_log_entry
from careportal.fhir.authentication import FhirUnauthorized, caller_for_request
from careportal.fhir.models import AppConnection, TokenContext
from tests.fhir.factories import ApplicationFactory
from tests.fhir.smart_client import REVOKE, TOKEN, Launch, record_choices
from tests.patients.factories import PatientWithAccountFactory
from tests.proxy.factories import ProxyRelationshipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def app():
    return ApplicationFactory(name="Health Diary", algorithm=Application.RS256_ALGORITHM)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def caller(token: str):
    return caller_for_request(RequestFactory().get("/fhir/r4/Patient", HTTP_AUTHORIZATION=f"Bearer {token}"))


def test_a_patient_connects_an_app_and_its_token_reads_their_record(app) -> None:
    patient = PatientWithAccountFactory()
    launch = Launch(signed_in(patient.user), app.client_id)

    page = launch.authorize()
    assert page.status_code == 200
    text = page.content.decode()
    assert "Allow Health Diary to see your information?" in text
    assert "Test results" in text and "Appointments" in text
    body = launch.token(launch.code_from(launch.consent(page))).json()

    assert body["patient"] == str(patient.public_id)
    assert body["token_type"] == "Bearer"
    assert set(body["scope"].split()) == set(launch.scope.split())
    assert body["refresh_token"]
    connection = AppConnection.objects.get()
    assert (connection.user, connection.patient, connection.application) == (patient.user, patient, app)
    token = AccessToken.objects.get(application=app)
    assert TokenContext.objects.get(access_token=token).connection == connection
    assert caller(body["access_token"]).viewer.patient == patient

    claims = id_token_claims(body["id_token"], page)
    assert claims["fhirUser"] == f"http://testserver/fhir/r4/Patient/{patient.public_id}"
    assert claims["aud"] == app.client_id
    assert claims["iss"] == "http://testserver/fhir/r4/auth"


def id_token_claims(token: str, page) -> dict:
    keys = Client().get("/fhir/r4/auth/.well-known/jwks.json").json()
    keyset = jwk.JWKSet.from_json(json.dumps(keys))
    return json.loads(jwt.JWT(jwt=token, key=keyset).claims)


def test_refresh_keeps_the_record_and_the_old_refresh_token_is_refused(app) -> None:
    patient = PatientWithAccountFactory()
    launch = Launch(signed_in(patient.user), app.client_id)
    first = launch.full()

    refreshed = Client().post(
        TOKEN, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"], "client_id": app.client_id}
    )

    assert refreshed.status_code == 200, refreshed.content
    body = refreshed.json()
    assert body["patient"] == str(patient.public_id)
    assert caller(body["access_token"]).viewer.patient == patient
    with pytest.raises(FhirUnauthorized):
        caller(first["access_token"])
    replay = Client().post(
        TOKEN, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"], "client_id": app.client_id}
    )
    assert replay.status_code == 400


def test_without_offline_access_there_is_no_refresh_token(app) -> None:
    patient = PatientWithAccountFactory()
    body = Launch(signed_in(patient.user), app.client_id, scope="launch/patient patient/Observation.rs").full()
    assert "refresh_token" not in body
    assert body["scope"] == "launch/patient patient/Observation.rs"
    assert not RefreshToken.objects.exists()


def test_a_revoked_token_is_refused(app) -> None:
    patient = PatientWithAccountFactory()
    body = Launch(signed_in(patient.user), app.client_id).full()

    response = Client().post(REVOKE, {"token": body["access_token"], "client_id": app.client_id})

    assert response.status_code == 200
    with pytest.raises(FhirUnauthorized):
        caller(body["access_token"])
    refresh = Client().post(
        TOKEN, {"grant_type": "refresh_token", "refresh_token": body["refresh_token"], "client_id": app.client_id}
    )
    assert refresh.status_code == 400


def test_disconnecting_ends_every_token_and_refresh(app) -> None:
    patient = PatientWithAccountFactory()
    client = signed_in(patient.user)
    body = Launch(client, app.client_id).full()
    connection = AppConnection.objects.get()

    page = client.get(f"/your-apps/{connection.public_id}/disconnect/")
    assert page.status_code == 200
    response = client.post(f"/your-apps/{connection.public_id}/disconnect/")

    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.revoked_at is not None
    assert not AccessToken.objects.exists()
    # Both the connecting and the disconnecting are in the patient's own access log, by the patient, naming the app
    changes = AccessEvent.objects.filter(patient=patient, object_type="fhir.appconnection").order_by("id")
    assert [(e.action, e.actor_id) for e in changes] == [("create", patient.user.pk), ("delete", patient.user.pk)]
    log = [access_log_entry(e, patient=patient).sentence for e in changes]
    assert log[0].startswith(f"You added the app {app.name}'s access to your record on ")
    assert log[1].startswith(f"You removed the app {app.name}'s access to your record on ")
    with pytest.raises(FhirUnauthorized):
        caller(body["access_token"])
    refresh = Client().post(
        TOKEN, {"grant_type": "refresh_token", "refresh_token": body["refresh_token"], "client_id": app.client_id}
    )
    assert refresh.status_code == 400


def error_of(response) -> dict:
    assert response.status_code == 302, response.content
    return {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"scope": "launch/patient patient/*.read admin"}, "invalid_scope"),
        ({"scope": "patient/Observation.write"}, "invalid_scope"),
        ({"scope": "user/*.read"}, "invalid_scope"),
        ({"scope": "patient/Observation.rs?category=laboratory"}, "invalid_scope"),
        ({"aud": "https://elsewhere.example/fhir"}, "invalid_request"),
    ],
)
def test_a_request_smart_does_not_allow_goes_back_to_the_app_with_an_error(app, extra, error) -> None:
    patient = PatientWithAccountFactory()
    launch = Launch(signed_in(patient.user), app.client_id, extra=extra)

    response = launch.authorize()

    assert error_of(response)["error"] == error
    assert error_of(response)["state"] == launch.state
    assert not AppConnection.objects.exists()


def test_a_wrong_redirect_uri_is_not_followed(app) -> None:
    patient = PatientWithAccountFactory()
    launch = Launch(signed_in(patient.user), app.client_id, redirect_uri="https://attacker.example/callback")

    response = launch.authorize()

    assert response.status_code == 400
    assert "There is a problem with this app" in response.content.decode()


def test_the_code_needs_the_pkce_verifier_and_the_same_redirect_uri(app) -> None:
    patient = PatientWithAccountFactory()
    launch = Launch(signed_in(patient.user), app.client_id)
    code = launch.code_from(launch.consent(launch.authorize()))

    assert launch.token(code, code_verifier="x" * 50).status_code == 400
    launch2 = Launch(signed_in(patient.user), app.client_id)
    code2 = launch2.code_from(launch2.consent(launch2.authorize()))
    assert launch2.token(code2, redirect_uri="http://127.0.0.1:9999/other").status_code == 400


def test_refusing_sends_the_person_back_with_access_denied(app) -> None:
    patient = PatientWithAccountFactory()
    launch = Launch(signed_in(patient.user), app.client_id)

    response = launch.consent(launch.authorize(), decision="refuse")

    assert error_of(response)["error"] == "access_denied"
    assert not AppConnection.objects.exists()


def test_signing_in_comes_first() -> None:
    app = ApplicationFactory()
    response = Launch(Client(), app.client_id).authorize()
    assert response.status_code == 302
    assert response["Location"].startswith("/sign-in/")


def test_a_proxy_shares_only_the_record_they_act_for_within_their_scopes(app) -> None:
    relationship = ProxyRelationshipFactory(scopes=["appointments"])
    launch = Launch(signed_in(relationship.proxy), app.client_id)

    page = launch.authorize()
    text = page.content.decode()
    assert "Appointments" in text
    assert "test results" in text  # said to be withheld
    body = launch.token(launch.code_from(launch.consent(page))).json()

    granted = body["scope"].split()
    assert "patient/Appointment.read" in granted
    assert not any(s.startswith("patient/Observation") or s == "patient/*.read" for s in granted)
    assert body["patient"] == str(relationship.patient.public_id)
    claims = id_token_claims(body["id_token"], page)
    assert claims["fhirUser"] == f"http://testserver/fhir/r4/RelatedPerson/{relationship.public_id}"
    assert caller(body["access_token"]).viewer.is_proxy


def test_a_proxy_cannot_choose_a_record_they_do_not_act_for(app) -> None:
    relationship = ProxyRelationshipFactory()
    stranger = PatientWithAccountFactory()
    launch = Launch(signed_in(relationship.proxy), app.client_id)

    response = launch.consent(launch.authorize(), record=str(stranger.public_id))

    assert response.status_code == 400
    assert "Select whose record the app should see" in response.content.decode()
    assert not AppConnection.objects.exists()


def test_someone_with_their_own_record_and_a_childs_chooses(app) -> None:
    patient = PatientWithAccountFactory()
    relationship = ProxyRelationshipFactory(proxy=patient.user, scopes=["results"])
    launch = Launch(signed_in(patient.user), app.client_id)
    page = launch.authorize()
    assert len(record_choices(page)) == 2

    body = launch.token(launch.code_from(launch.consent(page, record=str(relationship.patient.public_id)))).json()

    assert body["patient"] == str(relationship.patient.public_id)


def test_another_persons_connection_is_not_found(app) -> None:
    patient = PatientWithAccountFactory()
    Launch(signed_in(patient.user), app.client_id).full()
    connection = AppConnection.objects.get()
    other = signed_in(PatientWithAccountFactory().user)

    assert other.get(f"/your-apps/{connection.public_id}/disconnect/").status_code == 404
    assert other.post(f"/your-apps/{connection.public_id}/disconnect/").status_code == 404
    connection.refresh_from_db()
    assert connection.revoked_at is None
    assert "Health Diary" not in other.get("/your-apps/").content.decode()


def test_the_connected_apps_page_lists_the_apps(app) -> None:
    patient = PatientWithAccountFactory()
    client = signed_in(patient.user)
    Launch(client, app.client_id, scope="launch/patient patient/Observation.rs").full()

    text = client.get("/your-apps/").content.decode()

    assert "Health Diary" in text and "Your record" in text and "Test results" in text and "Not used yet" in text


def test_the_smart_configuration() -> None:
    data = Client().get("/fhir/r4/.well-known/smart-configuration").json()
    assert data["authorization_endpoint"] == "http://testserver/fhir/r4/auth/authorize/"
    assert data["token_endpoint"] == "http://testserver/fhir/r4/auth/token/"
    assert data["revocation_endpoint"] == "http://testserver/fhir/r4/auth/revoke/"
    assert data["code_challenge_methods_supported"] == ["S256"]
    assert data["response_types_supported"] == ["code"]
    assert data["issuer"] == "http://testserver/fhir/r4/auth"
    assert {"launch-standalone", "permission-v2", "sso-openid-connect", "client-public"} <= set(data["capabilities"])
    discovery = Client().get("/fhir/r4/auth/.well-known/openid-configuration").json()
    assert discovery["issuer"] == data["issuer"]
    assert discovery["jwks_uri"] == data["jwks_uri"]


def test_the_security_page_links_to_connected_apps() -> None:
    patient = PatientWithAccountFactory()
    assert 'href="/your-apps/"' in signed_in(patient.user).get("/account/security/").content.decode()


def test_the_oauth_server_metadata_names_the_same_issuer() -> None:
    data = Client().get("/fhir/r4/auth/.well-known/oauth-authorization-server").json()
    assert data["issuer"] == "http://testserver/fhir/r4/auth"
    assert data["code_challenge_methods_supported"] == ["S256"]
    assert data["response_types_supported"] == ["code"]
    assert data["grant_types_supported"] == ["authorization_code", "refresh_token"]


def test_the_authorisation_response_names_the_issuer(app) -> None:
    patient = PatientWithAccountFactory()
    launch = Launch(signed_in(patient.user), app.client_id)
    response = launch.consent(launch.authorize())
    assert error_of(response)["iss"] == "http://testserver/fhir/r4/auth"
