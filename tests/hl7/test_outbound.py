"""Outbound ADT^A31 to the PAS: the builder, the queue, the sender against a real local MLLP server (AA, AE, a PAS
that is down), ordering per patient, and the staff page."""

import datetime
import html
import re

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from careportal.audit.models import AccessAction, AccessEvent
from careportal.hl7 import outbound_views
from careportal.hl7.handlers.adt import patient_details
from careportal.hl7.models import OutboundMessage, OutboundStatus
from careportal.hl7.outbound import (
    adt_a31_build,
    adt_a31_queue,
    outbound_release_stale_claims,
    outbound_retry_now,
    outbound_send_due,
    retry_delay,
)
from careportal.hl7.parsing import parse_message
from careportal.hl7.selectors import outbound_counts
from tests.accounts.factories import UserFactory
from tests.hl7.pas_server import free_port, running_pas
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db
T0 = datetime.datetime(2026, 11, 9, 10, 0, tzinfo=datetime.UTC)


@pytest.fixture
def operator_client(db) -> Client:
    user = UserFactory(display_name="Interface Team")
    user.user_permissions.add(Permission.objects.get(codename="change_inboundmessage", content_type__app_label="hl7"))
    client = Client()
    client.force_login(user)
    return client


def _point_at(settings, port: int) -> None:
    settings.HL7_OUTBOUND_PAS_HOST = "127.0.0.1"
    settings.HL7_OUTBOUND_PAS_PORT = port
    settings.HL7_OUTBOUND_TIMEOUT_SECONDS = 2


# Building ------------------------------------------------------------------------------------------------------


def test_the_a31_round_trips_through_our_own_parser():
    patient = PatientFactory(
        given_name="Eleanor",
        family_name="Hargreaves",
        address_line_1="3 Elm Court",
        address_line_2="Highgate",
        town="London",
        postcode="N6 5AB",
        mobile_phone="07700 900123",
        home_phone="020 7946 0000",
        email="eleanor.h@example.org",
    )
    raw = adt_a31_build(patient=patient, control_id="CP123", now=T0)
    message = parse_message(raw)
    assert message.header.message_type == "ADT^A31"
    assert message.header.control_id == "CP123"
    assert message.header.sending_application == "CAREPORTAL"
    pid = message.first("PID")
    details = patient_details(pid)
    assert (details.family_name, details.given_name, details.birth_date) == (
        "Hargreaves",
        "Eleanor",
        patient.birth_date,
    )
    assert (details.address_line_1, details.address_line_2, details.town, details.postcode) == (
        "3 Elm Court",
        "Highgate",
        "London",
        "N6 5AB",
    )
    assert (details.mobile_phone, details.home_phone, details.email) == (
        "07700 900123",
        "020 7946 0000",
        "eleanor.h@example.org",
    )
    assert f"{patient.nhs_number}^^^NHS^NH".encode() in raw
    assert b"07700 900123^PRN^CP~020 7946 0000^PRN^PH~^NET^Internet^eleanor.h@example.org" in raw


def test_delimiters_in_the_details_are_escaped():
    patient = PatientFactory(address_line_1="Flat 2|3 ^Top~ & \\Side", town="Bath", postcode="BA1 1AA")
    raw = adt_a31_build(patient=patient, control_id="CP124", now=T0)
    details = patient_details(parse_message(raw).first("PID"))
    assert details.address_line_1 == "Flat 2|3 ^Top~ & \\Side"
    assert details.town == "Bath"


def test_no_address_and_no_numbers_are_sent_as_clear():
    patient = PatientFactory(address_line_1="", town="", postcode="", mobile_phone="", home_phone="", email="")
    details = patient_details(parse_message(adt_a31_build(patient=patient, control_id="CP1", now=T0)).first("PID"))
    assert (details.address_line_1, details.postcode, details.mobile_phone, details.email) == ("", "", "", "")


# Sending -------------------------------------------------------------------------------------------------------


def test_without_an_endpoint_messages_wait(settings):
    settings.HL7_OUTBOUND_PAS_HOST = ""
    message = adt_a31_queue(patient=PatientFactory())
    assert outbound_send_due().sent == 0
    message.refresh_from_db()
    assert message.status == OutboundStatus.QUEUED
    assert message.attempts == 0


def test_an_accepted_message_is_sent_once(settings):
    with running_pas(ack_code="AA") as pas:
        _point_at(settings, pas.port)
        message = adt_a31_queue(patient=PatientFactory(postcode="N6 5AB"))
        report = outbound_send_due()
        assert report.sent == 1
        (received,) = pas.wait_for_messages(1)
        assert outbound_send_due().sent == 0  # nothing is sent twice
    assert received == bytes(message.raw)
    message.refresh_from_db()
    assert (message.status, message.ack_code, message.attempts) == (OutboundStatus.SENT, "AA", 1)
    assert message.sent_at is not None


def test_a_refused_message_fails_visibly_and_is_not_retried(settings, operator_client):
    with running_pas(ack_code="AE") as pas:
        _point_at(settings, pas.port)
        message = adt_a31_queue(patient=PatientFactory())
        assert outbound_send_due().failed == 1
        assert outbound_send_due().failed == 0
        assert len(pas.messages) == 1
    message.refresh_from_db()
    assert message.status == OutboundStatus.FAILED
    assert message.ack_code == "AE"
    assert message.last_error == "refused by the PAS (AE, HL7 error 204)"
    assert "Refused by the test PAS" not in message.last_error  # the receiver's text is never kept
    page = operator_client.get(reverse("hl7:outbound")).content.decode()
    assert "refused by the PAS (AE" in page
    assert "Failed" in page


def test_a_pas_that_is_down_is_retried_with_backoff_then_failed(settings, operator_client):
    _point_at(settings, free_port())
    settings.HL7_OUTBOUND_MAX_ATTEMPTS = 4
    with time_machine.travel(T0, tick=False) as traveller:
        message = adt_a31_queue(patient=PatientFactory())
        waits = []
        for _ in range(3):
            assert outbound_send_due().retrying == 1
            message.refresh_from_db()
            assert message.status == OutboundStatus.QUEUED
            assert message.last_error == "connection refused"
            waits.append(message.next_attempt_at - datetime.datetime.now(tz=datetime.UTC))
            assert outbound_send_due().retrying == 0  # not due yet
            traveller.shift(waits[-1])
        assert waits == [datetime.timedelta(minutes=1), datetime.timedelta(minutes=2), datetime.timedelta(minutes=4)]
        assert outbound_send_due().failed == 1
    message.refresh_from_db()
    assert message.status == OutboundStatus.FAILED
    assert message.attempts == 4
    assert message.last_error == "connection refused; gave up after 4 tries"
    page = re.sub(r"\s+", " ", operator_client.get(reverse("hl7:outbound")).content.decode())
    assert "connection refused; gave up after 4 tries" in page
    assert "0 waiting to be sent, 1 failed" in page


def test_a_pas_that_never_answers_times_out_and_is_retried(settings):
    with running_pas(ack_code="none") as pas:
        _point_at(settings, pas.port)
        settings.HL7_OUTBOUND_TIMEOUT_SECONDS = 0.3
        message = adt_a31_queue(patient=PatientFactory())
        assert outbound_send_due().retrying == 1
    message.refresh_from_db()
    assert message.last_error == "no ACK from the PAS in time"


def test_the_backoff_is_capped(settings):
    settings.HL7_OUTBOUND_MAX_RETRY_SECONDS = 600
    assert retry_delay(1) == datetime.timedelta(minutes=1)
    assert retry_delay(20) == datetime.timedelta(minutes=10)


def test_a_newer_message_for_a_patient_waits_for_an_older_one(settings):
    patient, other = PatientFactory(), PatientFactory()
    _point_at(settings, free_port())
    with time_machine.travel(T0, tick=False) as traveller:
        older = adt_a31_queue(patient=patient)
        traveller.shift(datetime.timedelta(seconds=1))
        newer = adt_a31_queue(patient=patient)
        unrelated = adt_a31_queue(patient=other)
        outbound_send_due()  # the PAS is down: the older one waits for its retry
        newer.refresh_from_db()
        unrelated.refresh_from_db()
        assert newer.attempts == 0  # not sent before the older one
        assert unrelated.attempts == 1  # another patient's message is not held up
        with running_pas(ack_code="AA") as pas:
            _point_at(settings, pas.port)
            traveller.shift(datetime.timedelta(minutes=2))
            assert outbound_send_due().sent == 3
            received = pas.wait_for_messages(3)
    control_ids = [parse_message(raw).header.control_id for raw in received]
    assert control_ids.index(older.control_id) < control_ids.index(newer.control_id)


def test_a_message_left_sending_by_a_stopped_worker_is_queued_again():
    message = adt_a31_queue(patient=PatientFactory())
    OutboundMessage.objects.filter(pk=message.pk).update(status=OutboundStatus.SENDING, claimed_at=T0)
    assert outbound_release_stale_claims(now=T0 + datetime.timedelta(minutes=11)) == 1
    message.refresh_from_db()
    assert message.status == OutboundStatus.QUEUED


# The staff page ------------------------------------------------------------------------------------------------


def test_the_staff_page_says_when_no_endpoint_is_configured(settings, operator_client):
    settings.HL7_OUTBOUND_PAS_HOST = ""
    adt_a31_queue(patient=PatientFactory())
    page = re.sub(r"\s+", " ", operator_client.get(reverse("hl7:outbound")).content.decode())
    assert "No PAS endpoint is configured" in page
    assert "1 waiting to be sent, 0 failed" in page
    home = re.sub(r"\s+", " ", operator_client.get(reverse("staff:home")).content.decode())
    assert "Messages sent to the PAS</a>: 0 failed, 1 waiting" in home


def test_retry_now_sends_a_failed_message_again_and_is_audited(
    settings, operator_client, django_capture_on_commit_callbacks
):
    patient = PatientFactory()
    message = adt_a31_queue(patient=patient)
    OutboundMessage.objects.filter(pk=message.pk).update(status=OutboundStatus.FAILED, last_error="connection refused")
    with running_pas(ack_code="AA") as pas:
        _point_at(settings, pas.port)
        with django_capture_on_commit_callbacks(execute=True):
            response = operator_client.post(reverse("hl7:outbound-retry", kwargs={"message_id": message.public_id}))
        assert response.status_code == 302
        pas.wait_for_messages(1)
    message.refresh_from_db()
    assert message.status == OutboundStatus.SENT
    assert AccessEvent.objects.filter(patient=patient, action=AccessAction.UPDATE).exists()


def test_an_older_message_is_not_retried_over_a_newer_one_that_was_sent():
    patient = PatientFactory()
    with time_machine.travel(T0, tick=False) as traveller:
        older = adt_a31_queue(patient=patient)
        traveller.shift(datetime.timedelta(minutes=1))
        newer = adt_a31_queue(patient=patient)
    OutboundMessage.objects.filter(pk=older.pk).update(status=OutboundStatus.FAILED)
    OutboundMessage.objects.filter(pk=newer.pk).update(status=OutboundStatus.SENT)
    with pytest.raises(ValueError, match="newer update"):
        outbound_retry_now(message=older)


@pytest.mark.parametrize("who", ["clinician_client", "helpdesk_client", "patient_client", "proxy_client"])
def test_without_the_permission_the_outbound_pages_are_404(request, who):
    client = request.getfixturevalue(who)
    message = adt_a31_queue(patient=PatientFactory())
    assert client.get(reverse("hl7:outbound")).status_code == 404
    assert client.post(reverse("hl7:outbound-retry", kwargs={"message_id": message.public_id})).status_code == 404


def test_the_list_takes_the_same_queries_for_one_or_many_rows(operator_client, django_assert_max_num_queries):
    adt_a31_queue(patient=PatientFactory())
    with django_assert_max_num_queries(25) as one:
        operator_client.get(reverse("hl7:outbound"))
    for _ in range(20):
        adt_a31_queue(patient=PatientFactory())
    with django_assert_max_num_queries(len(one.captured_queries)):
        operator_client.get(reverse("hl7:outbound"))


def _listed(response) -> list[str]:
    """The control ids a page of the messages sent lists, in its order."""
    html = response.content.decode()
    control_ids = OutboundMessage.objects.values_list("control_id", flat=True)
    return sorted((cid for cid in control_ids if cid in html), key=html.index)


def _link(response, direction: str) -> str | None:
    found = re.search(rf'href="([^"]*{direction}=[^"]*)"', response.content.decode())
    return html.unescape(found.group(1)) if found else None


def _queued(count: int) -> list[OutboundMessage]:
    return [adt_a31_queue(patient=PatientFactory()) for _ in range(count)]


def test_the_list_pages_back_and_forth_from_a_message_without_counting(operator_client, monkeypatch):
    monkeypatch.setattr(outbound_views, "PAGE_SIZE", 3)
    made = [message.control_id for message in _queued(5)]
    with CaptureQueriesContext(connection) as queries:
        first = operator_client.get(reverse("hl7:outbound"))
    assert _listed(first) == made[:1:-1]  # the newest 3, newest first
    assert "Messages, newest first" in first.content.decode()
    assert _link(first, "newer") is None
    older = _link(first, "older")
    assert older is not None and older.startswith(f"{reverse('hl7:outbound')}?older=")
    # Counting the waiting and failed messages is one query; the list itself counts nothing.
    assert sum("COUNT(" in query["sql"].upper() for query in queries.captured_queries) == 1

    second = operator_client.get(older)
    assert _listed(second) == made[1::-1]
    assert "Messages made from " in second.content.decode()
    assert _link(second, "older") is None
    newer = _link(second, "newer")
    assert newer is not None
    # A message made meanwhile does not shift the pages.
    _queued(1)
    assert _listed(operator_client.get(newer)) == _listed(first)


def test_a_page_of_one_status_keeps_it_in_its_links(operator_client, monkeypatch):
    monkeypatch.setattr(outbound_views, "PAGE_SIZE", 2)
    failed = _queued(3)
    OutboundMessage.objects.filter(pk__in=[m.pk for m in failed]).update(status=OutboundStatus.FAILED)
    waiting = _queued(1)[0]
    first = operator_client.get(reverse("hl7:outbound"), {"status": "failed"})
    assert "Failed messages, newest first" in first.content.decode()
    older = _link(first, "older")
    assert older is not None and older.startswith(f"{reverse('hl7:outbound')}?status=failed&older=")
    seen = _listed(first) + _listed(operator_client.get(older))
    assert seen == [m.control_id for m in reversed(failed)]
    assert waiting.control_id not in seen


@pytest.mark.parametrize(
    "query", ["older=not-a-message", "newer=<script>", "older=0b5e2c8e-4a8f-4f1e-9d56-2f3b8c1d7e6a", "status=<b>"]
)
def test_a_broken_link_or_status_shows_the_newest_messages(operator_client, query):
    message = _queued(1)[0]
    response = operator_client.get(f"{reverse('hl7:outbound')}?{query}")
    text = response.content.decode()
    assert response.status_code == 200
    assert _listed(response) == [message.control_id]
    assert ("That page link no longer works" in text) == (not query.startswith("status"))
    assert "<script>" not in text and "<b>" not in text


def test_the_counts_read_only_the_waiting_and_failed_messages():
    messages = _queued(4)
    OutboundMessage.objects.filter(pk=messages[0].pk).update(status=OutboundStatus.SENT)
    OutboundMessage.objects.filter(pk=messages[1].pk).update(status=OutboundStatus.FAILED)
    OutboundMessage.objects.filter(pk=messages[2].pk).update(status=OutboundStatus.SENDING)
    with CaptureQueriesContext(connection) as queries:
        counts = outbound_counts()
    assert (counts.waiting, counts.failed) == (2, 1)
    assert len(queries.captured_queries) == 1
    # Filtered in WHERE, which an index serves, rather than counted over every row.
    assert "WHERE" in queries.captured_queries[0]["sql"].upper().split(" FROM ", 1)[1]


def test_the_scheduler_runs_the_sender_every_minute_and_the_task_reports(settings):
    from careportal.core.schedule import schedule
    from careportal.hl7.tasks import send_outbound_messages

    schedule.autodiscover()
    job = next(job for job in schedule.jobs() if job.name == "hl7.send_outbound")
    assert job.every == datetime.timedelta(minutes=1)
    with running_pas(ack_code="AA") as pas:
        _point_at(settings, pas.port)
        adt_a31_queue(patient=PatientFactory())
        assert send_outbound_messages.call() == {"sent": 1, "retrying": 0, "failed": 0}
