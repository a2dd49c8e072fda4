"""A SMART app's side of the standalone launch, through Django's test client: PKCE, the authorize request, the
consent form and the token exchange."""

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

from django.test import Client

AUTHORIZE = "/fhir/r4/auth/authorize/"
TOKEN = "/fhir/r4/auth/token/"
REVOKE = "/fhir/r4/auth/revoke/"
REDIRECT_URI = "http://127.0.0.1:8765/callback"
SCOPE = "launch/patient openid fhirUser offline_access patient/*.read"


def record_choices(page) -> list[str]:  # type: ignore[no-untyped-def]
    """The records offered on the consent page (public ids), from its radios or its one hidden field."""
    return re.findall(r'name="record"[^>]*value="([^"]+)"', page.content.decode())


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@dataclass
class Launch:
    client: Client
    client_id: str
    scope: str = SCOPE
    redirect_uri: str = REDIRECT_URI
    verifier: str = ""
    challenge: str = ""
    state: str = field(default_factory=lambda: secrets.token_urlsafe(8))
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.verifier, self.challenge = pkce_pair()

    def authorize_params(self) -> dict:
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "state": self.state,
            "aud": "http://testserver/fhir/r4",
            "code_challenge": self.challenge,
            "code_challenge_method": "S256",
        }
        params.update(self.extra)
        return {k: v for k, v in params.items() if v is not None}

    def authorize(self):  # type: ignore[no-untyped-def]
        return self.client.get(f"{AUTHORIZE}?{urlencode(self.authorize_params())}")

    def consent(self, page, *, record: str | None = None, decision: str = "allow"):  # type: ignore[no-untyped-def]
        html = page.content.decode()
        data = {"request_id": re.search(r'name="request_id" value="([^"]+)"', html)[1], "decision": decision}
        records = record_choices(page)
        if record is not None:
            data["record"] = record
        elif len(records) == 1:
            data["record"] = records[0]
        return self.client.post(AUTHORIZE, data)

    def code_from(self, response) -> str:  # type: ignore[no-untyped-def]
        assert response.status_code == 302, response.content
        query = parse_qs(urlsplit(response["Location"]).query)
        assert query["state"] == [self.state]
        return query["code"][0]

    def token(self, code: str, **overrides: str):  # type: ignore[no-untyped-def]
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "client_id": self.client_id,
            "code_verifier": self.verifier,
            **overrides,
        }
        return Client().post(TOKEN, data)

    def full(self, *, record: str | None = None) -> dict:
        page = self.authorize()
        assert page.status_code == 200, page.content
        response = self.token(self.code_from(self.consent(page, record=record)))
        assert response.status_code == 200, response.content
        return response.json()
