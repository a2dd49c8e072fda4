"""The HL7 message pages (/staff/hl7/): only superusers and holders of hl7.change_inboundmessage see them; a message
that could not be applied is matched to a patient and replayed, or dismissed with a reason."""

import datetime
import re
import uuid
from html import unescape as html_unescape
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from careportal.audit.models import AccessAction, AccessEvent
from careportal.hl7.models import ErrorKind, InboundArrival, InboundMessage, MessageStatus
from careportal.hl7.services import message_receive
from careportal.results.models import DiagnosticReport
from tests.accounts.factories import UserFactory
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).parent / "samples"
UNMATCHED = reverse("hl7:unmatched")
RECENT = reverse("hl7:recent")


def _message_url(message: InboundMessage, name: str = "hl7:message") -> str:
    return reverse(name, kwargs={"message_id": message.public_id})


def _stored(**fields) -> InboundMessage:  # type: ignore[no-untyped-def]
    values = {
        "received_at": timezone.now(),
        "raw": b"MSH|^~\\&|WINPATH|RRV_LAB|CAREPORTAL|RRV|20261102093015||ORU^R01|X1|P|2.4\rPID|1||1^^^RRV^MR",
        "message_type": "ORU^R01",
        "sending_application": "WINPATH",
        "sending_facility": "RRV_LAB",
        "control_id": f"C{uuid.uuid4().hex[:10]}",
        "status": MessageStatus.ERROR,
        "ack_code": "AE",
        "error_kind": ErrorKind.UNKNOWN_PATIENT,
        "error_text": "No patient matches PID-3",
    }
    values.update(fields)
    return InboundMessage.objects.create(**values)


def _text(response) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r"\s+", " ", response.content.decode())


@pytest.fixture
def operator(db):
    user = UserFactory(display_name="Interface Team")
    user.user_permissions.add(Permission.objects.get(codename="change_inboundmessage", content_type__app_label="hl7"))
    return user


@pytest.fixture
def operator_client(operator) -> Client:
    client = Client()
    client.force_login(operator)
    return client


@pytest.fixture
def unknown_patient_message(db) -> InboundMessage:
    ack = message_receive((SAMPLES / "bad" / "unknown_patient.hl7").read_bytes(), peer="127.0.0.1:50000")
    assert b"MSA|AE" in ack
    return InboundMessage.objects.get(control_id="WP20261102099999")


# Who may ----------------------------------------------------------------------------------------------------

PAGES = ["hl7:unmatched", "hl7:recent"]
MESSAGE_PAGES = [
    ("get", "hl7:message"),
    ("post", "hl7:message-match"),
    ("post", "hl7:message-match-confirm"),
    ("post", "hl7:message-dismiss"),
]


@pytest.mark.parametrize("who", ["clinician_client", "helpdesk_client", "patient_client", "proxy_client"])
def test_without_the_permission_every_page_is_404_and_audited(request, who):
    client = request.getfixturevalue(who)
    message = _stored(patient=PatientFactory(given_name="Zebedee"))
    data = {"match-hospital_number": "40012345", "dismiss-reason": "x", "patient": str(uuid.uuid4())}

    responses = [client.get(reverse(name)) for name in PAGES]
    responses += [getattr(client, method)(_message_url(message, name), data) for method, name in MESSAGE_PAGES]

    assert [r.status_code for r in responses] == [404] * 6
    assert all("Zebedee" not in r.content.decode() for r in responses)
    assert AccessEvent.objects.filter(action=AccessAction.DENIED, patient=None).count() == 6
    assert not AccessEvent.objects.filter(patient=message.patient).exists()
    message.refresh_from_db()
    assert message.status == MessageStatus.ERROR


def test_a_superuser_may(operator):
    superuser = UserFactory(is_superuser=True, is_staff=True)
    client = Client()
    client.force_login(superuser)
    assert client.get(UNMATCHED).status_code == 200


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get(UNMATCHED)
    assert response.status_code == 302
    assert "/sign-in/" in response["Location"]


def test_an_unknown_message_id_is_404_for_an_operator(operator_client):
    assert operator_client.get(reverse("hl7:message", kwargs={"message_id": uuid.uuid4()})).status_code == 404


# The queue and the overview ---------------------------------------------------------------------------------


def test_the_queue_lists_waiting_messages_newest_first_with_the_reason(operator_client):
    now = timezone.now()
    _stored(message_type="ORU^R01", received_at=now - timezone.timedelta(hours=2), error_text="Older one")
    _stored(
        message_type="ADT^A08",
        status=MessageStatus.REJECTED,
        ack_code="AR",
        error_kind=ErrorKind.MALFORMED,
        error_text="MSH-9 is empty",
        received_at=now,
    )
    _stored(message_type="SIU^S12", status=MessageStatus.APPLIED, error_kind="", error_text="")
    _stored(message_type="MDM^T02", resolved_at=now, status=MessageStatus.DISMISSED, error_text="Dealt with")

    text = _text(operator_client.get(UNMATCHED))

    assert "Not a readable HL7 message: MSH-9 is empty" in text
    assert "No patient matches: Older one" in text
    assert text.index("ADT^A08") < text.index("ORU^R01")
    assert "SIU^S12" not in text and "MDM^T02" not in text
    assert "WINPATH at RRV_LAB" in text


def test_the_overview_lists_every_status_and_filters_by_one(operator_client):
    _stored(message_type="ORU^R01")
    _stored(message_type="SIU^S12", status=MessageStatus.APPLIED, error_kind="", error_text="")

    everything = _text(operator_client.get(RECENT))
    applied = _text(operator_client.get(RECENT, {"status": "applied"}))
    nonsense = _text(operator_client.get(RECENT, {"status": "<script>"}))

    assert "ORU^R01" in everything and "SIU^S12" in everything
    assert "SIU^S12" in applied and "ORU^R01" not in applied
    assert "ORU^R01" in nonsense and "<script>" not in nonsense


def _arrival(minutes_ago: float = 0) -> InboundArrival:
    received = timezone.now() - datetime.timedelta(minutes=minutes_ago)
    return InboundArrival.objects.create(received_at=received, raw=b"MSH|^~\\&|WINPATH|RRV_LAB", ack_code="CA")


def test_the_overview_notes_messages_acknowledged_that_are_not_in_it_yet(operator_client):
    assert "not in this list yet" not in _text(operator_client.get(RECENT))  # none: no note

    _arrival(minutes_ago=0.5)
    one = _text(operator_client.get(RECENT))
    assert "1 message received and acknowledged is not in this list yet." in one
    assert "usually within a second" in one and "check that the task worker" not in one

    _arrival()
    waiting = _text(operator_client.get(RECENT, {"status": "stored"}))
    applied = _text(operator_client.get(RECENT, {"status": "applied"}))
    assert "2 messages received and acknowledged are not in this list yet." in waiting
    assert "not in this list yet" not in applied  # they would be listed as waiting, not as applied


def test_arrivals_waiting_for_minutes_tell_staff_what_to_check(operator_client):
    _arrival(minutes_ago=6)
    text = _text(operator_client.get(RECENT))
    assert "If this number does not go down, check that the task worker (or hl7_apply_worker) is running." in text


def _older_link(html: str) -> str | None:
    found = re.search(r'href="([^"]*older=[^"]*)"', html)
    return html_unescape(found.group(1)) if found else None


def _newer_link(html: str) -> str | None:
    found = re.search(r'href="([^"]*newer=[^"]*)"', html)
    return html_unescape(found.group(1)) if found else None


def _listed(html: str) -> list[str]:
    """The control ids of the messages a page lists, in its order (the table links each message by its id)."""
    ids = re.findall(r'href="/staff/hl7/message/([0-9a-f-]{36})/"', html)
    control_ids = dict(InboundMessage.objects.filter(public_id__in=ids).values_list("public_id", "control_id"))
    return [control_ids[uuid.UUID(public_id)] for public_id in ids]


def test_the_overview_pages_back_and_forth_from_a_message_without_counting(operator_client):
    for n in range(55):
        _stored(message_type="ORU^R01", control_id=f"PAGE{n:02d}")
    with CaptureQueriesContext(connection) as first_queries:
        first = _text(operator_client.get(RECENT))
    assert _listed(first) == [f"PAGE{n:02d}" for n in range(54, 4, -1)]  # the newest 50, newest first
    assert "Messages, newest first" in first
    assert _newer_link(first) is None
    older_url = _older_link(first)
    assert older_url is not None and older_url.startswith(f"{RECENT}?older=")
    assert not any("COUNT(" in query["sql"].upper() for query in first_queries.captured_queries)

    second = _text(operator_client.get(older_url))
    assert _listed(second) == ["PAGE04", "PAGE03", "PAGE02", "PAGE01", "PAGE00"]
    assert "Messages received from " in second and "newest first" in second
    assert _older_link(second) is None
    newer_url = _newer_link(second)
    assert newer_url is not None

    # A message arriving meanwhile does not shift the pages: back is the same 50, and then a link to the new one.
    _stored(message_type="ORU^R01", control_id="PAGE55")
    back = _text(operator_client.get(newer_url))
    assert _listed(back) == _listed(first)
    newest_url = _newer_link(back)
    assert newest_url is not None
    assert _listed(_text(operator_client.get(newest_url))) == ["PAGE55"]


def test_a_page_of_one_status_keeps_the_status_in_its_links(operator_client):
    for n in range(52):
        _stored(message_type="ORU^R01", control_id=f"PAGE{n:02d}", status=MessageStatus.APPLIED, error_kind="")
    _stored(message_type="ORU^R01", control_id="OTHER", status=MessageStatus.REJECTED)
    first = _text(operator_client.get(RECENT, {"status": "applied"}))
    assert "Applied messages, newest first" in first
    older_url = _older_link(first)
    assert older_url is not None and older_url.startswith(f"{RECENT}?status=applied&older=")
    second = _text(operator_client.get(older_url))
    assert _listed(second) == ["PAGE01", "PAGE00"]
    assert "OTHER" not in first + second


def test_messages_received_at_the_same_moment_are_each_listed_once(operator_client):
    moment = timezone.now()
    for n in range(120):
        _stored(control_id=f"PAGE{n:03d}", received_at=moment - datetime.timedelta(seconds=n // 7))
    seen: list[str] = []
    url: str | None = f"{RECENT}?status=error"
    while url:
        html = _text(operator_client.get(url))
        seen += _listed(html)
        url = _older_link(html)
    assert sorted(seen) == sorted(f"PAGE{n:03d}" for n in range(120))
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize(
    "start", ["older=not-a-message", "newer=<script>", "older=0b5e2c8e-4a8f-4f1e-9d56-2f3b8c1d7e6a"]
)
def test_a_broken_page_link_shows_the_newest_messages_with_a_note(operator_client, start):
    _stored(message_type="ORU^R01", control_id="PAGE01")
    response = operator_client.get(f"{RECENT}?{start}")
    text = _text(response)
    assert response.status_code == 200
    assert "That page link no longer works, so these are the newest messages." in text
    assert _listed(text) == ["PAGE01"]
    assert "<script>" not in text


def test_every_page_of_the_overview_takes_the_same_queries_however_long_the_journal(operator_client):
    for n in range(60):
        _stored(control_id=f"PAGE{n:03d}")
    operator_client.get(RECENT)
    older_url = _older_link(_text(operator_client.get(RECENT)))
    assert older_url is not None
    with CaptureQueriesContext(connection) as short:
        operator_client.get(older_url)
    for n in range(60, 300):
        _stored(control_id=f"PAGE{n:03d}")
    with CaptureQueriesContext(connection) as long:
        operator_client.get(older_url)
    assert len(long.captured_queries) == len(short.captured_queries)
    assert not any("OFFSET" in query["sql"] or "COUNT(" in query["sql"].upper() for query in long.captured_queries)


# A message's page -------------------------------------------------------------------------------------------


def test_the_message_page_shows_segments_escaped_and_unreadable_bytes_replaced(operator_client):
    message = _stored(raw=b"MSH|^~\\&|LAB<script>alert(1)</script>\rPID|1||\xff\xfe123\n\nOBX|1|NM")

    html = operator_client.get(_message_url(message)).content.decode()

    assert "<script>alert(1)" not in html
    assert "LAB&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "PID|1||\ufffd\ufffd123" in html
    assert re.search(r"<pre[^>]*>MSH\|.*\nPID\|.*\nOBX\|1\|NM\n</pre>", html)


def test_reading_a_message_that_names_a_patient_is_in_their_access_log(operator_client, operator):
    patient = PatientFactory()
    message = _stored(patient=patient, status=MessageStatus.APPLIED)

    operator_client.get(_message_url(message))

    event = AccessEvent.objects.get(patient=patient)
    assert (event.action, event.actor, event.object_id) == (AccessAction.VIEW, operator, str(message.public_id))


def test_reading_a_message_without_a_patient_is_still_audited(operator_client, unknown_patient_message):
    operator_client.get(_message_url(unknown_patient_message))
    event = AccessEvent.objects.get(object_id=str(unknown_patient_message.public_id))
    assert event.patient is None


# Matching and replaying -------------------------------------------------------------------------------------


def test_match_then_confirm_replays_the_message_for_that_patient(operator_client, operator, unknown_patient_message):
    patient = PatientFactory(given_name="Eleanor", family_name="Hargreaves", hospital_number="40099999")
    url = _message_url(unknown_patient_message, "hl7:message-match")

    check = operator_client.post(url, {"match-hospital_number": " 40099999 "})

    text = _text(check)
    assert check.status_code == 200
    assert "Check this is the right patient" in text
    assert "Eleanor Hargreaves" in text
    assert "17 May 1970" in text
    nhs = patient.nhs_number
    assert f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}" in text
    lookup = AccessEvent.objects.get(patient=patient, action=AccessAction.VIEW)
    assert lookup.actor == operator
    assert not DiagnosticReport.objects.exists(), "nothing is applied before the member of staff confirms"

    done = operator_client.post(
        _message_url(unknown_patient_message, "hl7:message-match-confirm"), {"patient": str(patient.public_id)}
    )

    assert done.status_code == 302
    assert done["Location"] == _message_url(unknown_patient_message)
    unknown_patient_message.refresh_from_db()
    assert unknown_patient_message.status == MessageStatus.REPLAYED
    assert unknown_patient_message.resolved_by == operator
    report = DiagnosticReport.objects.get()
    assert report.patient == patient
    assert report.test_code == "FBC"
    assert AccessEvent.objects.filter(patient=patient, action=AccessAction.UPDATE).exists()
    page = _text(operator_client.get(done["Location"]))
    assert "applied to the record with hospital number 40099999" in page
    assert "Replays of this message" in page
    assert "Find the patient" not in page, "a resolved message offers no more actions"
    assert unknown_patient_message.public_id not in [
        m.public_id for m in InboundMessage.objects.filter(status=MessageStatus.ERROR, resolved_at__isnull=True)
    ]


@pytest.mark.parametrize(
    ("entered", "error"),
    [
        ("", "Enter the patient's hospital number"),
        ("40-01 2345", "Enter a hospital number of up to 20 letters and numbers"),
        ("x" * 60, "Enter a hospital number of up to 20 letters and numbers"),
        ("40012345", "No patient has the hospital number 40012345. Check the number"),
    ],
)
def test_a_bad_hospital_number_gives_a_clear_error(operator_client, unknown_patient_message, entered, error):
    response = operator_client.post(
        _message_url(unknown_patient_message, "hl7:message-match"), {"match-hospital_number": entered}
    )

    html = html_unescape(response.content.decode())
    assert response.status_code == 400
    assert "nhsuk-error-summary" in html
    assert error in html
    assert 'href="#id_match-hospital_number"' in html
    assert not AccessEvent.objects.filter(patient__isnull=False).exists()


def test_confirming_with_a_made_up_patient_id_changes_nothing(operator_client, unknown_patient_message):
    for value in (str(uuid.uuid4()), "not-a-uuid", ""):
        response = operator_client.post(
            _message_url(unknown_patient_message, "hl7:message-match-confirm"), {"patient": value}
        )
        assert response.status_code == 400
        assert "Find the patient by their hospital number again" in response.content.decode()
    unknown_patient_message.refresh_from_db()
    assert unknown_patient_message.status == MessageStatus.ERROR
    assert not DiagnosticReport.objects.exists()


def test_a_merged_record_cannot_be_confirmed(operator_client, unknown_patient_message):
    merged_into = PatientFactory()
    merged = PatientFactory(merged_into=merged_into, merged_at=timezone.now())

    response = operator_client.post(
        _message_url(unknown_patient_message, "hl7:message-match-confirm"), {"patient": str(merged.public_id)}
    )

    # A record merged into another has no identifiers left: the member of staff must find the surviving one.
    assert response.status_code == 400
    assert "Find the patient by their hospital number again" in response.content.decode()
    unknown_patient_message.refresh_from_db()
    assert unknown_patient_message.status == MessageStatus.ERROR


def test_the_services_refusal_is_shown_on_the_page(operator_client, unknown_patient_message):
    patient = PatientFactory()
    # Applied meanwhile: the sending system sent the same control id again and it matched this time.
    _stored(
        control_id=unknown_patient_message.control_id,
        sending_application=unknown_patient_message.sending_application,
        sending_facility=unknown_patient_message.sending_facility,
        status=MessageStatus.APPLIED,
        error_kind="",
        error_text="",
    )

    response = operator_client.post(
        _message_url(unknown_patient_message, "hl7:message-match-confirm"), {"patient": str(patient.public_id)}
    )

    text = _text(response)
    assert response.status_code == 400
    assert "The message still could not be applied: This message was applied already" in text
    assert not DiagnosticReport.objects.exists()


def test_a_message_that_could_not_be_read_can_only_be_dismissed(operator_client):
    message = _stored(status=MessageStatus.REJECTED, ack_code="AR", error_kind=ErrorKind.MALFORMED, raw=b"garbage")
    patient = PatientFactory(hospital_number="40012345")

    page = _text(operator_client.get(_message_url(message)))
    match = operator_client.post(_message_url(message, "hl7:message-match"), {"match-hospital_number": "40012345"})
    confirm = operator_client.post(
        _message_url(message, "hl7:message-match-confirm"), {"patient": str(patient.public_id)}
    )

    assert "Find the patient" not in page and "Dismiss this message" in page
    assert match.status_code == confirm.status_code == 400
    assert "cannot be replayed" in match.content.decode()
    assert not AccessEvent.objects.filter(patient=patient).exists()


# Dismissing -------------------------------------------------------------------------------------------------


def test_dismiss_with_a_reason(operator_client, operator, unknown_patient_message):
    response = operator_client.post(
        _message_url(unknown_patient_message, "hl7:message-dismiss"), {"dismiss-reason": "Test message from the lab"}
    )

    assert response.status_code == 302
    assert response["Location"] == UNMATCHED
    unknown_patient_message.refresh_from_db()
    assert unknown_patient_message.status == MessageStatus.DISMISSED
    assert unknown_patient_message.resolved_by == operator
    assert unknown_patient_message.resolution_note == "Test message from the lab"
    assert AccessEvent.objects.filter(
        action=AccessAction.UPDATE, object_id=str(unknown_patient_message.public_id)
    ).exists()
    assert "WP20261102099999" not in operator_client.get(UNMATCHED).content.decode()


@pytest.mark.parametrize(
    ("reason", "error"),
    [("", "Enter why you are dismissing this message"), ("x" * 501, "Reason must be 500 characters or fewer")],
)
def test_dismiss_needs_a_reason_of_at_most_500_characters(operator_client, unknown_patient_message, reason, error):
    response = operator_client.post(
        _message_url(unknown_patient_message, "hl7:message-dismiss"), {"dismiss-reason": reason}
    )
    assert response.status_code == 400
    assert error in response.content.decode()
    unknown_patient_message.refresh_from_db()
    assert unknown_patient_message.status == MessageStatus.ERROR


def test_a_resolved_message_cannot_be_dismissed_or_replayed_again(operator_client):
    message = _stored(status=MessageStatus.DISMISSED, resolved_at=timezone.now(), resolution_note="Sent twice")
    patient = PatientFactory(hospital_number="40012345")

    dismiss = operator_client.post(_message_url(message, "hl7:message-dismiss"), {"dismiss-reason": "Again"})
    match = operator_client.post(_message_url(message, "hl7:message-match"), {"match-hospital_number": "40012345"})
    confirm = operator_client.post(
        _message_url(message, "hl7:message-match-confirm"), {"patient": str(patient.public_id)}
    )

    for response in (dismiss, match, confirm):
        assert response.status_code == 400
        assert "someone has already replayed or dismissed it" in response.content.decode()
    message.refresh_from_db()
    assert message.resolution_note == "Sent twice"


def test_actions_need_a_csrf_token(operator, unknown_patient_message):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    response = client.post(_message_url(unknown_patient_message, "hl7:message-dismiss"), {"dismiss-reason": "x"})
    assert response.status_code == 403


# The staff landing page -------------------------------------------------------------------------------------


def test_the_staff_page_links_to_the_inbox_and_the_queue_for_those_who_may(
    clinician_client, clinician_membership, helpdesk_client
):
    from tests.results.factories import DiagnosticReportFactory

    DiagnosticReportFactory(care_team=clinician_membership.care_team)
    _stored()

    clinician = html_unescape(_text(clinician_client.get(reverse("staff:home"))))
    assert "1 result in your teams' inboxes is waiting for review" in clinician
    assert reverse("results:inbox") in clinician
    assert UNMATCHED not in clinician

    clinician_membership.user.user_permissions.add(
        Permission.objects.get(codename="change_inboundmessage", content_type__app_label="hl7")
    )
    operator_too = _text(clinician_client.get(reverse("staff:home")))
    assert "1 message from a hospital system needs attention" in operator_too
    assert UNMATCHED in operator_too

    helpdesk = _text(helpdesk_client.get(reverse("staff:home")))
    assert f'href="{reverse("results:inbox")}"' not in helpdesk
    assert UNMATCHED not in helpdesk


def test_messages_waiting_to_be_applied_are_listed_by_their_status_and_not_in_the_queue(operator_client):
    _stored(message_type="ORU^R01", status=MessageStatus.STORED, ack_code="CA", error_kind="", error_text="")
    _stored(message_type="SIU^S12", status=MessageStatus.APPLIED, error_kind="", error_text="")

    waiting = _text(operator_client.get(RECENT, {"status": "stored"}))

    assert "ORU^R01" in waiting and "SIU^S12" not in waiting and "Waiting to be applied" in waiting
    assert "ORU^R01" not in _text(operator_client.get(reverse("hl7:unmatched")))
