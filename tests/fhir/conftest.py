"""Fixtures for the FHIR API: a patient with a connected app and a token, and a client that calls the API."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

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


def api_for(user, patient, *, scope: str = "", app_name: str = "My Health Diary") -> Api:
    connection = AppConnectionFactory(user=user, patient=patient, application__name=app_name)
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
    """A parent's app, for their child's record: results and appointments only."""

    def make(scopes: list[str], *, sensitive: list[str] | None = None, scope: str = "") -> Api:
        relationship = ProxyRelationshipFactory(scopes=scopes, sensitive_categories_granted=sensitive or [])
        return api_for(relationship.proxy, relationship.patient, scope=scope)

    return make
