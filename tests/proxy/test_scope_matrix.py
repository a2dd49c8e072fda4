"""The proof that proxy scopes hold everywhere (issue 13): every patient-data address, for every scope a proxy may
be granted, for every way a relationship can be unusable, and for sensitive categories.

The table `PATIENT_URLS` names every view wrapped by `careportal.access.decorators.patient_area` (found by the
marker the decorator sets): the part of the record it needs, how to build its address from objects of the child's
record, and, for addresses that take a form, what to post and what the post would change. A new patient_area view
without a row here fails `test_every_patient_area_view_is_in_the_matrix`.

Each cell builds only what its address needs (one child, one proxy, one or two objects), so the cells run in any
order and on several workers.
"""

import datetime
import html
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.test import Client, TestCase
from django.urls import reverse
from django.utils import timezone

from careportal.access.layer import ACTING_FOR_SESSION_KEY
from careportal.access.proxy_policy import effective_proxy_scopes
from careportal.access.scopes import PROXY_GRANTABLE_SCOPES, Scope
from careportal.appointments.services import appointments_sensitive_category_refresh
from careportal.fhir.models import RecordExport
from careportal.letters.services import letters_sensitive_category_refresh
from careportal.messaging.attachments import CleanFile, attachments_store
from careportal.messaging.models import Message, Thread
from careportal.patients.models import Patient, PendingEmailChange
from careportal.proxy.models import ProxyPolicy, ProxyRelationship
from careportal.results.models import ReleaseRule, ResultPreference
from tests.access.patient_area import patient_area_url_names
from tests.accounts.factories import UserFactory
from tests.appointments.factories import AppointmentFactory, ClinicFactory
from tests.fhir.export_factories import RecordExportFactory
from tests.letters.factories import LetterFactory
from tests.messaging.factories import MessageFactory, ThreadFactory
from tests.messaging.files import png
from tests.patients.factories import CareRelationshipFactory, CareTeamFactory, PatientFactory
from tests.proxy.factories import ProxyRelationshipFactory
from tests.results.factories import DiagnosticReportFactory, ObservationFactory

pytestmark = pytest.mark.django_db

# What an address needs besides a scope a proxy can be granted.
ANY = "any usable relationship"  # pages that show nothing of the record beyond whose it is
PATIENT_ONLY = "the patient themself"  # never a proxy, whatever they were granted

CHILD_FAMILY_NAME = "Matrixchild"


# The objects each address is built from ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    """What a builder made in the child's record: the address's kwargs, the words a page shows only when it shows
    the child's object, and anything a form needs to post."""

    kwargs: dict[str, Any] = field(default_factory=dict)
    shows: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


Builder = Callable[[Patient], Built]


def _nothing(child: Patient) -> Built:
    return Built()


def _team_to_write_to(child: Patient, *, name: str = "Matrix team", sensitive: str = "") -> Any:
    team = CareTeamFactory(name=name, sensitive_category=sensitive)
    CareRelationshipFactory(patient=child, care_team=team)
    return team


def _released_report(child: Patient, *, sensitive: str = "") -> Any:
    report = DiagnosticReportFactory(
        patient=child, released=True, test_name="Matrix ferritin", sensitive_category=sensitive
    )
    ObservationFactory(report=report, code="MATRIX", name="Matrix haemoglobin")
    return report


def _sensitive_rule_category() -> str:
    """A report takes its sensitive category from its release rule when it arrives (careportal/results/ingest.py):
    the category a sexual health rule gives."""
    rule = ReleaseRule.objects.create(
        category="SH", description="Sexual health screening", mode="review", sensitive_category="sexual_health"
    )
    return rule.sensitive_category


def _report(child: Patient, sensitive: str = "") -> Built:
    report = _released_report(child, sensitive=sensitive)
    return Built(kwargs={"public_id": report.public_id}, shows="Matrix ferritin")


def _report_list(child: Patient, sensitive: str = "") -> Built:
    _released_report(child, sensitive=sensitive)
    return Built(shows="Matrix ferritin")


def _trend(child: Patient, sensitive: str = "") -> Built:
    _released_report(child, sensitive=sensitive)
    return Built(kwargs={"code": "MATRIX"}, shows="Matrix haemoglobin")


def _report_attachment(child: Patient, sensitive: str = "") -> Built:
    report = _released_report(child, sensitive=sensitive)
    observation = ObservationFactory(
        report=report,
        sequence=50,
        value_type="ED",
        code="PDF",
        name="Full report",
        value_text="",
        value_numeric=None,
        attachment_content_type="application/pdf",
        interpretation="",
        reference_range="",
    )
    observation.attachment.save("report.pdf", ContentFile(b"%PDF-1.4 matrix"))
    return Built(kwargs={"public_id": report.public_id, "sequence": 50})


def _thread_with(child: Patient, sensitive: str = "") -> tuple[Any, Any]:
    team = _team_to_write_to(child, sensitive=sensitive)
    message = MessageFactory(thread=ThreadFactory(patient=child, care_team=team, subject="Matrix question"))
    return message.thread, message


def _thread(child: Patient, sensitive: str = "") -> Built:
    thread, _ = _thread_with(child, sensitive)
    return Built(kwargs={"public_id": thread.public_id}, shows="Matrix question", extra={"thread": thread})


def _thread_list(child: Patient, sensitive: str = "") -> Built:
    _thread_with(child, sensitive)
    return Built(shows="Matrix question")


def _sent(child: Patient, sensitive: str = "") -> Built:
    thread, _ = _thread_with(child, sensitive)
    return Built(kwargs={"public_id": thread.public_id}, shows="Matrix team")


def _message_attachment(child: Patient, sensitive: str = "") -> Built:
    thread, message = _thread_with(child, sensitive)
    # The file is moved into place when the transaction commits; tests run inside one that never does.
    with TestCase.captureOnCommitCallbacks(execute=True):
        stored = attachments_store(
            message=message, files=[CleanFile(display_name="scan.png", content_type="image/png", data=png())]
        )
    return Built(kwargs={"public_id": thread.public_id, "attachment_id": stored[0].public_id})


def _compose(child: Patient, sensitive: str = "") -> Built:
    team = _team_to_write_to(child, sensitive=sensitive)
    return Built(shows="Matrix team", extra={"team": team})


def _appointment_of(child: Patient, sensitive: str = "") -> Any:
    team = CareTeamFactory(name="Matrix clinic team", sensitive_category=sensitive)
    clinic = ClinicFactory(code="MATRIX", care_team=team, name="Matrix clinic")
    # The team looks after the child, so a request to change the appointment can be sent to it.
    CareRelationshipFactory(patient=child, care_team=team, reason="appointment")
    appointment = AppointmentFactory(patient=child, clinic=clinic, kind="video", service_name="Matrix follow-up")
    # An appointment takes its category from its clinic's care team, as the PAS feed and the admin set it.
    appointments_sensitive_category_refresh(care_team_ids=[team.pk])
    return appointment


def _appointment(child: Patient, sensitive: str = "") -> Built:
    appointment = _appointment_of(child, sensitive)
    return Built(kwargs={"public_id": appointment.public_id}, shows="Matrix follow-up")


def _appointment_change(child: Patient, sensitive: str = "") -> Built:
    appointment = _appointment_of(child, sensitive)
    return Built(kwargs={"public_id": appointment.public_id}, shows="Video appointment on")


def _appointment_join(child: Patient, sensitive: str = "") -> Built:
    appointment = _appointment_of(child, sensitive)
    return Built(kwargs={"public_id": appointment.public_id}, shows="You cannot join this video appointment now")


def _appointment_file(child: Patient, sensitive: str = "") -> Built:
    appointment = _appointment_of(child, sensitive)
    return Built(kwargs={"public_id": appointment.public_id})


def _appointment_list(child: Patient, sensitive: str = "") -> Built:
    _appointment_of(child, sensitive)
    return Built(shows="Matrix follow-up")


def _letter_of(child: Patient, sensitive: str = "") -> Any:
    team = CareTeamFactory(name="Matrix letters team", sensitive_category=sensitive)
    letter = LetterFactory(patient=child, care_team=team, document_type="Matrix clinic letter")
    # A letter takes its category from the team that wrote it, as the MDM feed and the admin set it.
    letters_sensitive_category_refresh(care_team_ids=[team.pk])
    return letter


def _letter(child: Patient, sensitive: str = "") -> Built:
    return Built(kwargs={"public_id": _letter_of(child, sensitive).public_id}, shows="Matrix clinic letter")


def _letter_file(child: Patient, sensitive: str = "") -> Built:
    return Built(kwargs={"public_id": _letter_of(child, sensitive).public_id})


def _letter_list(child: Patient, sensitive: str = "") -> Built:
    _letter_of(child, sensitive)
    return Built(shows="Matrix clinic letter")


def _waiting_email_change(child: Patient) -> Built:
    now = timezone.now()
    PendingEmailChange.objects.create(
        patient=child,
        requested_by=UserFactory(),
        new_email="new.address@example.org",
        token_hash=f"{child.pk:064d}",
        created_at=now,
        expires_at=now + datetime.timedelta(hours=1),
    )
    return Built()


def _record_export(child: Patient) -> Built:
    """A ready copy of the child's record asked for by the child's proxy (made before the build in every cell),
    holding the parts the proxy can see today (careportal/fhir/export_access.py serves a copy only while its
    requester still sees every part of it)."""
    relationship = ProxyRelationship.objects.filter(patient=child).order_by("-pk").first()
    if relationship is None:
        return Built(kwargs={"public_id": uuid.uuid4()})
    scopes = effective_proxy_scopes(relationship, today=today(), policy=ProxyPolicy.current())
    export = RecordExportFactory(
        patient=child, requested_by=relationship.proxy, requested_as="proxy", scopes=sorted(scopes), ready=True
    )
    return Built(kwargs={"public_id": export.public_id}, shows="Your copy is ready")


def _exports_of(child: Patient) -> Any:
    return RecordExport.objects.filter(patient=child).count()


# What a form posts, and what it would change ----------------------------------------------------------------------


@dataclass(frozen=True)
class Post:
    data: Callable[[Built], dict[str, Any]]
    # The page's normal answer to a good post by someone who may use it (a redirect, the "sent" page, or 403 for a
    # page that shows a proxy the patient's choice and never lets them change it).
    ok: int
    # What the post changes, read from the database: the same before and after a refused post.
    state: Callable[[Patient], Any]
    changes: bool = True


def _threads_of(child: Patient) -> Any:
    return Thread.objects.filter(patient=child).count()


def _messages_of(child: Patient) -> Any:
    return Message.objects.filter(thread__patient=child).count()


def _details_of(child: Patient) -> Any:
    row = Patient.objects.get(pk=child.pk)
    return (row.address_line_1, row.town, row.postcode, row.mobile_phone, row.home_phone, row.contact_preference)


def _email_changes_of(child: Patient) -> Any:
    return list(PendingEmailChange.objects.filter(patient=child).values_list("new_email", "cancelled_at"))


def _result_preferences_of(child: Patient) -> Any:
    return list(ResultPreference.objects.filter(patient=child).values_list("result_kind", "wait_for_clinician"))


# The table ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatientUrl:
    needs: Scope | str
    build: Callable[..., Built] = _nothing
    # The normal answer to a GET with the scope (200, or the page's redirect); None for POST-only addresses.
    get: int | None = 200
    post: Post | None = None
    # True when the build takes a sensitive category (a result's, a letter's, an appointment's, a message's team's).
    sensitive: bool = False


PATIENT_URLS: dict[str, PatientUrl] = {
    "home:home": PatientUrl(ANY),
    "video:camera-check": PatientUrl(ANY),
    "audit:access-log": PatientUrl(PATIENT_ONLY),
    # Test results.
    "results:list": PatientUrl(Scope.RESULTS, _report_list, sensitive=True),
    "results:report": PatientUrl(Scope.RESULTS, _report, sensitive=True),
    "results:comments": PatientUrl(Scope.RESULTS, _report, sensitive=True),
    "results:attachment": PatientUrl(Scope.RESULTS, _report_attachment, sensitive=True),
    "results:trend": PatientUrl(Scope.RESULTS, _trend, sensitive=True),
    "results:preferences": PatientUrl(
        Scope.RESULTS,
        post=Post(data=lambda built: {"kinds": ["histology"]}, ok=403, state=_result_preferences_of, changes=False),
    ),
    # Messages.
    "messaging:list": PatientUrl(Scope.MESSAGES, _thread_list, sensitive=True),
    "messaging:compose": PatientUrl(
        Scope.MESSAGES,
        _compose,
        post=Post(
            data=lambda built: {"care_team": str(built.extra["team"].public_id), "topic": "care"},
            ok=302,
            state=_threads_of,
            changes=False,  # the choice is kept in the session until the message is sent
        ),
        sensitive=True,
    ),
    "messaging:compose-write": PatientUrl(
        Scope.MESSAGES,
        _compose,
        get=302,  # back to choosing a team, when none was chosen
        post=Post(
            data=lambda built: {
                "care_team": str(built.extra["team"].public_id),
                "topic": "care",
                "subject": "Matrix subject",
                "body": "Is the next blood test still on Tuesday?",
            },
            ok=302,
            state=_threads_of,
        ),
        sensitive=True,
    ),
    "messaging:thread": PatientUrl(
        Scope.MESSAGES,
        _thread,
        post=Post(data=lambda built: {"body": "Thank you, that helps."}, ok=302, state=_messages_of),
        sensitive=True,
    ),
    "messaging:sent": PatientUrl(Scope.MESSAGES, _sent, sensitive=True),
    "messaging:attachment": PatientUrl(Scope.MESSAGES, _message_attachment, sensitive=True),
    # Appointments.
    "appointments:list": PatientUrl(Scope.APPOINTMENTS, _appointment_list, sensitive=True),
    "appointments:detail": PatientUrl(Scope.APPOINTMENTS, _appointment, sensitive=True),
    "appointments:calendar": PatientUrl(Scope.APPOINTMENTS, _appointment_file, sensitive=True),
    "appointments:join": PatientUrl(Scope.APPOINTMENTS, _appointment_join, sensitive=True),
    "appointments:change": PatientUrl(
        Scope.APPOINTMENTS,
        _appointment_change,
        post=Post(
            data=lambda built: {"action": "cancel", "reason": "We are away that week."}, ok=200, state=_threads_of
        ),
        sensitive=True,
    ),
    # Letters.
    "letters:list": PatientUrl(Scope.LETTERS, _letter_list, sensitive=True),
    "letters:letter": PatientUrl(Scope.LETTERS, _letter, sensitive=True),
    "letters:view": PatientUrl(Scope.LETTERS, _letter_file, sensitive=True),
    "letters:download": PatientUrl(Scope.LETTERS, _letter_file, sensitive=True),
    # Download my record: a copy holds the parts the proxy can see, whichever they are.
    "export:start": PatientUrl(ANY),
    "export:request": PatientUrl(ANY, get=None, post=Post(data=lambda built: {}, ok=302, state=_exports_of)),
    "export:detail": PatientUrl(ANY, _record_export),
    "export:download-json": PatientUrl(ANY, _record_export),
    "export:download-pdf": PatientUrl(ANY, _record_export),
    # Personal details.
    "patients:your-details": PatientUrl(Scope.DETAILS),
    "patients:address": PatientUrl(
        Scope.DETAILS,
        post=Post(
            data=lambda built: {"address_line_1": "1 Matrix Road", "town": "Leeds", "postcode": "LS1 4AP"},
            ok=302,
            state=_details_of,
        ),
    ),
    "patients:mobile-phone": PatientUrl(
        Scope.DETAILS, post=Post(data=lambda built: {"mobile_phone": "07700 900123"}, ok=302, state=_details_of)
    ),
    "patients:home-phone": PatientUrl(
        Scope.DETAILS, post=Post(data=lambda built: {"home_phone": "020 7946 0123"}, ok=302, state=_details_of)
    ),
    "patients:contact-preferences": PatientUrl(
        Scope.DETAILS, post=Post(data=lambda built: {"letters": "portal"}, ok=302, state=_details_of)
    ),
    # The patient's own sign-in address: never a proxy's to change, whatever they were granted.
    "patients:email": PatientUrl(
        PATIENT_ONLY,
        post=Post(data=lambda built: {"email": "matrix@example.org"}, ok=302, state=_email_changes_of),
    ),
    "patients:email-sent": PatientUrl(PATIENT_ONLY, _waiting_email_change),
    "patients:email-resend": PatientUrl(
        PATIENT_ONLY, _waiting_email_change, get=None, post=Post(data=lambda b: {}, ok=302, state=_email_changes_of)
    ),
    "patients:email-cancel": PatientUrl(
        PATIENT_ONLY, _waiting_email_change, get=None, post=Post(data=lambda b: {}, ok=302, state=_email_changes_of)
    ),
}


PATIENT_AREA_URLS = patient_area_url_names()


def test_every_patient_area_view_is_in_the_matrix() -> None:
    missing = [name for name in PATIENT_AREA_URLS if name not in PATIENT_URLS]
    assert not missing, f"Add these patient_area URLs to PATIENT_URLS in tests/proxy/test_scope_matrix.py: {missing}"


def test_the_matrix_names_only_patient_area_views() -> None:
    stale = [name for name in PATIENT_URLS if name not in PATIENT_AREA_URLS]
    assert not stale, f"PATIENT_URLS names URLs that are not patient_area views (any more): {stale}"


def test_the_walk_finds_the_patient_pages() -> None:
    # The marker survives the decorators applied over patient_area (require_POST here).
    assert {"results:report", "patients:email-cancel", "home:home"} <= set(PATIENT_AREA_URLS)
    assert "home:choose" not in PATIENT_AREA_URLS and "results:inbox" not in PATIENT_AREA_URLS


# Shared set-up --------------------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _private_files(settings, tmp_path) -> None:
    """Letters, message attachments and result attachments in this test's own folder; no virus scanner."""
    settings.LETTER_ROOT = tmp_path / "letters"
    settings.MESSAGE_ATTACHMENT_ROOT = tmp_path / "attachments"
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CLAMAV_SOCKET = ""
    settings.CLAMAV_HOST = ""


def today() -> datetime.date:
    return timezone.localdate()


def born_years_ago(years: int, *, days_later: int = 0) -> datetime.date:
    """A birth date that makes someone `years` old today, on their birthday (28 February for a 29 February today)."""
    day = today()
    try:
        birthday = day.replace(year=day.year - years)
    except ValueError:
        birthday = day.replace(year=day.year - years, day=28)
    return birthday + datetime.timedelta(days=days_later)


def child_patient(**kwargs: Any) -> Patient:
    return PatientFactory(
        given_name="Arjun", family_name=CHILD_FAMILY_NAME, birth_date=kwargs.pop("birth_date", born_years_ago(10))
    )


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def address(name: str, built: Built) -> str:
    return reverse(name, kwargs=built.kwargs or None)


def text_of(response: Any) -> str:
    if getattr(response, "streaming", False):
        return ""
    return html.unescape(response.content.decode(errors="replace"))


def is_page(response: Any) -> bool:
    return response.get("Content-Type", "").startswith("text/html") and not getattr(response, "streaming", False)


def proxy_for(child: Patient, scopes: list[str], **kwargs: Any) -> Any:
    return ProxyRelationshipFactory(
        patient=child,
        scopes=scopes,
        valid_from=kwargs.pop("valid_from", child.birth_date),
        proxy=kwargs.pop("proxy", None) or UserFactory(first_name="Priya", last_name="Proxy"),
        **kwargs,
    )


def build(case: PatientUrl, child: Patient, sensitive: str = "") -> Built:
    if case.sensitive:
        return case.build(child, sensitive)
    return case.build(child)


def needs_label(case: PatientUrl) -> str:
    return case.needs.value if isinstance(case.needs, Scope) else case.needs


def refused_for(case: PatientUrl, *, has: frozenset[str]) -> bool:
    """Whether a proxy holding the scopes `has` (all of them usable today) must be refused this address."""
    if case.needs == PATIENT_ONLY:
        return True
    if case.needs == ANY:
        return False
    return case.needs not in has


def assert_refused_without_trace(response: Any, child: Patient, built: Built) -> None:
    assert response.status_code == 404
    page = text_of(response)
    assert CHILD_FAMILY_NAME not in page
    assert not built.shows or built.shows not in page


def assert_answered(case: PatientUrl, response: Any, built: Built, *, status: int) -> None:
    assert response.status_code == status, f"expected {status}, got {response.status_code}"
    if status == 200 and built.shows and is_page(response):
        assert built.shows in text_of(response), "the page answered but did not show the child's object"


GRANTABLE = sorted(scope.value for scope in PROXY_GRANTABLE_SCOPES)
GET_URLS = sorted(name for name, case in PATIENT_URLS.items() if case.get is not None)
POST_URLS = sorted(name for name, case in PATIENT_URLS.items() if case.post is not None)
SCOPED_URLS = sorted(name for name, case in PATIENT_URLS.items() if isinstance(case.needs, Scope))


# 1. Every address, every scope -----------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", GRANTABLE)
@pytest.mark.parametrize("url_name", GET_URLS)
def test_a_proxy_without_one_scope_is_refused_exactly_the_addresses_that_need_it(url_name: str, scope: str) -> None:
    case = PATIENT_URLS[url_name]
    child = child_patient()
    has = frozenset(GRANTABLE) - {scope}
    relationship = proxy_for(child, sorted(has))
    built = build(case, child)

    response = signed_in(relationship.proxy).get(address(url_name, built))

    if refused_for(case, has=has):
        assert_refused_without_trace(response, child, built)
    else:
        assert_answered(case, response, built, status=case.get or 200)


@pytest.mark.parametrize("url_name", [name for name in GET_URLS if name in SCOPED_URLS])
def test_a_proxy_with_only_the_scope_an_address_needs_reaches_it(url_name: str) -> None:
    case = PATIENT_URLS[url_name]
    child = child_patient()
    relationship = proxy_for(child, [needs_label(case)])
    built = build(case, child)

    response = signed_in(relationship.proxy).get(address(url_name, built))

    assert_answered(case, response, built, status=case.get or 200)


@pytest.mark.parametrize("url_name", [name for name in GET_URLS if PATIENT_URLS[name].needs == PATIENT_ONLY])
def test_a_proxy_with_every_scope_never_reaches_the_patients_own_pages(url_name: str) -> None:
    case = PATIENT_URLS[url_name]
    child = child_patient()
    relationship = proxy_for(child, GRANTABLE)
    built = build(case, child)

    response = signed_in(relationship.proxy).get(address(url_name, built))

    assert_refused_without_trace(response, child, built)


@pytest.mark.parametrize("holds", ["without", "with"])
@pytest.mark.parametrize("url_name", POST_URLS)
def test_a_post_without_the_scope_is_refused_and_changes_nothing(url_name: str, holds: str) -> None:
    case = PATIENT_URLS[url_name]
    assert case.post is not None
    child = child_patient()
    if holds == "with":
        scopes = GRANTABLE if not isinstance(case.needs, Scope) else [case.needs.value]
    else:
        scopes = [s for s in GRANTABLE if s != needs_label(case)]
    relationship = proxy_for(child, scopes)
    built = build(case, child)
    before = case.post.state(child)

    response = signed_in(relationship.proxy).post(address(url_name, built), case.post.data(built))

    after = case.post.state(child)
    if refused_for(case, has=frozenset(scopes)):
        assert_refused_without_trace(response, child, built)
        assert after == before, "a refused post changed the record"
    else:
        assert response.status_code == case.post.ok, text_of(response)[:2000]
        assert (after != before) == case.post.changes


# 2. Relationships that give nothing ---------------------------------------------------------------------------------


UNUSABLE: dict[str, Callable[[], tuple[Patient, dict[str, Any]]]] = {
    "expired": lambda: (child_patient(), {"valid_until": today() - datetime.timedelta(days=1)}),
    "not yet started": lambda: (child_patient(), {"valid_from": today() + datetime.timedelta(days=1)}),
    "revoked": lambda: (child_patient(), {"status": "revoked"}),
    "declined": lambda: (child_patient(), {"status": "declined"}),
    "ended": lambda: (child_patient(), {"status": "ended"}),
    "requested": lambda: (child_patient(), {"status": "requested"}),
    "parental, child 18 today": lambda: (child_patient(birth_date=born_years_ago(18)), {"basis": "parental"}),
}


def unusable_relationship(state: str, *, own_record: bool) -> tuple[Patient, Any]:
    child, fields = UNUSABLE[state]()
    proxy = UserFactory(first_name="Priya", last_name="Proxy")
    if own_record:
        PatientFactory(user=proxy, given_name="Priya", family_name="Ownrecord")
    relationship = proxy_for(child, GRANTABLE, proxy=proxy, **fields)
    return child, relationship


def signed_in_still_acting_for(child: Patient, user: Any) -> Client:
    """A session that had the child's record open (chosen while the relationship was usable): the next request
    re-checks the relationship and must not honour the choice."""
    client = signed_in(user)
    session = client.session
    session[ACTING_FOR_SESSION_KEY] = str(child.public_id)
    session.save()
    return client


def _first_request(client: Client, case: PatientUrl, url: str, built: Built) -> Any:
    if case.get is not None:
        return client.get(url)
    assert case.post is not None
    return client.post(url, case.post.data(built))


@pytest.mark.parametrize("url_name", sorted(PATIENT_URLS))
@pytest.mark.parametrize("state", sorted(UNUSABLE))
def test_an_unusable_relationship_without_a_record_of_ones_own_is_sent_to_choose(state: str, url_name: str) -> None:
    """Someone who acts for nobody today and has no record of their own is sent to "Whose record", which lists no
    one; nothing of the child's record is shown on the way."""
    case = PATIENT_URLS[url_name]
    child, relationship = unusable_relationship(state, own_record=False)
    built = build(case, child)
    client = signed_in_still_acting_for(child, relationship.proxy)
    before = case.post.state(child) if case.post else None

    response = _first_request(client, case, address(url_name, built), built)

    assert response.status_code == 302
    assert response["Location"] == reverse("home:choose")
    if case.post:
        if case.get is not None:
            assert client.post(address(url_name, built), case.post.data(built)).status_code == 302
        assert case.post.state(child) == before
    assert CHILD_FAMILY_NAME not in text_of(client.get(reverse("home:choose")))


@pytest.mark.parametrize("url_name", sorted(PATIENT_URLS))
@pytest.mark.parametrize("state", sorted(UNUSABLE))
def test_an_unusable_relationship_with_a_record_of_ones_own_shows_only_that(state: str, url_name: str) -> None:
    """Someone with their own record sees only it: the child's objects are not found, and pages without an object
    show nothing of the child's."""
    case = PATIENT_URLS[url_name]
    child, relationship = unusable_relationship(state, own_record=True)
    built = build(case, child)
    client = signed_in_still_acting_for(child, relationship.proxy)
    before = case.post.state(child) if case.post else None

    response = _first_request(client, case, address(url_name, built), built)

    if built.kwargs:
        assert_refused_without_trace(response, child, built)
    else:
        assert response.status_code in (200, 302)
        page = text_of(response)
        assert CHILD_FAMILY_NAME not in page
        assert not built.shows or built.shows not in page
    if case.post and built.kwargs:
        assert client.post(address(url_name, built), case.post.data(built)).status_code == 404
    if case.post:
        assert case.post.state(child) == before


@pytest.mark.parametrize("state", sorted(UNUSABLE))
def test_an_unusable_relationship_cannot_be_chosen(state: str) -> None:
    child, relationship = unusable_relationship(state, own_record=True)
    client = signed_in(relationship.proxy)

    response = client.post(reverse("home:act-for", kwargs={"patient_id": child.public_id}))

    assert_refused_without_trace(response, child, Built())
    assert ACTING_FOR_SESSION_KEY not in client.session
    assert CHILD_FAMILY_NAME not in text_of(client.get(reverse("home:choose")))


# 3. Age: a parent of a 16-year-old keeps appointments only --------------------------------------------------------


@pytest.mark.parametrize("url_name", GET_URLS)
def test_a_parent_of_a_sixteen_year_old_reaches_appointments_only(url_name: str) -> None:
    case = PATIENT_URLS[url_name]
    child = child_patient(birth_date=born_years_ago(16))
    relationship = proxy_for(child, GRANTABLE, basis="parental")
    built = build(case, child)

    response = signed_in(relationship.proxy).get(address(url_name, built))

    if refused_for(case, has=frozenset({Scope.APPOINTMENTS.value})):
        assert_refused_without_trace(response, child, built)
    else:
        assert_answered(case, response, built, status=case.get or 200)


@pytest.mark.parametrize("url_name", GET_URLS)
def test_the_day_before_the_sixteenth_birthday_the_parent_still_has_every_scope(url_name: str) -> None:
    case = PATIENT_URLS[url_name]
    child = child_patient(birth_date=born_years_ago(16, days_later=1))
    relationship = proxy_for(child, GRANTABLE, basis="parental")
    built = build(case, child)

    response = signed_in(relationship.proxy).get(address(url_name, built))

    if refused_for(case, has=frozenset(GRANTABLE)):
        assert_refused_without_trace(response, child, built)
    else:
        assert_answered(case, response, built, status=case.get or 200)


# 4. Sensitive categories ----------------------------------------------------------------------------------------------

SENSITIVE_URLS = sorted(name for name, case in PATIENT_URLS.items() if case.sensitive and case.get is not None)


@pytest.mark.parametrize("grant", ["not granted", "another category granted", "granted"])
@pytest.mark.parametrize("url_name", SENSITIVE_URLS)
def test_a_sensitive_object_needs_the_grant_of_its_category(url_name: str, grant: str) -> None:
    case = PATIENT_URLS[url_name]
    child = child_patient()
    granted = {"not granted": [], "another category granted": ["hiv"], "granted": ["sexual_health"]}[grant]
    relationship = proxy_for(child, GRANTABLE, sensitive_categories_granted=granted)
    category = _sensitive_rule_category() if url_name.startswith("results:") else "sexual_health"
    built = build(case, child, category)

    response = signed_in(relationship.proxy).get(address(url_name, built))

    if grant == "granted":
        assert_answered(case, response, built, status=case.get or 200)
    elif built.kwargs:
        assert_refused_without_trace(response, child, built)
    else:
        # A list: answered, without the object, not even that it exists.
        assert response.status_code == (case.get or 200)
        assert built.shows not in text_of(response)


@pytest.mark.parametrize("url_name", SENSITIVE_URLS)
def test_the_patient_always_sees_their_sensitive_objects(url_name: str) -> None:
    case = PATIENT_URLS[url_name]
    child = child_patient()
    child.user = UserFactory()
    child.save()
    category = _sensitive_rule_category() if url_name.startswith("results:") else "sexual_health"
    built = build(case, child, category)

    response = signed_in(child.user).get(address(url_name, built))

    assert_answered(case, response, built, status=case.get or 200)
