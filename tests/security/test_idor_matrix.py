"""The IDOR matrix (issue 16, item 1): every address that takes an object id, probed with GET and POST by everyone
who must not reach the object, and every FHIR interaction in the CapabilityStatement, called with each of their
tokens.

The addresses come from the URL resolver (`tests/access/test_object_urls.py` walks it; a new address with a
parameter and no builder in `tests/access/object_urls.py` fails there and here). `REACHABLE` lists the few
(address, actor) pairs that are allowed; every other pair must be refused:

- no 2xx, and no redirect whose target names the object;
- no identifier of the object's patient (names, NHS number, hospital number) in the answer;
- "forbidden" and "absent" look the same: the answer for the real object equals, byte for byte apart from the CSRF
  token and the CSP nonce, the answer for an id that does not exist, for the same person.

The FHIR half calls every read, search and operation with a token for each person (minted as the SMART launch
would have: tests/fhir/factories.py) and checks the other patient's data never comes back.

Each test counts its probes and checks the count against a floor, so that a matrix that silently shrinks fails.
"""

import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from careportal import notifications
from careportal.access.layer import patient_choices
from careportal.audit.models import AccessEvent
from careportal.fhir import smart
from careportal.fhir.models import AppConnection
from careportal.notifications.kinds import SPECS, Kind
from tests.access.object_urls import EXCLUDED_NAMESPACES, NOT_PATIENT_OBJECT_URLS, OBJECT_URLS
from tests.appointments.factories import AppointmentFactory
from tests.fhir.conftest import api_for
from tests.fhir.factories import AppConnectionFactory, bearer_token
from tests.letters.factories import LetterFactory
from tests.messaging.factories import MessageFactory, ThreadFactory
from tests.proxy.factories import ProxyRelationshipFactory
from tests.results.factories import DiagnosticReportFactory, ObservationFactory
from tests.security.world import ACTORS, World, body_of, build_world, identifiers

pytestmark = pytest.mark.django_db

# (address, actor) pairs that may reach patient B's object: the helpdesk's own console, what B's parent keeps at 16
# (appointments), what the proxy without the scope does hold (letters), and choosing B's record to act for.
REACHABLE: dict[str, frozenset[str]] = {
    **{name: frozenset({"helpdesk"}) for name in OBJECT_URLS if name.startswith("helpdesk:")},
    **{name: frozenset({"proxy_of_16_year_old"}) for name in OBJECT_URLS if name.startswith("appointments:")},
    # (The print room's letter addresses are staff-only: not the proxy's.)
    **{name: frozenset({"proxy_without_scope"}) for name in ("letters:letter", "letters:view", "letters:download")},
    "home:act-for": frozenset({"proxy_without_scope", "proxy_of_16_year_old"}),
}

# The fewest probes each test must make: lower them only when addresses go away.
HTML_PROBES_PER_ACTOR_FLOOR = 140
FHIR_PROBES_FLOOR = 300


def _urls_with_parameters(patterns: list[Any], namespace: str = "") -> list[str]:
    names = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace in EXCLUDED_NAMESPACES:
                continue
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            names += _urls_with_parameters(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern) and entry.pattern.converters and entry.name:
            names.append(f"{namespace}{entry.name}")
    return names


def test_the_matrix_covers_every_address_with_an_object_id() -> None:
    found = set(_urls_with_parameters(get_resolver().url_patterns))
    missing = sorted(found - set(OBJECT_URLS) - set(NOT_PATIENT_OBJECT_URLS))
    assert not missing, f"Add a builder to tests/access/object_urls.py for: {missing}"
    assert set(REACHABLE) <= set(OBJECT_URLS)


# The notifications whose text carries a link, and the address it opens: each a single-use token, not an object id
# (tests/access/object_urls.py NOT_PATIENT_OBJECT_URLS says where each is tested).
NOTIFICATION_LINKS = {
    Kind.EMAIL_VERIFICATION: "an allauth email confirmation key, or patients:email-confirm",
    Kind.PASSWORD_RESET: "an allauth password reset key",
    Kind.PROXY_INVITATION: "proxy:invitation-link",
}


def test_notifications_link_to_no_object() -> None:
    """A notification may link only to a single-use token: a new kind with a link, or a template with an address of
    its own, fails here, so that its address joins the matrix."""
    with_links = {kind for kind, spec in SPECS.items() if "link" in spec.personalisation}
    assert with_links == set(NOTIFICATION_LINKS)
    templates = Path(notifications.__file__).parent / "jinja2" / "notifications"
    for template in templates.rglob("*.txt"):
        text = template.read_text()
        assert not re.search(r"https?://|/[a-z-]+/", text), f"{template.name} holds an address of its own"
        assert "{{ link }}" not in text or template.stem in set(NOTIFICATION_LINKS), template.name


def _unknown(kwargs: dict[str, Any]) -> dict[str, Any]:
    # An int parameter (an attachment's sequence) stays: it is not an id, and cannot take a uuid.
    return {key: value if isinstance(value, int) else uuid.uuid4() for key, value in kwargs.items()}


def _normalised(response: Any, kwargs: dict[str, Any]) -> tuple[int, str, str]:
    """Status, redirect target and body, with the ids in the address (which a sign-in redirect repeats in its
    `next`) replaced by a placeholder."""
    location = response.get("Location", "")
    body = body_of(response)
    for value in kwargs.values():
        if not isinstance(value, int):
            location = location.replace(str(value), "{id}")
            body = body.replace(str(value), "{id}")
    return response.status_code, location, body


def _refused(response: Any, kwargs: dict[str, Any], body: str, secrets: list[str]) -> str:
    """Why this answer gives the object away, or "" if it does not."""
    if 200 <= response.status_code < 300:
        return f"answered {response.status_code}"
    if 300 <= response.status_code < 400:
        target = response.get("Location", "").split("?")[0]
        if any(str(value) in target for value in kwargs.values() if not isinstance(value, int)):
            return f"redirected to the object ({target})"
    shown = [secret for secret in secrets if secret in body]
    if shown:
        return f"shows the patient's identifiers {shown}"
    return ""


@pytest.mark.parametrize("actor", ACTORS)
def test_no_one_reaches_another_patients_objects(actor: str, settings, tmp_path) -> None:
    settings.LETTER_ROOT = tmp_path / "letters"
    settings.MESSAGE_ATTACHMENT_ROOT = tmp_path / "attachments"
    settings.MEDIA_ROOT = tmp_path / "media"
    world = build_world()
    target = world.target_of(actor)
    secrets = identifiers(target)
    client = world.client(actor)
    failures: list[str] = []
    probes = 0
    reached = 0

    for name, (method, kwargs_for) in sorted(OBJECT_URLS.items()):
        kwargs = kwargs_for(target)
        url = reverse(name, kwargs=kwargs)
        if actor in REACHABLE.get(name, ()):
            # The control: the pairs that may reach the object do (so the refusals below are not an accident of
            # a broken data set).
            if method == "get":
                response = client.get(url)
                probes += 1
                reached += 1
                if response.status_code >= 400 and response.status_code != 503:
                    failures.append(f"{name}: {actor} may open it but got {response.status_code}")
            continue
        answers = {}
        for verb in ("get", "post"):
            response = getattr(client, verb)(url)
            probes += 1
            body = body_of(response)
            why = _refused(response, kwargs, body, secrets)
            if why:
                failures.append(f"{verb.upper()} {name} as {actor}: {why}")
            answers[verb] = response
        unknown_kwargs = _unknown(kwargs)
        unknown = getattr(client, method)(reverse(name, kwargs=unknown_kwargs))
        probes += 1
        if _normalised(answers[method], kwargs) != _normalised(unknown, unknown_kwargs):
            failures.append(
                f"{method.upper()} {name} as {actor}: the answer for the real object "
                f"({answers[method].status_code}) differs from the one for an unknown id ({unknown.status_code})"
            )

    print(f"\nIDOR matrix, {actor}: {probes} probes")
    assert not failures, "\n".join(failures)
    assert probes >= HTML_PROBES_PER_ACTOR_FLOOR, probes


# The FHIR API ---------------------------------------------------------------------------------------------------------

# The part of the record each resource type belongs to (careportal/fhir/reads.py KINDS); None: the record itself.
FHIR_PART = {
    "Patient": None,
    "Observation": "results",
    "DiagnosticReport": "results",
    "Appointment": "appointments",
    "Communication": "messages",
    "DocumentReference": "letters",
    "Binary": "letters",
    "RelatedPerson": "access_log",
    "AuditEvent": "access_log",
}
# What each person's token may read of the record they probe: the two proxies of B read the parts they hold.
FHIR_READABLE: dict[str, frozenset[str | None]] = {
    "proxy_without_scope": frozenset({None, "letters"}),
    "proxy_of_16_year_old": frozenset({None, "appointments"}),
}


def _resource_ids_of(patient: Any) -> dict[str, str]:
    """One resource of each type the API serves, all `patient`'s (as tests/fhir/test_openapi.py builds them)."""
    report = DiagnosticReportFactory(patient=patient, released=True)
    observation = ObservationFactory(report=report, sequence=1)
    letter = LetterFactory(patient=patient)
    # The patient's own app reading their record leaves an AuditEvent in it.
    api_for(patient.user, patient, app_name="Their own app").get("Appointment")
    return {
        "Patient": str(patient.public_id),
        "Observation": f"{report.public_id}-{observation.sequence}",
        "DiagnosticReport": str(report.public_id),
        "Appointment": str(AppointmentFactory(patient=patient).public_id),
        "Communication": str(MessageFactory(thread=ThreadFactory(patient=patient)).public_id),
        "DocumentReference": str(letter.public_id),
        "RelatedPerson": str(ProxyRelationshipFactory(patient=patient).public_id),
        "AuditEvent": str(AccessEvent.objects.filter(patient=patient).latest("pk").pk),
        "Binary": str(letter.public_id),
    }


def _token_for(world: World, actor: str) -> str | None:
    """A bearer token for the record `actor` reads through an app: their own (patients), B's (B's proxies, staff:
    a connection the SMART launch would never have made for them, which the API must still refuse), or none."""
    user = world.users[actor]
    if user is None:
        return None
    record = world.patient_a if actor == "patient_a" else world.patient_b
    choice = next((c for c in patient_choices(user) if c.patient.pk == record.pk), None)
    # What the consent page grants for `patient/*.read`: everything for a patient, the parts a proxy holds today
    # (for a revoked proxy or staff, what they would have held: everything).
    record_scopes = choice.scopes if choice is not None else frozenset()
    scopes = ["launch/patient", "patient/*.read"]
    granted = " ".join(smart.granted_scopes(scopes, record_scopes=record_scopes)) if choice else " ".join(scopes)
    connection: AppConnection = AppConnectionFactory(user=user, patient=record, scopes=granted)
    return bearer_token(connection, scope="launch/patient patient/*.read")


def _fhir_probes(capability: dict[str, Any], ids: dict[str, str], target: Any) -> list[tuple[str, str, dict]]:
    """(resource type, path, query) for every interaction the CapabilityStatement lists, aimed at `target`."""
    probes: list[tuple[str, str, dict]] = []
    for resource in capability["rest"][0]["resource"]:
        kind = resource["type"]
        codes = {interaction["code"] for interaction in resource["interaction"]}
        params = {param["name"] for param in resource.get("searchParam", [])}
        if "read" in codes:
            probes.append((kind, f"{kind}/{ids[kind]}", {}))
        for operation in resource.get("operation", []):
            probes.append((kind, f"{kind}/{ids[kind]}/${operation['name']}", {}))
        if "search-type" in codes:
            probes.append((kind, kind, {}))
            if "patient" in params:
                probes.append((kind, kind, {"patient": f"Patient/{target.public_id}"}))
                probes.append((kind, kind, {"patient": str(target.public_id)}))
            if "_id" in params:
                probes.append((kind, kind, {"_id": str(target.public_id)}))
            if "identifier" in params:
                probes.append((kind, kind, {"identifier": target.nhs_number}))
                probes.append((kind, kind, {"identifier": target.hospital_number}))
    return probes


def test_no_fhir_interaction_gives_another_patients_data(settings, tmp_path) -> None:
    settings.LETTER_ROOT = tmp_path / "letters"
    world = build_world()
    capability = Client().get("/fhir/r4/metadata").json()
    ids_of = {"patient_a": _resource_ids_of(world.patient_a), "patient_b": _resource_ids_of(world.patient_b)}
    failures: list[str] = []
    probes = 0

    for actor in ACTORS:
        target = world.target_of(actor)
        ids = ids_of["patient_a" if target == world.patient_a else "patient_b"]
        readable = FHIR_READABLE.get(actor, frozenset())
        token = _token_for(world, actor)
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
        client = Client()
        # What must never come back: the patient's identifiers (unless the token reads their record), and the ids
        # of the resources of parts the token does not read. (An AuditEvent's id is a small number: left out of the
        # body check, and checked by status and "same as absent" instead.)
        secrets = [] if None in readable else identifiers(target)
        secrets += [
            ids[kind]
            for kind, part in FHIR_PART.items()
            if part not in readable and kind not in ("Patient", "AuditEvent")
        ]

        for kind, path, query in _fhir_probes(capability, ids, target):
            response = client.get(f"/fhir/r4/{path}", query, **headers)
            probes += 1
            body = body_of(response)
            label = f"GET {path}?{query} as {actor}"
            # A search bundle's `self` link repeats the query the caller sent: that is not the record's data.
            echoed = body
            for value in query.values():
                echoed = echoed.replace(value, "{query}").replace(quote(value, safe=""), "{query}")
            shown = [secret for secret in secrets if secret in echoed]
            if shown:
                failures.append(f"{label}: shows {shown}")
            is_read = path != kind
            if is_read and FHIR_PART[kind] in readable and response.status_code != 200:
                # The control: what the token does read, it reads (so the refusals are not a broken token's).
                failures.append(f"{label}: may read it but got {response.status_code}")
            if is_read and FHIR_PART[kind] not in readable:
                if 200 <= response.status_code < 400:
                    failures.append(f"{label}: answered {response.status_code}")
                unknown_id = "999999999" if kind == "AuditEvent" else str(uuid.uuid4())
                unknown = client.get(f"/fhir/r4/{path.replace(ids[kind], unknown_id)}", query, **headers)
                probes += 1
                if (response.status_code, body.replace(ids[kind], "{id}")) != (
                    unknown.status_code,
                    body_of(unknown).replace(unknown_id, "{id}"),
                ):
                    failures.append(f"{label}: differs from the answer for an unknown id")

    print(f"\nIDOR matrix, FHIR: {probes} probes")
    assert not failures, "\n".join(failures)
    assert probes >= FHIR_PROBES_FLOOR, probes
