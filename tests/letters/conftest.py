from pathlib import Path

import pytest

from careportal.hl7.interfaces import interfaces_cache_clear
from careportal.results.models import ResultRouting
from tests.hl7.interfaces import configure_test_interfaces
from tests.patients.factories import CareTeamFactory, PatientWithAccountFactory


@pytest.fixture(autouse=True)
def letter_root(settings, tmp_path) -> Path:
    """Each test keeps its letters in a folder of its own."""
    root = tmp_path / "private" / "letters"
    settings.LETTER_ROOT = root
    return root


@pytest.fixture
def hl7_interfaces(db):
    interfaces = configure_test_interfaces()
    yield interfaces
    interfaces_cache_clear()


@pytest.fixture
def haematology(db):
    team = CareTeamFactory(name="Haematology")
    # The sample letter's author (TXA-5) routes to Haematology, as for results.
    ResultRouting.objects.create(match="clinician", code="C1234567", care_team=team)
    return team


@pytest.fixture
def eleanor(db):
    """The patient the sample letters are for: paperless, with an account."""
    return PatientWithAccountFactory(
        hospital_number="40012345", nhs_number="9990000018", given_name="Eleanor", contact_preference="portal"
    )
