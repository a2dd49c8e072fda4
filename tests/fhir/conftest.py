"""Fixtures for the FHIR API: a patient with a connected app and a token, and a client that calls the API."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from careportal.access.scopes import Scope
from careportal.fhir import smart
from careportal.patients.models import Patient
from tests.fhir.factories import AppConnectionFactory, bearer_token
from tests.patients.factories import PatientWithAccountFactory
from tests.proxy.factories import ProxyRelationshipFactory


@pytest.fixture(autouse=True)
def letter_root(settings, tmp_path) -> Path:
    root = tmp_path / "private" / "letters"
    settings.LETTER_ROOT = root
    return root


@dataclass
class Api:
    """An app calling the API with one bearer token."""

    client: Client
    token: str
    patient: Patient

    def get(self, path: str, params: dict[str, Any] | None = None, **environ: str):
        """GET a path under /fhir/r4/ (or a full URL from a link), with `HTTP_ACCEPT=...` and the like."""
        url = path if path.startswith(("http", "/")) else f"/fhir/r4/{path}"
        return self.client.get(url, params or {}, HTTP_AUTHORIZATION=f"Bearer {self.token}", **environ)


def api_for(user, patient, *, scope: str = "", app_name: str = "My Health Diary", granted: str = "") -> Api:
    """An app's token for `patient`'s record: the connection holds `granted` (what the person allowed; by default
    everything), the token `scope` (by default the same)."""
    connection = AppConnectionFactory(
        user=user, patient=patient, application__name=app_name, **({"scopes": granted} if granted else {})
    )
    return Api(client=Client(), token=bearer_token(connection, scope=scope), patient=patient)


@pytest.fixture
def fhir_patient(db) -> Patient:
    return PatientWithAccountFactory(
        hospital_number="40012345", nhs_number="9990000018", given_name="Eleanor", family_name="Hargreaves"
    )


@pytest.fixture
def api(fhir_patient) -> Api:
    return api_for(fhir_patient.user, fhir_patient)


@pytest.fixture
def proxy_api(db):
    """A parent's app, for their child's record, within `scopes`. The connection holds what the consent page would
    have granted them for `patient/*.read`; the token claims all of `patient/*.read` unless `scope` says otherwise,
    so that the tests show the proxy's own access, not only the token, narrowing what the app reads."""

    def make(scopes: list[str], *, sensitive: list[str] | None = None, scope: str = "") -> Api:
        relationship = ProxyRelationshipFactory(scopes=scopes, sensitive_categories_granted=sensitive or [])
        record_scopes = frozenset(Scope(s) for s in scopes)
        granted = " ".join(smart.granted_scopes(["launch/patient", "patient/*.read"], record_scopes=record_scopes))
        return api_for(
            relationship.proxy, relationship.patient, scope=scope or "launch/patient patient/*.read", granted=granted
        )

    return make
