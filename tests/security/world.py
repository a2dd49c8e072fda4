"""The data set the IDOR matrix probes: two patients, A and B, and the people who must not reach B's record.

B is 16, so that B's parent is "a proxy of a 16-year-old" (appointments only, careportal/access/proxy_policy.py).
The objects behind each address are built by the builders of tests/access/object_urls.py (one per URL name), for
B, and for A when B is the one probing.
"""

import datetime
import re
from dataclasses import dataclass, field
from typing import Any

from django.test import Client
from django.utils import timezone

from careportal.patients.models import Patient
from tests.accounts.factories import UserFactory
from tests.patients.factories import (
    CareRelationshipFactory,
    CareTeamFactory,
    CareTeamMembershipFactory,
    PatientWithAccountFactory,
)
from tests.proxy.factories import ProxyRelationshipFactory

# Names nothing else in the portal shows, so that finding one in a page can only mean the patient's record leaked.
PATIENT_A_NAMES = {"given_name": "Aurelianne", "family_name": "Quixmoorfield"}
PATIENT_B_NAMES = {"given_name": "Berenikka", "family_name": "Zolltannery"}

# Who probes. "patient_b" probes patient A's objects; everyone else probes patient B's.
ACTORS = (
    "patient_a",
    "patient_b",
    "proxy_without_scope",
    "revoked_proxy",
    "proxy_of_16_year_old",
    "clinician_other_team",
    "helpdesk",
    "anonymous",
)

# The proxy without the scope holds letters and details only: results, messages and appointments are not theirs.
PROXY_WITHOUT_SCOPE_SCOPES = ["letters", "details"]


def born_years_ago(years: int) -> datetime.date:
    """A birth date two months past the `years`th birthday, so that no test run falls on a birthday."""
    today = timezone.localdate()
    return today.replace(year=today.year - years, day=min(today.day, 28)) - datetime.timedelta(days=60)


def identifiers(patient: Patient) -> list[str]:
    """What identifies a patient in a page or a resource: names, NHS number (plain and spaced), hospital number."""
    nhs = patient.nhs_number
    return [
        patient.given_name,
        patient.family_name,
        nhs,
        f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}",
        patient.hospital_number,
    ]


@dataclass
class World:
    patient_a: Patient
    patient_b: Patient
    users: dict[str, Any]  # actor name -> user (None for anonymous)
    relationships: dict[str, Any] = field(default_factory=dict)  # proxy actor -> their relationship with B
    b_team: Any = None

    def client(self, actor: str) -> Client:
        client = Client()
        user = self.users[actor]
        if user is not None:
            client.force_login(user)
        return client

    def target_of(self, actor: str) -> Patient:
        """Whose objects `actor` probes."""
        return self.patient_a if actor == "patient_b" else self.patient_b


def build_world() -> World:
    patient_a = PatientWithAccountFactory(**PATIENT_A_NAMES)
    patient_b = PatientWithAccountFactory(**PATIENT_B_NAMES, birth_date=born_years_ago(16))
    b_team = CareTeamFactory(name="Zolltannery care team")
    CareRelationshipFactory(patient=patient_b, care_team=b_team)
    other_team = CareTeamFactory(name="Another team entirely")
    relationships = {
        "proxy_without_scope": ProxyRelationshipFactory(
            patient=patient_b, basis="granted", relationship="friend", scopes=PROXY_WITHOUT_SCOPE_SCOPES
        ),
        "revoked_proxy": ProxyRelationshipFactory(patient=patient_b, basis="granted", status="revoked"),
        # Granted everything when B was a child; from B's 16th birthday, appointments only.
        "proxy_of_16_year_old": ProxyRelationshipFactory(patient=patient_b, basis="parental"),
    }
    users = {
        "patient_a": patient_a.user,
        "patient_b": patient_b.user,
        **{actor: relationship.proxy for actor, relationship in relationships.items()},
        "clinician_other_team": CareTeamMembershipFactory(care_team=other_team).user,
        "helpdesk": UserFactory(is_helpdesk=True),
        "anonymous": None,
    }
    return World(patient_a, patient_b, users, relationships, b_team)


_NONCE = re.compile(r'nonce="[^"]*"')
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')


def body_of(response: Any) -> str:
    content = b"".join(response.streaming_content) if getattr(response, "streaming", False) else response.content
    text = content.decode(errors="replace")
    return _CSRF.sub('name="csrfmiddlewaretoken" value=""', _NONCE.sub('nonce=""', text))
